/**
 * The scenario table (scenarios.ts) against every front door, each a real proxy process:
 *
 *   ext_proc        client → Envoy (envoy/envoy.yaml)           → sidecar gRPC → stand-ins (HTTPS)
 *   ext_authz       client → Envoy (envoy/envoy-ext-authz.yaml) → sidecar gRPC → stand-ins (HTTPS)
 *   nginx           client → nginx (nginx/aws-lambda.conf)      → sidecar HTTP → stand-ins (HTTPS)
 *   envoy_upstream  client → Envoy (envoy/envoy-upstream.yaml)  → sidecar HTTP → stand-ins (HTTPS)
 *
 * One sidecar (both listeners) and one set of stand-ins serve all the doors; each door's proxy
 * starts once, and the cases run one after another (they read what the stand-ins received).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkResponse,
  DOORS,
  expectationFor,
  SCENARIOS,
  send,
  sendHttp1,
  sidecarErrors,
  startPeers,
  type Door,
  type Peers,
} from './scenarios';
import {
  canConnect,
  freeEnvoyPorts,
  freePort,
  renderEnvoyConfig,
  renderEnvoyConfigText,
  REPO_ROOT,
  requireBinary,
  spawnManaged,
  startEnvoy,
  uncommentExampleBlock,
  waitReady,
  type ManagedProcess,
} from './support/processes';

const NGINX_CONF = 'nginx/aws-lambda.conf';
const ENVOY_TEMPLATES: Record<'ext_proc' | 'ext_authz', string> = {
  ext_proc: 'envoy/envoy.yaml',
  ext_authz: 'envoy/envoy-ext-authz.yaml',
};
const ENVOY_UPSTREAM_CONFIG = 'envoy/envoy-upstream.yaml';
/** The example blocks both proxies' configs carry (nginx: a location, Envoy: a route). */
const NAMED_ROUTE_EXAMPLE = 'named-route example';
const NGINX_READY_TIMEOUT_MS = 10_000;

jest.setTimeout(60_000);

interface RunningDoor {
  /** HTTP/1.1 port. */
  port: number;
  /** HTTP/2 prior-knowledge port (Envoy: the same listener, codec AUTO). */
  http2Port: number;
  proc: ManagedProcess;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// nginx

interface NginxPorts {
  listen: number;
  h2c: number;
  sidecarHttp: number;
}

/**
 * nginx/aws-lambda.conf with the test's ports, the h2c listener and the named-route example
 * enabled, wrapped in a full config whose every path is inside `dir`.
 */
function renderNginxConfig(dir: string, ports: NginxPorts, opts: { tls?: { cert: string; key: string } } = {}): string {
  let snippet = fs.readFileSync(path.join(REPO_ROOT, NGINX_CONF), 'utf8');
  const replace = (from: string | RegExp, to: string): void => {
    const found = typeof from === 'string' ? snippet.includes(from) : from.test(snippet);
    if (!found) throw new Error(`${NGINX_CONF}: expected to find ${String(from)}`);
    snippet = snippet.replace(from, to);
  };
  // Longest literal first: 10080 must not be touched by the 8080 replacement.
  replace(/\blisten 10080;/, `listen 127.0.0.1:${ports.listen};`);
  replace(/\bserver 127\.0\.0\.1:8080;/, `server 127.0.0.1:${ports.sidecarHttp};`);
  replace(/# listen 10081 http2;/, `listen 127.0.0.1:${ports.h2c} http2;`);
  snippet = uncommentExampleBlock(snippet, NAMED_ROUTE_EXAMPLE, /location|proxy_|\}/, NGINX_CONF);
  if (opts.tls !== undefined) {
    replace(/# listen 10443 ssl http2;/, 'listen 127.0.0.1:10443 ssl http2;');
    replace('# ssl_certificate     /etc/nginx/tls/server.crt;', `ssl_certificate ${opts.tls.cert};`);
    replace('# ssl_certificate_key /etc/nginx/tls/server.key;', `ssl_certificate_key ${opts.tls.key};`);
  }
  const snippetPath = path.join(dir, 'aws-lambda.conf');
  fs.writeFileSync(snippetPath, snippet);
  const temp = (name: string): string => path.join(dir, name);
  const conf = [
    // As root, workers would otherwise run as nobody and could not use the 0700 temp dir.
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${temp('client_body')};`,
    `  proxy_temp_path ${temp('proxy')};`,
    `  fastcgi_temp_path ${temp('fastcgi')};`,
    `  uwsgi_temp_path ${temp('uwsgi')};`,
    `  scgi_temp_path ${temp('scgi')};`,
    `  include ${snippetPath};`,
    '}',
    '',
  ].join('\n');
  const confPath = path.join(dir, 'nginx.conf');
  fs.writeFileSync(confPath, conf);
  return confPath;
}

function nginxGlobals(dir: string): string {
  return `daemon off; pid ${path.join(dir, 'nginx.pid')}; error_log ${path.join(dir, 'error.log')};`;
}

async function startNginxDoor(peers: Peers): Promise<RunningDoor> {
  const nginx = requireBinary('nginx', 'apt-get install nginx-light');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-nginx-'));
  const ports: NginxPorts = { listen: await freePort(), h2c: await freePort(), sidecarHttp: peers.httpPort };
  const confPath = renderNginxConfig(dir, ports);
  const proc = spawnManaged('nginx', nginx, ['-p', dir, '-c', confPath, '-g', nginxGlobals(dir)]);
  const errorLog = path.join(dir, 'error.log');
  await waitReady(proc, async () => (await canConnect(ports.listen)) && (await canConnect(ports.h2c)), {
    timeoutMs: NGINX_READY_TIMEOUT_MS,
    intervalMs: 50,
    details: () => `\n(config ${confPath})\n${fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''}`,
  });
  return {
    port: ports.listen,
    http2Port: ports.h2c,
    proc,
    stop: async () => {
      await proc.stop('SIGQUIT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startEnvoyDoor(door: 'ext_proc' | 'ext_authz', peers: Peers): Promise<RunningDoor> {
  const ports = await freeEnvoyPorts(peers.grpcPort, peers.upstream.port);
  const envoy = await startEnvoy(renderEnvoyConfig(ENVOY_TEMPLATES[door], ports), ports);
  return { port: ports.listener, http2Port: ports.listener, proc: envoy, stop: async () => void (await envoy.stop()) };
}

/** envoy/envoy-upstream.yaml with the test's ports and its named-route example enabled. */
async function startEnvoyUpstreamDoor(peers: Peers): Promise<RunningDoor> {
  const ports = await freeEnvoyPorts(0, peers.upstream.port, peers.httpPort);
  const text = uncommentExampleBlock(renderEnvoyConfigText(ENVOY_UPSTREAM_CONFIG, ports), NAMED_ROUTE_EXAMPLE, /-\s|[a-z_]+:/, ENVOY_UPSTREAM_CONFIG);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-envoy-upstream-'));
  const configPath = path.join(dir, path.basename(ENVOY_UPSTREAM_CONFIG));
  fs.writeFileSync(configPath, text);
  const envoy = await startEnvoy(configPath, ports);
  return {
    port: ports.listener,
    http2Port: ports.listener,
    proc: envoy,
    stop: async () => {
      await envoy.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startDoor(door: Door, peers: Peers): Promise<RunningDoor> {
  switch (door) {
    case 'nginx':
      return startNginxDoor(peers);
    case 'envoy_upstream':
      return startEnvoyUpstreamDoor(peers);
    default:
      return startEnvoyDoor(door, peers);
  }
}

// ---------------------------------------------------------------------------------------------

let peers: Peers | undefined;

beforeAll(async () => {
  peers = await startPeers();
});

afterAll(async () => {
  await peers?.close();
});

describe(NGINX_CONF, () => {
  it.each([
    ['as shipped (test ports, h2c and named-route example enabled)', false],
    ['with the commented HTTPS listener enabled', true],
  ])('nginx -t accepts it %s', (_title, withTls) => {
    const nginx = requireBinary('nginx', 'apt-get install nginx-light');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-nginx-t-'));
    try {
      const tls = withTls ? { cert: path.join(peers!.tls.dir, 'leaf.crt'), key: path.join(peers!.tls.dir, 'leaf.key') } : undefined;
      const confPath = renderNginxConfig(dir, { listen: 10080, h2c: 10081, sidecarHttp: 8080 }, { tls });
      const result = spawnSync(nginx, ['-t', '-p', dir, '-c', confPath, '-g', nginxGlobals(dir).replace('daemon off; ', '')], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      const output = `${result.stdout}${result.stderr}`;
      expect(output).toContain('test is successful');
      expect(output).not.toContain('[warn]');
      expect(result.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(DOORS)('%s door', (door) => {
  let front: RunningDoor | undefined;

  beforeAll(async () => {
    front = await startDoor(door, peers!);
  });

  afterAll(async () => {
    await front?.stop();
  });

  for (const scenario of SCENARIOS.filter((s) => (s.doors ?? DOORS).includes(door))) {
    const { expect: want, reason } = expectationFor(scenario, door);
    let title = scenario.name;
    if (reason !== undefined) title += ` [differs: ${reason.split(/[:(]/)[0].trim()}]`;
    it(title, async () => {
      expect(front).toBeDefined();
      peers!.resetReceived();
      const res = await send(front!.port, scenario.request, front!.http2Port);
      try {
        checkResponse(res, want, peers!.received());
      } catch (err) {
        // The proxy's own log tells why when the answer is not the sidecar's.
        (err as Error).message += `\n--- ${door} output (tail) ---\n${front!.proc.output().slice(-3000)}`;
        throw err;
      }
    });
  }
});

describe('sidecar', () => {
  it('answers /healthz on its HTTP listener directly', async () => {
    const res = await sendHttp1(peers!.httpPort, { method: 'GET', path: '/healthz' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({ status: 'ok' });
  });

  it('is still running and logged nothing at error level during all doors', () => {
    expect(sidecarErrors(peers!.sidecar)).toEqual([]);
    expect(() => process.kill(peers!.sidecar.pid, 0)).not.toThrow();
  });
});

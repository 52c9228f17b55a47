/**
 * The scenario table (scenarios.ts) against every front door, each a real proxy process:
 *
 *   ext_proc   client → Envoy (envoy/envoy.yaml)           → sidecar gRPC → stand-ins (HTTPS)
 *   ext_authz  client → Envoy (envoy/envoy-ext-authz.yaml) → sidecar gRPC → stand-ins (HTTPS)
 *   nginx      client → nginx (nginx/aws-lambda.conf)      → sidecar HTTP → stand-ins (HTTPS)
 *
 * One sidecar (both listeners) and one set of stand-ins serve all three doors; each door's proxy
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
  REPO_ROOT,
  requireBinary,
  spawnManaged,
  startEnvoy,
  waitReady,
  type ManagedProcess,
} from './support/processes';

const NGINX_CONF = 'nginx/aws-lambda.conf';
const ENVOY_TEMPLATES: Record<Exclude<Door, 'nginx'>, string> = {
  ext_proc: 'envoy/envoy.yaml',
  ext_authz: 'envoy/envoy-ext-authz.yaml',
};
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

const NAMED_ROUTE_BLOCK = /# --- BEGIN named-route example -+\n([\s\S]*?)# --- END named-route example/;

/**
 * nginx/aws-lambda.conf with the test's ports, the h2c listener and the named-route example
 * enabled, wrapped in a full config whose every path is inside `dir`.
 */
function renderNginxConfig(dir: string, ports: NginxPorts, opts: { tls?: { cert: string; key: string } } = {}): string {
  let snippet = fs.readFileSync(path.join(REPO_ROOT, NGINX_CONF), 'utf8');
  const replace = (from: string | RegExp, to: string | ((m: string, ...g: string[]) => string)): void => {
    const found = typeof from === 'string' ? snippet.includes(from) : from.test(snippet);
    if (!found) throw new Error(`${NGINX_CONF}: expected to find ${String(from)}`);
    snippet = snippet.replace(from, to as string);
  };
  // Longest literal first: 10080 must not be touched by the 8080 replacement.
  replace(/\blisten 10080;/, `listen 127.0.0.1:${ports.listen};`);
  replace(/\bserver 127\.0\.0\.1:8080;/, `server 127.0.0.1:${ports.sidecarHttp};`);
  replace(/# listen 10081 http2;/, `listen 127.0.0.1:${ports.h2c} http2;`);
  replace(NAMED_ROUTE_BLOCK, (block) => block.replace(/^(\s*)# (?=\s*(location|proxy_|\}))/gm, '$1'));
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

async function startEnvoyDoor(door: Exclude<Door, 'nginx'>, peers: Peers): Promise<RunningDoor> {
  const ports = await freeEnvoyPorts(peers.grpcPort, peers.upstream.port);
  const envoy = await startEnvoy(renderEnvoyConfig(ENVOY_TEMPLATES[door], ports), ports);
  return { port: ports.listener, http2Port: ports.listener, proc: envoy, stop: async () => void (await envoy.stop()) };
}

function startDoor(door: Door, peers: Peers): Promise<RunningDoor> {
  return door === 'nginx' ? startNginxDoor(peers) : startEnvoyDoor(door, peers);
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

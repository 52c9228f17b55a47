/**
 * Metrics and the access log of a real sidecar process (README "Observability"): requests through
 * the HTTP front and through Envoy (ext_proc, ext_authz), then a scrape of GET /metrics, parsed,
 * with exact counts and labels, and the access log file read line by line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sendHttp1, startEnvoyDoors, startPeers, type Peers } from './scenarios';
import { startSidecar, waitFor, type EnvoyProcess } from './support/processes';

jest.setTimeout(60_000);

const WAIT_MS = 5_000;

let peers: Peers | undefined;
let accessLogPath = '';
const envoys: Partial<Record<'ext_proc' | 'ext_authz', EnvoyProcess>> = {};

beforeAll(async () => {
  accessLogPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-access-log-')), 'access.log');
  peers = await startPeers({ sidecarArgs: ['--access-log', accessLogPath] });
  await startEnvoyDoors(peers, envoys);
});

afterAll(async () => {
  await Promise.all(Object.values(envoys).map((e) => e?.stop()));
  await peers?.close();
});

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The Prometheus text exposition format 0.0.4, samples only (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${peers!.httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function accessLines(): Array<Record<string, unknown>> {
  return fs.readFileSync(accessLogPath, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

it('counts each request by door, route, status and code; times the sidecar and the function apart; and writes one access line per request', async () => {
  const http = peers!.httpPort;
  const first = await sendHttp1(http, { method: 'GET', path: '/aws?name=Metrics', headers: { 'x-request-id': 'req-http-1' } });
  expect(first.status).toBe(200);
  expect((await sendHttp1(http, { method: 'POST', path: '/aws?secret=1', body: Buffer.from('{"a":1}'), headers: { 'content-type': 'application/json' } })).status).toBe(200);
  expect((await sendHttp1(http, { method: 'GET', path: '/refused' })).status).toBe(502);
  expect((await sendHttp1(http, { method: 'GET', path: '/no/such/route' })).status).toBe(404);
  // A route name the table does not hold must not become a label.
  expect((await sendHttp1(http, { method: 'GET', path: '/aws', headers: { 'x-lambda-route': 'made-up-name' } })).status).toBe(404);
  expect((await sendHttp1(envoys.ext_proc!.listenerPort, { method: 'GET', path: '/aws?name=Envoy' })).status).toBe(200);
  expect((await sendHttp1(envoys.ext_proc!.listenerPort, { method: 'GET', path: '/refused' })).status).toBe(502);
  expect((await sendHttp1(envoys.ext_authz!.listenerPort, { method: 'GET', path: '/aws?name=Authz' })).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${http}/healthz`)).status).toBe(200);

  await waitFor('8 access log lines', () => fs.existsSync(accessLogPath) && accessLines().length >= 8, WAIT_MS);
  const samples = await scrape();
  const requests = samples.filter((s) => s.name === 'aws_lambda_sidecar_requests_total');
  expect(requests.map((s) => ({ ...s.labels, n: s.value })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
    { door: 'ext_authz', route: '1', status: '200', code: 'none', n: 1 },
    { door: 'ext_proc', route: '1', status: '200', code: 'none', n: 1 },
    { door: 'ext_proc', route: 'refused', status: '502', code: 'ERR_UPSTREAM_CONNECT', n: 1 },
    { door: 'http', route: '1', status: '200', code: 'none', n: 2 },
    { door: 'http', route: 'none', status: '404', code: 'ERR_ROUTE_NOT_FOUND', n: 1 },
    { door: 'http', route: 'none', status: '404', code: 'none', n: 1 },
    { door: 'http', route: 'refused', status: '502', code: 'ERR_UPSTREAM_CONNECT', n: 1 },
  ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
  expect(value(samples, 'aws_lambda_sidecar_request_duration_seconds_count', { door: 'http', route: '1' })).toBe(2);
  expect(value(samples, 'aws_lambda_sidecar_function_duration_seconds_count', { route: '1', code: 'none' })).toBe(4);
  expect(value(samples, 'aws_lambda_sidecar_function_duration_seconds_count', { route: 'refused', code: 'ERR_UPSTREAM_CONNECT' })).toBe(2);
  const total = value(samples, 'aws_lambda_sidecar_request_duration_seconds_sum', { door: 'http', route: '1' }) as number;
  const fnSum = value(samples, 'aws_lambda_sidecar_function_duration_seconds_sum', { route: '1', code: 'none' }) as number;
  expect(total).toBeGreaterThan(0);
  expect(fnSum).toBeGreaterThan(0);
  expect(value(samples, 'aws_lambda_sidecar_inflight_requests', {})).toBe(0);
  expect(value(samples, 'aws_lambda_sidecar_routes_loaded', {})).toBe(9);
  const reloadedAt = value(samples, 'aws_lambda_sidecar_routes_last_reload_timestamp_seconds', {}) as number;
  expect(Math.abs(reloadedAt - Date.now() / 1000)).toBeLessThan(120);
  expect(value(samples, 'aws_lambda_sidecar_pool_connected', { origin: peers!.apiKeyStandIn.url })).toBeGreaterThanOrEqual(1);
  expect(value(samples, 'aws_lambda_sidecar_pool_running', { origin: peers!.apiKeyStandIn.url })).toBe(0);
  expect(value(samples, 'aws_lambda_sidecar_access_log_dropped_lines_total', {})).toBe(0);
  expect(value(samples, 'aws_lambda_sidecar_process_cpu_seconds_total', {})).toBeGreaterThan(0);
  expect(samples.some((s) => s.name === 'aws_lambda_sidecar_route_store_connected')).toBe(false); // file store
  // No path anywhere in the labels.
  expect(samples.flatMap((s) => Object.values(s.labels)).filter((v) => v.startsWith('/'))).toEqual([]);

  const lines = accessLines();
  expect(lines).toHaveLength(8);
  expect(lines[0]).toEqual({
    time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), requestId: 'req-http-1', door: 'http', route: '1', method: 'GET', path: '/aws',
    status: 200, durationMs: expect.any(Number), functionMs: expect.any(Number), requestBytes: 0, responseBytes: first.body.length,
  });
  expect(lines[0].functionMs as number).toBeLessThanOrEqual(lines[0].durationMs as number);
  expect(lines[1]).toEqual(expect.objectContaining({ method: 'POST', path: '/aws', requestBytes: 7, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) }));
  expect(lines[2]).toEqual(expect.objectContaining({ route: 'refused', status: 502, code: 'ERR_UPSTREAM_CONNECT' }));
  expect(lines[3]).toEqual(expect.objectContaining({ path: '/no/such/route', status: 404 }));
  expect(lines[3]).not.toHaveProperty('route');
  expect(lines.slice(5).map((l) => [l.door, l.route, l.status, l.path])).toEqual([['ext_proc', '1', 200, '/aws'], ['ext_proc', 'refused', 502, '/refused'], ['ext_authz', '1', 200, '/aws']]);
  expect(fs.readFileSync(accessLogPath, 'utf8')).not.toMatch(/secret|name=|content-type|application\/json/);
});

it('--access-log stdout: the lines go to stdout beside the logs, through the same writer (whole lines)', async () => {
  const sidecar = await startSidecar(
    ['--config', peers!.routesPath, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--access-log', 'stdout', '--metrics', 'off'],
    { name: 'sidecar-access-stdout', env: { NODE_EXTRA_CA_CERTS: peers!.tls.caCertPath } },
  );
  try {
    const port = Number(sidecar.httpAddress?.split(':').pop());
    expect((await sendHttp1(port, { method: 'GET', path: '/aws?name=Stdout', headers: { 'x-request-id': 'req-stdout' } })).status).toBe(200);
    // --metrics off: /metrics is an ordinary path again (no route takes it).
    expect((await sendHttp1(port, { method: 'GET', path: '/metrics' })).status).toBe(404);
    await waitFor('the access lines', () => sidecar.logLines().filter((l) => l.door === 'http').length >= 2, WAIT_MS);
    const access = sidecar.logLines().filter((l) => l.door === 'http' && l.msg === undefined);
    expect(access.map((l) => [l.requestId, l.route, l.path, l.status])).toEqual([['req-stdout', '1', '/aws', 200], [expect.any(String), undefined, '/metrics', 404]]);
  } finally {
    await sidecar.stop();
  }
});

/**
 * Many routes under the heap the CLI runs with (its shebang's V8 flags, passed by startSidecar):
 * a big start, then hot reloads past the limits. The sidecar must stay alive and keep serving.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSidecar, waitFor, type SidecarProcess } from './support/processes';

const START_ROUTES = 8_000;
const MAX_ROUTES = 9_000;
/** Far above the routes file byte limit (2 MiB): about 8 MB; main ran out of heap reloading it. */
const HUGE_ROUTES = 40_000;
const RELOAD_TIMEOUT_MS = 20_000;

function routesYaml(count: number, prefix: string, fnUrl: string): string {
  const lines = ['routes:'];
  for (let i = 0; i < count; i++) {
    lines.push(`  - id: "${prefix}${i}"`, `    uri: /${prefix}/r${i}`, '    methods: [GET, POST]', '    plugins:', '      aws-lambda:',
      `        function_uri: "${fnUrl}/fn/${prefix}"`, '        authorization: { apikey: "k-0123456789abcdef" }');
  }
  return `${lines.join('\n')}\n`;
}

function get(address: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(`http://${address}${urlPath}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('many routes in the 256 MB heap', () => {
  let fn: http.Server;
  let fnUrl: string;
  let sidecar: SidecarProcess | undefined;
  let dir: string;

  beforeAll(async () => {
    fn = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`fn:${req.url}`));
    });
    await new Promise<void>((resolve) => fn.listen(0, '127.0.0.1', resolve));
    fnUrl = `http://127.0.0.1:${(fn.address() as AddressInfo).port}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-scale-'));
  });

  afterAll(async () => {
    await sidecar?.stop();
    await new Promise<void>((resolve) => fn.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const refusals = (): Array<Record<string, unknown>> => (sidecar as SidecarProcess).logLines().filter((l) => String(l.msg).includes('refused, keeping the last good routes'));

  it('starts with 8,000 routes, refuses reloads past the size and count limits with one log line each, keeps serving, then takes a good reload', async () => {
    const file = path.join(dir, 'routes.yaml');
    fs.writeFileSync(file, routesYaml(START_ROUTES, 'a', fnUrl));
    sidecar = await startSidecar(['--config', file, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--max-routes', String(MAX_ROUTES)], { readyTimeoutMs: 30_000 });
    const address = sidecar.httpAddress as string;
    expect(await get(address, `/a/r${START_ROUTES - 1}`)).toEqual({ status: 200, body: 'fn:/fn/a' });

    // 40,000 routes (~8 MB): refused before parsing.
    fs.writeFileSync(file, routesYaml(HUGE_ROUTES, 'b', fnUrl));
    await waitFor('the size refusal (or an exit)', () => refusals().length === 1 || !sidecar?.running(), RELOAD_TIMEOUT_MS, 50);
    expect(sidecar.running()).toBe(true);
    expect(String(refusals()[0].msg)).toMatch(/above the routes file limit of 2097152 bytes/);
    expect(await get(address, `/a/r${START_ROUTES - 1}`)).toEqual({ status: 200, body: 'fn:/fn/a' });
    expect((await get(address, '/b/r0')).status).toBe(404);

    // 9,500 routes: within the byte limit, above --max-routes.
    fs.writeFileSync(file, routesYaml(MAX_ROUTES + 500, 'c', fnUrl));
    await waitFor('the count refusal', () => refusals().length === 2, RELOAD_TIMEOUT_MS, 50);
    expect(String(refusals()[1].msg)).toMatch(/9500 routes is above the limit of 9000 \(--max-routes\)/);
    expect(await get(address, '/a/r0')).toEqual({ status: 200, body: 'fn:/fn/a' });

    // A good reload still applies.
    fs.writeFileSync(file, routesYaml(MAX_ROUTES, 'd', fnUrl));
    await waitFor('the new routes', () => get(address, `/d/r${MAX_ROUTES - 1}`).then((a) => a.status === 200), RELOAD_TIMEOUT_MS, 100);
    expect((await get(address, '/a/r0')).status).toBe(404);
    expect(sidecar.running()).toBe(true);
  }, 90_000);
});

/**
 * Routes changing at runtime, end to end: a real Envoy (envoy/envoy.yaml) in front of the real
 * sidecar process (dist/cli.js), API-Gateway stand-ins and Envoy's own default upstream.
 *
 * - file store: edits under continuous load lose no request and apply within 1 s; a broken edit
 *   keeps the old routes serving and is logged;
 * - Admin API: APISIX's documented curl commands, verbatim but for the port, the function_uri
 *   origin (the stand-in) and the API key (the stand-in's), drive routes served through Envoy,
 *   and a route written through the Admin API survives a restart;
 * - the Admin API refuses to start on a non-loopback address without a key.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { generateTlsMaterial } from '../../demo/tls';
import { startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import {
  freeEnvoyPorts,
  freePort,
  REPO_ROOT,
  renderEnvoyConfig,
  requireBinary,
  sleep,
  spawnManaged,
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
import { SEED_PUT_APIKEY, SEED_PUT_DISABLE_PLUGIN, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING } from '../support/seed-routes';

const execFileAsync = promisify(execFile);

const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1';
const KEY_A = 'stand-in-key-a';
const KEY_B = 'stand-in-key-b';
const LOAD_CONCURRENCY = 20;
const LOAD_DURATION_MS = 3000;
const RELOAD_DEADLINE_MS = 1000;

/** The documentation's function origins: the only part of function_uri we replace (by the stand-in's). */
const DOC_ORIGIN_APIKEY = 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com';
const DOC_ORIGIN_IAM = 'https://ajycz5e0v9.execute-api.us-east-1.amazonaws.com';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function lambdaRoutesYaml(routes: Array<{ id: string; uri: string; standIn: StandIn; key: string; timeout?: number }>): string {
  const lines = ['routes:'];
  for (const r of routes) {
    lines.push(
      `  - id: "${r.id}"`,
      `    uri: ${r.uri}`,
      '    plugins:',
      '      aws-lambda:',
      `        function_uri: ${r.standIn.url}/default/test-apisix`,
      '        authorization:',
      `          apikey: ${r.key}`,
    );
    if (r.timeout !== undefined) lines.push(`        timeout: ${r.timeout}`);
  }
  return `${lines.join('\n')}\n`;
}

/** curl, as a user types it; resolves with stdout (curl exits 0 for any HTTP status). */
async function curl(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('curl', args, { timeout: 15_000 });
  return stdout;
}

/** Parses `curl -i` output: status line, headers (lower-cased names), body. */
function parseCurlI(out: string): { statusLine: string; headers: Record<string, string>; body: string } {
  const at = out.indexOf('\r\n\r\n');
  const head = at === -1 ? out : out.slice(0, at);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, headers, body: at === -1 ? '' : out.slice(at + 4) };
}

type Counters = Map<string, number>;

const CONNECTION_COUNTERS = /^(cluster\.lambda_sidecar\.(upstream_cx_total|upstream_cx_close_notify|http2\.tx_reset|upstream_rq_5xx)|http\.ingress_http\.ext_proc\.(streams_started|streams_failed)): (\d+)$/;

async function connectionCounters(envoy: EnvoyProcess): Promise<Counters> {
  const counters: Counters = new Map();
  for (const line of (await envoy.stats()).split('\n')) {
    const m = CONNECTION_COUNTERS.exec(line);
    if (m !== null) counters.set(m[1], Number(m[4]));
  }
  counters.set('refused by GOAWAY', envoy.output().split('\n').filter((l) => l.includes('remote refused stream reset')).length);
  return counters;
}

/**
 * What Envoy saw on its HTTP/2 connection(s) to the sidecar since `since`, for failure messages:
 * a 500 with an empty body under load is Envoy failing closed because the connection carrying the
 * ext_proc stream went away (see the sustained-load test). `goaways`: connections the sidecar
 * closed with GOAWAY (upstream_cx_close_notify).
 */
async function sidecarConnectionReport(envoy: EnvoyProcess, failed: number, since: Counters): Promise<{ text: string; goaways: number }> {
  const now = await connectionCounters(envoy);
  const delta = (name: string): number => (now.get(name) ?? 0) - (since.get(name) ?? 0);
  const deltas = [...now.keys()].map((name) => `${name} +${delta(name)}`);
  return { text: `${failed} request(s) failed; Envoy → sidecar: ${deltas.join(', ')}`, goaways: delta('cluster.lambda_sidecar.upstream_cx_close_notify') };
}

function logMessages(sidecar: SidecarProcess): string[] {
  return sidecar.logLines().map((l) => String(l.msg));
}

describe('routes at runtime through Envoy', () => {
  let upstream: PlainUpstream | undefined;
  let envoy: EnvoyProcess | undefined;
  let sidecar: SidecarProcess | undefined;
  let standInA: StandIn | undefined;
  let standInB: StandIn | undefined;
  let ports: EnvoyPorts;
  let pool: Pool;

  const get = async (urlPath: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await pool.request({ method: 'GET', path: urlPath, headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  const sidecarArgs = (file: string, extra: string[] = []): string[] => [
    '--config', file,
    '--grpc-listen', `127.0.0.1:${ports.sidecarGrpc}`,
    '--http-listen', '127.0.0.1:0',
    '--drain-timeout-ms', '2000',
    ...extra,
  ];

  /** Waits until Envoy gets answers from the (new) sidecar: /aws answered by a function. */
  const waitServing = (name: string): Promise<unknown> =>
    waitFor(`Envoy to serve /aws through the sidecar`, async () => {
      const res = await get(`/aws?name=${name}`);
      return res.status === 200 && res.body === `"Hello, ${name}!"` ? res : undefined;
    }, 10_000, 50);

  beforeAll(async () => {
    requireBinary('envoy');
    upstream = await startPlainUpstream();
    ports = await freeEnvoyPorts(await freePort(), upstream.port);
    standInA = await startStandIn({ apiKey: KEY_A });
    standInB = await startStandIn({ apiKey: KEY_B });
    envoy = await startEnvoy(renderEnvoyConfig('envoy/envoy.yaml', ports), ports);
    pool = new Pool(`http://127.0.0.1:${ports.listener}`, { connections: LOAD_CONCURRENCY + 2 });
  }, 40_000);

  afterEach(async () => {
    await stopAll(sidecar);
    sidecar = undefined;
  });

  afterAll(async () => {
    await pool?.close();
    await stopAll(sidecar, envoy);
    await Promise.all([upstream?.close(), standInA?.close(), standInB?.close()]);
  });

  describe('file store', () => {
    // Envoy resets every ext_proc stream once it has the ImmediateResponse (tx_reset = requests,
    // envoyproxy/envoy#22727), and the sidecar's HTTP/2 server (nghttp2 in Node) answers more
    // than 1000 RST_STREAMs (+33/s) on one connection with GOAWAY (the CVE-2023-44487 limit):
    // Envoy then fails the requests in flight on that connection with 500. Envoy (concurrency 1)
    // carries all ext_proc streams on one connection, so 2000 requests cross the limit for sure.
    it('loses no request under sustained load with no route change (2000 requests, more than 1000 ext_proc streams on one connection)', async () => {
      const dir = tempDir('routes-runtime-steady-');
      const file = path.join(dir, 'routes.yaml');
      fs.writeFileSync(file, lambdaRoutesYaml([{ id: '1', uri: '/aws', standIn: standInA!, key: KEY_A }]));
      sidecar = await startSidecar(sidecarArgs(file));
      await waitServing('warmup');
      const total = 2000;
      let next = 0;
      const failures: string[] = [];
      const baseline = await connectionCounters(envoy!);
      const started = Date.now();
      await Promise.all(
        Array.from({ length: LOAD_CONCURRENCY }, async () => {
          while (next < total) {
            const name = `s${next++}`;
            try {
              const res = await get(`/aws?name=${name}`);
              if (res.status !== 200 || res.body !== `"Hello, ${name}!"`) failures.push(`${res.status} ${res.body.slice(0, 100)}`);
            } catch (err) {
              failures.push((err as Error).message);
            }
          }
        }),
      );
      const elapsedMs = Date.now() - started;
      const report = await sidecarConnectionReport(envoy!, failures.length, baseline);
      console.log(`sustained load: ${total} requests in ${elapsedMs} ms (${LOAD_CONCURRENCY} concurrent): ${report.text}`);
      // A GOAWAY from the sidecar fails whatever is in flight at that moment: some runs are lucky,
      // so the GOAWAY itself is the defect asserted on, besides the failed requests.
      expect({ failures: failures.slice(0, 5), goawaysFromSidecar: report.goaways, report: report.text }).toEqual({
        failures: [],
        goawaysFromSidecar: 0,
        report: expect.stringMatching(/^0 request/) as unknown,
      });
      fs.rmSync(dir, { recursive: true, force: true });
    }, 40_000);

    it('applies edits under continuous load without failing a request; a new route answers within 1 s', async () => {
      const dir = tempDir('routes-runtime-file-');
      const file = path.join(dir, 'routes.yaml');
      const a = standInA!;
      const b = standInB!;
      fs.writeFileSync(file, lambdaRoutesYaml([{ id: '1', uri: '/aws', standIn: a, key: KEY_A }]));
      sidecar = await startSidecar(sidecarArgs(file));
      await waitServing('warmup');
      const before2 = await get('/aws2?name=x');
      expect(before2.headers['x-served-by']).toBe('default-upstream');

      const failures: string[] = [];
      let sent = 0;
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        for (let n = 0; !stop; n++) {
          const name = `w${w}-${n}`;
          // One request in five on /aws2: the default upstream before the edit, the function after.
          const urlPath = n % 5 === 4 ? `/aws2?name=${name}` : `/aws?name=${name}`;
          sent++;
          try {
            const res = await get(urlPath);
            const byFunction = res.body === `"Hello, ${name}!"`;
            const byDefault = urlPath.startsWith('/aws2') && res.headers['x-served-by'] === 'default-upstream';
            if (res.status !== 200 || !(byFunction || byDefault)) failures.push(`${urlPath} → ${res.status} ${res.body.slice(0, 200)}`);
          } catch (err) {
            failures.push(`${urlPath} → ${(err as Error).message}`);
          }
        }
      };
      const baseline = await connectionCounters(envoy!);
      const loadStarted = Date.now();
      const load = Promise.all(Array.from({ length: LOAD_CONCURRENCY }, (_, w) => worker(w)));

      await sleep(1000);
      // The edit: a new route /aws2, and /aws moved to another function (with its own key: an
      // old uri with the new key, or the reverse, would be refused with 403 and counted).
      const writtenAt = Date.now();
      fs.writeFileSync(
        file,
        lambdaRoutesYaml([
          { id: '1', uri: '/aws', standIn: b, key: KEY_B },
          { id: '2', uri: '/aws2', standIn: a, key: KEY_A },
        ]),
      );
      const { elapsedMs: newRouteMs } = await waitFor('the new route /aws2 to answer', async () => {
        const res = await get('/aws2?name=probe');
        return res.status === 200 && res.body === '"Hello, probe!"' ? res : undefined;
      }, RELOAD_DEADLINE_MS + 2000, 5);
      const probeMs = Date.now() - writtenAt;

      const remaining = LOAD_DURATION_MS - (Date.now() - loadStarted);
      if (remaining > 0) await sleep(remaining);
      stop = true;
      await load;

      const report = await sidecarConnectionReport(envoy!, failures.length, baseline);
      const updated = sidecar.logLines().find((l) => l.msg === 'routes updated');
      const reloadLogMs = updated === undefined ? NaN : Number(updated.time) - writtenAt;
      console.log(
        `file store under load: ${sent} requests in ${LOAD_DURATION_MS} ms (${LOAD_CONCURRENCY} concurrent): ${report.text}; ` +
          `new route answered ${probeMs} ms after the write (poll loop ${newRouteMs} ms); sidecar logged "routes updated" ${reloadLogMs} ms after it`,
      );

      expect(probeMs).toBeLessThan(RELOAD_DEADLINE_MS);
      // /aws now goes to stand-in B.
      const res = await get('/aws?name=after-edit');
      expect(res.body).toBe('"Hello, after-edit!"');
      expect(b.received.some((r) => r.rawQuery === 'name=after-edit')).toBe(true);
      expect(a.received.some((r) => r.rawQuery === 'name=after-edit')).toBe(false);
      expect(sent).toBeGreaterThan(100);
      expect({ failures: failures.slice(0, 10), report: report.text }).toEqual({ failures: [], report: expect.stringMatching(/^0 request/) as unknown });
      fs.rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it('a broken edit keeps the old routes serving, and the sidecar says why (route id and field)', async () => {
      const dir = tempDir('routes-runtime-broken-');
      const file = path.join(dir, 'routes.yaml');
      const a = standInA!;
      const good = [
        { id: '1', uri: '/aws', standIn: a, key: KEY_A },
        { id: '2', uri: '/aws2', standIn: a, key: KEY_A },
      ];
      fs.writeFileSync(file, lambdaRoutesYaml(good));
      sidecar = await startSidecar(sidecarArgs(file));
      await waitServing('warmup');
      await sleep(300); // let the store's first stat poll see the original file

      fs.writeFileSync(file, lambdaRoutesYaml([good[0], { ...good[1], uri: '/aws2-new', timeout: 50 }]));
      const s = sidecar;
      const refusal = (): Record<string, unknown>[] =>
        s.logLines().filter((l) => String(l.msg).includes('route "2"') && String(l.msg).includes('plugins.aws-lambda.timeout'));
      await waitFor('the refusal log line', () => refusal().length > 0, 2000, 10);

      // Keep sending for a while: the old routes serve, the half-made change never does.
      const failures: string[] = [];
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all(['/aws', '/aws2', '/aws2-new'].map((p) => get(`${p}?name=r${round}`)));
        if (answers[0].body !== `"Hello, r${round}!"`) failures.push(`/aws → ${answers[0].status} ${answers[0].body}`);
        if (answers[1].body !== `"Hello, r${round}!"`) failures.push(`/aws2 → ${answers[1].status} ${answers[1].body}`);
        if (answers[2].headers['x-served-by'] !== 'default-upstream') failures.push(`/aws2-new → ${answers[2].status} ${answers[2].body}`);
        await sleep(100);
      }
      expect(failures).toEqual([]);
      const lines = refusal();
      expect(lines).toHaveLength(1);
      expect(lines[0].level).toBe(50);
      expect(String(lines[0].msg)).toContain('must be >= 100');
      expect(logMessages(sidecar).filter((m) => m === 'routes updated')).toEqual([]);
      fs.rmSync(dir, { recursive: true, force: true });
    }, 30_000);
  });

  describe('Admin API with the APISIX documentation commands', () => {
    let tlsStandIn: StandIn | undefined;
    let iamStandIn: StandIn | undefined;
    let dir: string;
    let file: string;
    let adminPort: number;
    const STAND_IN_API_KEY = 'stand-in-api-key-7b3e';

    beforeAll(async () => {
      const tls = generateTlsMaterial();
      tlsStandIn = await startStandIn({ tls: { cert: tls.cert, key: tls.key }, apiKey: STAND_IN_API_KEY });
      // The IAM example's placeholder credentials, verbatim, are what this stand-in expects.
      iamStandIn = await startStandIn({
        tls: { cert: tls.cert, key: tls.key },
        iam: { accessKeyId: '<access key>', secretAccessKey: '<access key secret>', region: 'us-east-1', service: 'execute-api' },
      });
      dir = tempDir('routes-runtime-admin-');
      file = path.join(dir, 'routes.yaml');
      fs.writeFileSync(file, '', { mode: 0o600 });
      adminPort = await freePort();
    });

    afterAll(async () => {
      await Promise.all([tlsStandIn?.close(), iamStandIn?.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const adminArgs = (): string[] => sidecarArgs(file, ['--admin-listen', `127.0.0.1:${adminPort}`, '--admin-key', ADMIN_KEY]);
    const adminUrl = (id: string): string => `http://127.0.0.1:${adminPort}/apisix/admin/routes/${id}`;
    /** `curl http://127.0.0.1:9180/apisix/admin/routes/1 -H 'X-API-KEY: ...' -X PUT -d '...'` */
    const putCommand = (body: string, key = ADMIN_KEY): string[] => [adminUrl('1'), '-H', `X-API-KEY: ${key}`, '-X', 'PUT', '-d', body];
    const apikeyBody = (): string =>
      SEED_PUT_APIKEY.replace(DOC_ORIGIN_APIKEY, tlsStandIn!.url).replace('<Generated API Key from aws console>', STAND_IN_API_KEY);

    it('runs the documented PUT commands with curl, serves the documented client calls through Envoy, and persists', async () => {
      const standIn = tlsStandIn!;
      sidecar = await startSidecar(adminArgs());
      expect(sidecar.adminAddress).toBe(`127.0.0.1:${adminPort}`);
      const envoyPort = ports.listener;
      const envoyGet = async (urlPath: string): Promise<ReturnType<typeof parseCurlI>> => parseCurlI(await curl(['-i', '-XGET', `localhost:${envoyPort}${urlPath}`]));

      // 1. API key (the example with the trailing comma).
      const put1 = JSON.parse(await curl(putCommand(apikeyBody()))) as Record<string, unknown>;
      expect(put1).toMatchObject({
        key: '/apisix/routes/1',
        value: { uri: '/aws', plugins: { 'aws-lambda': { function_uri: `${standIn.url}/default/test-apisix`, authorization: { apikey: '******' }, ssl_verify: false } } },
      });
      // A PUT resolves once the route is live on this node: no waiting.
      const h1 = await envoyGet('/aws?name=APISIX');
      expect(h1.statusLine).toMatch(/^HTTP\/1\.1 200\b/);
      expect(h1.body).toBe('"Hello, APISIX!"');
      expect(h1.headers['content-type']).toBe('application/json');
      expect(h1.headers['content-length']).toBe('16');
      expect(h1.headers['x-amz-apigw-id']).toBeDefined();
      expect(h1.headers['x-served-by']).toBeUndefined();
      const h2 = parseCurlI(await curl(['-i', '-XGET', '--http2', '--http2-prior-knowledge', `localhost:${envoyPort}/aws?name=APISIX`]));
      expect(h2.statusLine).toMatch(/^HTTP\/2 200\b/);
      expect(h2.body).toBe('"Hello, APISIX!"');
      expect(h2.headers['content-type']).toBe('application/json');
      const lastA = standIn.received[standIn.received.length - 1];
      expect(lastA.rawPath).toBe('/default/test-apisix');
      expect(lastA.headers).toContainEqual(['x-api-key', STAND_IN_API_KEY]);

      // 2. IAM: the body verbatim but for the function origin (the stand-in accepts the placeholders).
      const put2 = JSON.parse(await curl(putCommand(SEED_PUT_IAM.replace(DOC_ORIGIN_IAM, iamStandIn!.url)))) as Record<string, unknown>;
      expect(put2).toMatchObject({ key: '/apisix/routes/1', value: { plugins: { 'aws-lambda': { authorization: { iam: { accesskey: '<access key>', secret_key: '******' } } } } } });
      const iamAnswer = await envoyGet('/aws?name=APISIX');
      expect(iamAnswer.statusLine).toMatch(/ 200\b/);
      expect(iamAnswer.body).toBe('"Hello, APISIX!"');
      const signed = iamStandIn!.received[iamStandIn!.received.length - 1];
      expect(signed.headers.find(([k]) => k === 'authorization')?.[1]).toMatch(/^AWS4-HMAC-SHA256 Credential=<access key>\/\d{8}\/us-east-1\/execute-api\/aws4_request/);

      // 3. Path forwarding: `curl -i -XGET http://127.0.0.1:9080/aws/default/test-apisix\?name\=APISIX`.
      const put3 = JSON.parse(
        await curl(putCommand(SEED_PUT_PATH_FORWARDING.replace(DOC_ORIGIN_APIKEY, standIn.url).replace('<Generate API key>', STAND_IN_API_KEY))),
      ) as Record<string, unknown>;
      expect(put3).toMatchObject({ key: '/apisix/routes/1', value: { uri: '/aws/*', plugins: { 'aws-lambda': { function_uri: standIn.url } } } });
      const forwarded = parseCurlI(await curl(['-i', '-XGET', `http://127.0.0.1:${envoyPort}/aws/default/test-apisix?name=APISIX`]));
      expect(forwarded.statusLine).toMatch(/^HTTP\/1\.1 200\b/);
      expect(forwarded.body).toBe('"Hello, APISIX!"');
      expect(standIn.received[standIn.received.length - 1].rawPath).toBe('/default/test-apisix');

      // A wrong key is refused and changes nothing.
      const refused = await curl([...putCommand(apikeyBody(), 'edd1c9f034335f136f87ad84b625c8f0'), '-s', '-o', '/dev/null', '-w', '%{http_code}']);
      expect(refused).toBe('401');
      const unchanged = JSON.parse(await curl([adminUrl('1'), '-H', `X-API-KEY: ${ADMIN_KEY}`])) as { value: { uri: string } };
      expect(unchanged.value.uri).toBe('/aws/*');

      // "Disable Plugin": the route keeps its uri, Envoy's own upstream answers it.
      const put4 = JSON.parse(await curl(putCommand(SEED_PUT_DISABLE_PLUGIN))) as Record<string, unknown>;
      expect(put4).toMatchObject({ key: '/apisix/routes/1', value: { uri: '/aws', plugins: {} } });
      const disabled = await envoyGet('/aws?name=APISIX');
      expect(disabled.headers['x-served-by']).toBe('default-upstream');
      expect(disabled.body).toBe('default-upstream:GET /aws?name=APISIX');

      // Back to the function, then DELETE: /aws goes to the default upstream again.
      await curl(putCommand(apikeyBody()));
      expect((await envoyGet('/aws?name=APISIX')).body).toBe('"Hello, APISIX!"');
      const deleted = JSON.parse(await curl([adminUrl('1'), '-H', `X-API-KEY: ${ADMIN_KEY}`, '-X', 'DELETE'])) as Record<string, unknown>;
      expect(deleted).toMatchObject({ deleted: '1' });
      const afterDelete = await envoyGet('/aws?name=APISIX');
      expect(afterDelete.statusLine).toMatch(/ 200\b/);
      expect(afterDelete.headers['x-served-by']).toBe('default-upstream');

      // Written through the Admin API, then a restart with the same file: still there.
      await curl(putCommand(apikeyBody()));
      expect((await envoyGet('/aws?name=APISIX')).body).toBe('"Hello, APISIX!"');
      expect(await sidecar.stop()).toBe(0);
      expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
      sidecar = await startSidecar(adminArgs());
      await waitServing('APISIX');
      const persisted = JSON.parse(await curl([adminUrl('1'), '-H', `X-API-KEY: ${ADMIN_KEY}`])) as Record<string, unknown>;
      expect(persisted).toMatchObject({ key: '/apisix/routes/1', value: { uri: '/aws', plugins: { 'aws-lambda': { authorization: { apikey: '******' } } } } });
      const restarted = await envoyGet('/aws?name=APISIX');
      expect(restarted.statusLine).toMatch(/^HTTP\/1\.1 200\b/);
      expect(restarted.body).toBe('"Hello, APISIX!"');
    }, 45_000);
  });
});

describe('the Admin API on a non-loopback address', () => {
  it('refuses to start without --admin-key, before binding anything', async () => {
    const dir = tempDir('routes-runtime-nokey-');
    const file = path.join(dir, 'routes.yaml');
    fs.writeFileSync(file, 'routes: []\n');
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const adminPort = await freePort();
    const proc = spawnManaged('sidecar', process.execPath, [
      path.join(REPO_ROOT, 'dist', 'cli.js'),
      '--config', file,
      '--admin-listen', `0.0.0.0:${adminPort}`,
      '--grpc-listen', `127.0.0.1:${grpcPort}`,
      '--http-listen', `127.0.0.1:${httpPort}`,
    ]);
    const timer = setTimeout(() => void proc.stop('SIGKILL'), 10_000);
    const code = await proc.exited;
    clearTimeout(timer);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(proc.output()).toContain('--admin-key');
    // Nothing was started: no log line at all (routes are loaded and listeners bound after the flags are checked).
    expect(proc.output()).not.toMatch(/"msg":"(listening|routes loaded)"/);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 20_000);
});

/**
 * The APISIX-compatible Admin API over a real FileRouteStore (temp dir) and real HTTP on
 * 127.0.0.1:0. The PUT bodies are APISIX's aws-lambda documentation examples copied verbatim
 * (the first one's trailing comma included: we accept it on purpose).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { Agent, request } from 'undici';
import type { RouteConfig } from '../../../src/config/route-schema';
import { parseRoutesDocument } from '../../../src/config/routes-file';
import { FileRouteStore } from '../../../src/config/stores/file-store';
import type { RouteStore } from '../../../src/config/stores/route-store';
import { ERROR_CODES, sidecarError } from '../../../src/errors';
import { createAdminApi } from '../../../src/fronts/admin/admin-api';
import { SEED_PUT_APIKEY, SEED_PUT_DISABLE_PLUGIN, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING } from '../../support/seed-routes';

const execFileAsync = promisify(execFile);

/** The key every APISIX example sends. */
const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1';
const ROUTE_1 = '/apisix/admin/routes/1';

/** A route body built here (not from the docs). */
function lambdaRoute(uri: string, plugin: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ uri, plugins: { 'aws-lambda': { function_uri: 'https://abc.execute-api.us-east-1.amazonaws.com/default/fn', ...plugin } }, ...extra });
}

interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

interface Admin {
  url: string;
  store: RouteStore;
  file: string;
  logs: Array<Record<string, unknown>>;
  call(method: string, path: string, opts?: { body?: string; key?: string | null }): Promise<Answer>;
}

const agent = new Agent({ keepAliveTimeout: 10 });
const servers: http.Server[] = [];
const stores: RouteStore[] = [];
let root: string;
let dirCounter = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'admin-api-test-'));
});

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await agent.close();
  rmSync(root, { recursive: true, force: true });
});

/**
 * An Admin API on 127.0.0.1:0. `adminKey` undefined: no key configured. By default the client
 * sends ADMIN_KEY; `key: null` sends no X-API-KEY at all.
 */
async function startAdmin(opts: { adminKey?: string; store?: RouteStore } = { adminKey: ADMIN_KEY }): Promise<Admin> {
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const file = join(root, `routes-${dirCounter++}.yaml`);
  let store = opts.store;
  if (store === undefined) {
    writeFileSync(file, '', { mode: 0o600 });
    store = new FileRouteStore(file, log, 50);
    await store.start(() => undefined);
  }
  stores.push(store);
  const server = createAdminApi(store, log, { adminKey: opts.adminKey });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, o: { body?: string; key?: string | null } = {}): Promise<Answer> => {
    const headers: Record<string, string> = {};
    const key = o.key === undefined ? ADMIN_KEY : o.key;
    if (key !== null) headers['x-api-key'] = key;
    if (o.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'; // what curl -d sends
    const res = await request(`${url}${path}`, { method, headers, body: o.body, dispatcher: agent });
    const text = await res.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // left empty: the assertions on `text` say what came back
    }
    return { status: res.statusCode, text, json };
  };
  return { url, store, file, logs, call };
}

function storedRoute(admin: Admin, id: string): RouteConfig | undefined {
  return admin.store.routes().find((r) => r.id === id);
}

describe('Admin API: the APISIX documentation examples, verbatim', () => {
  const seeds: Array<[string, string, Record<string, unknown>]> = [
    [
      'api key (trailing comma)',
      SEED_PUT_APIKEY,
      {
        uri: '/aws',
        plugins: {
          'aws-lambda': {
            function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix',
            authorization: { apikey: '******' },
            ssl_verify: false,
          },
        },
      },
    ],
    [
      'IAM',
      SEED_PUT_IAM,
      {
        uri: '/aws',
        plugins: {
          'aws-lambda': {
            function_uri: 'https://ajycz5e0v9.execute-api.us-east-1.amazonaws.com/default/test-apisix',
            authorization: { iam: { accesskey: '<access key>', secret_key: '******', service: 'execute-api' } },
            ssl_verify: false,
          },
        },
      },
    ],
    [
      'path forwarding',
      SEED_PUT_PATH_FORWARDING,
      {
        uri: '/aws/*',
        plugins: {
          'aws-lambda': {
            function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com',
            authorization: { apikey: '******' },
            ssl_verify: false,
          },
        },
      },
    ],
    ['Disable Plugin', SEED_PUT_DISABLE_PLUGIN, { uri: '/aws', plugins: {}, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } } }],
  ];

  it.each(seeds)('PUT %s → 201, then 200 on repeat; secrets masked in the answer, kept in the store', async (_name, body, expected) => {
    const admin = await startAdmin();
    const first = await admin.call('PUT', ROUTE_1, { body });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ key: '/apisix/routes/1', value: { id: '1', ...expected } });
    expect(first.text).not.toMatch(/<Generated API Key|<Generate API key>|<access key secret>/);

    const again = await admin.call('PUT', ROUTE_1, { body });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ key: '/apisix/routes/1', value: { id: '1', ...expected } });

    const got = await admin.call('GET', ROUTE_1);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ key: '/apisix/routes/1', value: { id: '1', ...expected } });
    expect(admin.store.routes()).toHaveLength(1);
    // The store holds the real secret (the masked copy is only for answers).
    expect(JSON.stringify(storedRoute(admin, '1'))).not.toContain('******');
  });

  it('the stored route keeps the real secrets of each example', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    expect(storedRoute(admin, '1')?.plugins['aws-lambda']?.authorization).toEqual({ apikey: '<Generated API Key from aws console>' });
    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_IAM });
    expect(storedRoute(admin, '1')?.plugins['aws-lambda']?.authorization?.iam).toMatchObject({ accesskey: '<access key>', secret_key: '<access key secret>' });
  });
});

describe('Admin API: reads', () => {
  it('GET one → {key, value} with apikey, secret_key and session_token masked', async () => {
    const admin = await startAdmin();
    const iam = { accesskey: 'AKIDEXAMPLE', secretkey: 'wJalrXUtnFEMI/K7MDENG', session_token: 'FwoGZXIvYXdzEJr//////////' };
    expect((await admin.call('PUT', '/apisix/admin/routes/iam', { body: lambdaRoute('/iam', { authorization: { iam } }) })).status).toBe(201);
    expect((await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'the-api-key' } }) })).status).toBe(201);

    const one = await admin.call('GET', ROUTE_1);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ key: '/apisix/routes/1', value: { id: '1', uri: '/aws', plugins: { 'aws-lambda': { authorization: { apikey: '******' } } } } });
    const two = await admin.call('GET', '/apisix/admin/routes/iam');
    expect(two.json).toMatchObject({
      key: '/apisix/routes/iam',
      value: { plugins: { 'aws-lambda': { authorization: { iam: { accesskey: 'AKIDEXAMPLE', secret_key: '******', session_token: '******' } } } } },
    });
    for (const text of [one.text, two.text]) expect(text).not.toMatch(/the-api-key|wJalrXUtnFEMI|FwoGZXIvYXdz/);
  });

  it('GET of an assume-role route masks the base keys\' secret and session token, shows the role fields', async () => {
    const admin = await startAdmin();
    const iam = { accesskey: 'AKIDEXAMPLE', secret_key: 'wJalrXUtnFEMI/K7MDENG', session_token: 'FwoGZXIvYXdzEJr//////////', role_arn: 'arn:aws:iam::123456789012:role/invoker', external_id: 'ext-1', duration_seconds: 900 };
    expect((await admin.call('PUT', '/apisix/admin/routes/role', { body: lambdaRoute('/role', { authorization: { iam } }) })).status).toBe(201);
    const got = await admin.call('GET', '/apisix/admin/routes/role');
    expect(got.json).toMatchObject({
      value: { plugins: { 'aws-lambda': { authorization: { iam: { ...iam, secret_key: '******', session_token: '******' } } } } },
    });
    expect(got.text).not.toMatch(/wJalrXUtnFEMI|FwoGZXIvYXdz/);
  });

  it('list → {total, list} of masked items, in store order', async () => {
    const admin = await startAdmin();
    const empty = await admin.call('GET', '/apisix/admin/routes');
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({ total: 0, list: [] });

    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    await admin.call('PUT', '/apisix/admin/routes/2', { body: lambdaRoute('/two', { authorization: { apikey: 'k2' } }) });
    const list = await admin.call('GET', '/apisix/admin/routes');
    expect(list.status).toBe(200);
    expect(list.json.total).toBe(2);
    expect(list.json.list).toMatchObject([
      { key: '/apisix/routes/1', value: { id: '1', uri: '/aws', plugins: { 'aws-lambda': { authorization: { apikey: '******' } } } } },
      { key: '/apisix/routes/2', value: { id: '2', uri: '/two', plugins: { 'aws-lambda': { authorization: { apikey: '******' } } } } },
    ]);
    expect(list.text).not.toMatch(/<Generated API Key|"k2"/);
  });
});

describe('Admin API: writes', () => {
  it('POST → 201 with a generated, digits-only id', async () => {
    const admin = await startAdmin();
    const a = await admin.call('POST', '/apisix/admin/routes', { body: lambdaRoute('/a') });
    const b = await admin.call('POST', '/apisix/admin/routes', { body: lambdaRoute('/b') });
    expect([a.status, b.status]).toEqual([201, 201]);
    const idA = (a.json.value as { id: string }).id;
    const idB = (b.json.value as { id: string }).id;
    expect(idA).toMatch(/^\d+$/);
    expect(idB).toMatch(/^\d+$/);
    expect(idA).not.toBe(idB);
    expect(a.json.key).toBe(`/apisix/routes/${idA}`);
    expect((await admin.call('GET', `/apisix/admin/routes/${idA}`)).json).toMatchObject({ value: { id: idA, uri: '/a' } });
    expect(admin.store.routes().map((r) => r.id)).toEqual([idA, idB]);
  });

  it('PATCH merges: a new timeout, the never-returned secret kept', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    const created = storedRoute(admin, '1');

    const patched = await admin.call('PATCH', ROUTE_1, { body: '{"plugins": {"aws-lambda": {"timeout": 5000}}}' });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      key: '/apisix/routes/1',
      value: { uri: '/aws', plugins: { 'aws-lambda': { timeout: 5000, ssl_verify: false, authorization: { apikey: '******' } } } },
    });
    const stored = storedRoute(admin, '1');
    expect(stored?.plugins['aws-lambda']?.timeout).toBe(5000);
    expect(stored?.plugins['aws-lambda']?.authorization?.apikey).toBe('<Generated API Key from aws console>');
    expect(stored?.create_time).toBe(created?.create_time);
  });

  it('concurrent PATCHes of different fields all land (read, merge, validate and write are one step in the store)', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'k' } }) });
    const count = 25;
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) => admin.call('PATCH', ROUTE_1, { body: JSON.stringify({ labels: { [`l${i}`]: `v${i}` } }) })),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const expected = Object.fromEntries(Array.from({ length: count }, (_, i) => [`l${i}`, `v${i}`]));
    expect(storedRoute(admin, '1')?.labels).toEqual(expected);
    expect(parseRoutesDocument(readFileSync(admin.file, 'utf8'), admin.file)[0].labels).toEqual(expected);
    expect(storedRoute(admin, '1')?.plugins['aws-lambda']?.authorization?.apikey).toBe('k');
  });

  it('PATCH with null deletes a field', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'k' } }, { desc: 'to be removed', methods: ['GET'] }) });
    const patched = await admin.call('PATCH', ROUTE_1, { body: '{"desc": null, "plugins": {"aws-lambda": {"authorization": null}}}' });
    expect(patched.status).toBe(200);
    const stored = storedRoute(admin, '1');
    expect(stored).not.toHaveProperty('desc');
    expect(stored?.plugins['aws-lambda']).not.toHaveProperty('authorization');
    expect(stored?.methods).toEqual(['GET']);
    expect(patched.json.value).not.toHaveProperty('desc');
  });

  it('PATCH of a missing route → 404; a PATCH that makes the route invalid → 400, nothing applied', async () => {
    const admin = await startAdmin();
    expect((await admin.call('PATCH', '/apisix/admin/routes/9', { body: '{"desc": "x"}' })).status).toBe(404);
    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    const before = storedRoute(admin, '1');
    const bad = await admin.call('PATCH', ROUTE_1, { body: '{"plugins": {"aws-lambda": {"timeout": 50}}}' });
    expect(bad.status).toBe(400);
    expect(String(bad.json.error_msg)).toContain('plugins.aws-lambda.timeout');
    expect(storedRoute(admin, '1')).toBe(before);
  });

  it('DELETE → 200 {deleted: "1"}; then GET → 404 {"message":"Key not found"}; DELETE again → 404', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    const del = await admin.call('DELETE', ROUTE_1);
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ deleted: '1' });
    const got = await admin.call('GET', ROUTE_1);
    expect(got.status).toBe(404);
    expect(got.json).toEqual({ message: 'Key not found' });
    expect(admin.store.routes()).toEqual([]);
    expect((await admin.call('DELETE', ROUTE_1)).status).toBe(404);
  });
});

describe('Admin API: the secret mask read back', () => {
  const iam = { accesskey: 'AKIDEXAMPLE', secretkey: 'wJalrXUtnFEMI/K7MDENG', session_token: 'FwoGZXIvYXdzEJr//////////' };

  it('PUT of what GET answered (masked secrets) keeps the stored secrets, and a real new one replaces them', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'the-api-key' } }) });
    await admin.call('PUT', '/apisix/admin/routes/iam', { body: lambdaRoute('/iam', { authorization: { iam } }) });

    for (const path of [ROUTE_1, '/apisix/admin/routes/iam']) {
      const read = await admin.call('GET', path);
      const value = { ...(read.json.value as Record<string, unknown>), desc: 'round-tripped' };
      const back = await admin.call('PUT', path, { body: JSON.stringify(value) });
      expect({ path, status: back.status }).toEqual({ path, status: 200 });
    }
    expect(storedRoute(admin, '1')?.desc).toBe('round-tripped');
    expect(storedRoute(admin, '1')?.plugins['aws-lambda']?.authorization?.apikey).toBe('the-api-key');
    expect(storedRoute(admin, 'iam')?.plugins['aws-lambda']?.authorization?.iam).toMatchObject({
      accesskey: 'AKIDEXAMPLE',
      secret_key: iam.secretkey,
      session_token: iam.session_token,
    });
    expect(readFileSync(admin.file, 'utf8')).not.toContain('******');

    // APISIX's spelling `secretkey` with the mask is the same secret.
    const patched = await admin.call('PATCH', '/apisix/admin/routes/iam', { body: '{"plugins": {"aws-lambda": {"authorization": {"iam": {"secretkey": "******"}}}}}' });
    expect(patched.status).toBe(200);
    expect(storedRoute(admin, 'iam')?.plugins['aws-lambda']?.authorization?.iam?.secret_key).toBe(iam.secretkey);

    expect((await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'a-new-key' } }) })).status).toBe(200);
    expect(storedRoute(admin, '1')?.plugins['aws-lambda']?.authorization?.apikey).toBe('a-new-key');
  });

  it.each([
    ['PUT of a new route', 'PUT', '/apisix/admin/routes/new', lambdaRoute('/new', { authorization: { apikey: '******' } }), 'plugins.aws-lambda.authorization.apikey'],
    ['POST', 'POST', '/apisix/admin/routes', lambdaRoute('/new', { authorization: { iam: { accesskey: 'AK', secret_key: '******' } } }), 'plugins.aws-lambda.authorization.iam.secret_key'],
    ['PUT adding a session token', 'PUT', ROUTE_1, lambdaRoute('/aws', { authorization: { iam: { accesskey: 'AK', secret_key: 's', session_token: '******' } } }), 'plugins.aws-lambda.authorization.iam.session_token'],
  ])('the mask with no stored secret to keep → 400 naming the field, nothing stored (%s)', async (_name, method, path, body, field) => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'the-api-key' } }) });
    const before = admin.store.routes();
    const res = await admin.call(method, path, { body });
    expect(res.status).toBe(400);
    expect(String(res.json.error_msg)).toContain(field);
    expect(String(res.json.error_msg)).toContain('mask');
    expect(admin.store.routes()).toBe(before);
  });
});

describe('Admin API: authentication', () => {
  it('wrong key → 401, missing key → 401, and nothing is written', async () => {
    const admin = await startAdmin();
    const wrong = await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY, key: 'edd1c9f034335f136f87ad84b625c8f2' });
    expect(wrong.status).toBe(401);
    const shorter = await admin.call('GET', '/apisix/admin/routes', { key: 'edd1' });
    expect(shorter.status).toBe(401);
    const missing = await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY, key: null });
    expect(missing.status).toBe(401);
    expect((await admin.call('GET', ROUTE_1, { key: null })).status).toBe(401);
    expect(admin.store.routes()).toEqual([]);
  });

  it('no key configured → no key needed', async () => {
    const admin = await startAdmin({ adminKey: undefined });
    expect((await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY, key: null })).status).toBe(201);
    expect((await admin.call('GET', ROUTE_1, { key: null })).status).toBe(200);
    expect((await admin.call('GET', ROUTE_1, { key: 'anything' })).status).toBe(200);
  });
});

describe('Admin API: web pages are refused, API clients are not', () => {
  /** What a page on another site makes a browser send with fetch(..., {method: 'POST', body}) or a form. */
  const pageHeaders: Array<[string, Record<string, string>]> = [
    ['fetch text/plain (no preflight), no key', { 'content-type': 'text/plain;charset=UTF-8', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' }],
    ['a form post (urlencoded)', { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }],
    ['a multipart form post', { 'content-type': 'multipart/form-data; boundary=x', origin: 'null', 'sec-fetch-site': 'cross-site' }],
    ['a DNS-rebound page (same origin, still Sec-Fetch-Site)', { 'content-type': 'text/plain', 'sec-fetch-site': 'same-origin', host: 'rebound.evil.example:9180' }],
    ['Origin alone (older browsers)', { 'content-type': 'application/json', origin: 'http://localhost:3000' }],
  ];

  it.each(pageHeaders)('%s → 403 or 415, nothing created (key-less loopback Admin API)', async (_name, headers) => {
    const admin = await startAdmin({ adminKey: undefined });
    const body = lambdaRoute('/*', {}, { priority: 1000 });
    const res = await request(`${admin.url}/apisix/admin/routes`, { method: 'POST', headers, body, dispatcher: agent });
    const json = (await res.body.json()) as Record<string, unknown>;
    expect([403, 415]).toContain(res.statusCode);
    expect(typeof json.error_msg).toBe('string');
    expect(admin.store.routes()).toEqual([]);
    if (res.statusCode === 403) expect(admin.logs.some((l) => l.msg === 'admin: refused a request from a web page' && l.level === 40)).toBe(true);
  });

  it('text/plain or multipart without browser headers → 415 naming the type; Origin on a read → 403', async () => {
    const admin = await startAdmin({ adminKey: undefined });
    for (const type of ['text/plain', 'multipart/form-data; boundary=x']) {
      const res = await request(`${admin.url}${ROUTE_1}`, { method: 'PUT', headers: { 'content-type': type }, body: lambdaRoute('/aws'), dispatcher: agent });
      const json = (await res.body.json()) as Record<string, unknown>;
      expect({ type, status: res.statusCode }).toEqual({ type, status: 415 });
      expect(String(json.error_msg)).toContain('application/json');
    }
    const read = await request(`${admin.url}/apisix/admin/routes`, { headers: { origin: 'https://evil.example' }, dispatcher: agent });
    await read.body.dump();
    expect(read.statusCode).toBe(403);
    expect(admin.store.routes()).toEqual([]);
  });

  it("the seed document's curl commands, verbatim (curl -d: application/x-www-form-urlencoded), and JSON clients still work", async () => {
    const admin = await startAdmin();
    // (Asynchronous: the Admin API under test runs on this event loop.)
    const curl = async (args: string[]): Promise<string> => (await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args], { timeout: 10_000 })).stdout;
    // curl http://127.0.0.1:9180/apisix/admin/routes/1 -H 'X-API-KEY: edd1c9f034335f136f87ad84b625c8f1' -X PUT -d '...'
    expect(await curl([`${admin.url}${ROUTE_1}`, '-H', `X-API-KEY: ${ADMIN_KEY}`, '-X', 'PUT', '-d', SEED_PUT_APIKEY])).toBe('201');
    expect(await curl([`${admin.url}${ROUTE_1}`, '-H', `X-API-KEY: ${ADMIN_KEY}`, '-X', 'PUT', '-d', SEED_PUT_IAM])).toBe('200');
    expect(await curl([`${admin.url}/apisix/admin/routes`, '-H', `X-API-KEY: ${ADMIN_KEY}`, '-X', 'POST', '-d', SEED_PUT_PATH_FORWARDING])).toBe('201');
    expect(await curl([`${admin.url}${ROUTE_1}`, '-H', `X-API-KEY: ${ADMIN_KEY}`, '-H', 'Content-Type: application/json', '-X', 'PATCH', '-d', '{"desc": "json"}'])).toBe('200');
    expect(await curl([`${admin.url}${ROUTE_1}`, '-H', `X-API-KEY: ${ADMIN_KEY}`])).toBe('200');
    expect(admin.store.routes()).toHaveLength(2);
    expect(storedRoute(admin, '1')?.desc).toBe('json');
  });
});

describe('Admin API: refusals', () => {
  const invalid: Array<[string, string, string, RegExp]> = [
    ['timeout below 100', ROUTE_1, lambdaRoute('/aws', { timeout: 50 }), /plugins\.aws-lambda\.timeout.*>= 100/],
    ['an unknown field (vars)', ROUTE_1, lambdaRoute('/aws', {}, { vars: [['arg_name', '==', 'x']] }), /unknown field "vars"/],
    ['function_uri not a URL', ROUTE_1, lambdaRoute('/aws', { function_uri: 'not a url' }), /plugins\.aws-lambda\.function_uri/],
    ['function_uri not http(s)', ROUTE_1, lambdaRoute('/aws', { function_uri: 'ftp://abc.example.com/fn' }), /plugins\.aws-lambda\.function_uri/],
    ['function_uri with a query', ROUTE_1, lambdaRoute('/aws', { function_uri: 'https://abc.example.com/fn?x=1' }), /plugins\.aws-lambda\.function_uri/],
    ['no function_uri', ROUTE_1, '{"uri": "/aws", "plugins": {"aws-lambda": {}}}', /plugins\.aws-lambda\.function_uri.*required/],
    ['no uri', ROUTE_1, '{"plugins": {}}', /uri/],
    ['body id ≠ path id', ROUTE_1, lambdaRoute('/aws', {}, { id: '2' }), /id/],
    ['not JSON (cut short)', ROUTE_1, '{"uri": "/aws", "plugins": {', /invalid request body/],
    ['not JSON (plain text)', ROUTE_1, 'hello', /invalid request body/],
    ['not JSON (empty body)', ROUTE_1, '', /invalid request body/],
    ['a JSON array', ROUTE_1, '[{"uri": "/aws"}]', /invalid request body/],
    ['an id in a POST body', '/apisix/admin/routes', lambdaRoute('/aws', {}, { id: '7' }), /id/],
  ];

  it.each(invalid)('%s → 400 {error_msg} naming the problem, nothing applied', async (_name, path, body, message) => {
    const admin = await startAdmin();
    const res = await admin.call(path.endsWith('/routes') ? 'POST' : 'PUT', path, { body });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error_msg: expect.stringMatching(message) as unknown });
    expect(admin.store.routes()).toEqual([]);
    expect((await admin.call('GET', ROUTE_1)).status).toBe(404);
  });

  it('405 for a method the resource does not have', async () => {
    const admin = await startAdmin();
    for (const [method, path] of [
      ['POST', ROUTE_1],
      ['PUT', '/apisix/admin/routes'],
      ['DELETE', '/apisix/admin/routes'],
      ['PATCH', '/apisix/admin/routes'],
    ]) {
      const res = await admin.call(method, path, { body: method === 'DELETE' ? undefined : lambdaRoute('/aws') });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 405 });
      expect(typeof res.json.error_msg).toBe('string');
    }
    expect(admin.store.routes()).toEqual([]);
  });

  it('404 for other paths', async () => {
    const admin = await startAdmin();
    for (const path of ['/', '/apisix/admin/upstreams/1', '/apisix/admin/services', '/apisix/routes/1', '/apisix/admin/routesX']) {
      const res = await admin.call('GET', path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
  });

  it('an id that is not a valid route id → 400, also when its percent-encoding is malformed', async () => {
    const admin = await startAdmin();
    const spaces = await admin.call('PUT', '/apisix/admin/routes/a%20b', { body: lambdaRoute('/aws') });
    expect(spaces.status).toBe(400);
    expect(String(spaces.json.error_msg)).toContain('invalid route id');
    // decodeURIComponent throws URIError here: a client mistake, not a server error.
    const malformed = await admin.call('GET', '/apisix/admin/routes/%E0%A4%A');
    expect(malformed.status).toBe(400);
    expect(typeof malformed.json.error_msg).toBe('string');
  });

  it('a body over the size limit → 413 with error_msg, not a reset connection', async () => {
    const admin = await startAdmin();
    const huge = lambdaRoute('/aws', {}, { desc: 'x'.repeat(2 * 1024 * 1024) });
    const res = await admin.call('PUT', ROUTE_1, { body: huge });
    expect(res.status).toBe(413);
    expect(typeof res.json.error_msg).toBe('string');
    expect(admin.store.routes()).toEqual([]);
  });
});

describe('Admin API over a routes file with a hand edit of its own', () => {
  it('an invalid hand edit → 409 {error_msg} naming the file; the edit is kept, nothing written', async () => {
    const admin = await startAdmin();
    await admin.call('PUT', ROUTE_1, { body: lambdaRoute('/aws', { authorization: { apikey: 'k' } }) });
    const edited = `${readFileSync(admin.file, 'utf8')}  - id: "2"\n    uri: [unclosed\n`;
    writeFileSync(admin.file, edited);
    const res = await admin.call('PUT', '/apisix/admin/routes/3', { body: lambdaRoute('/three') });
    expect(res.status).toBe(409);
    expect(String(res.json.error_msg)).toContain(admin.file);
    expect(readFileSync(admin.file, 'utf8')).toBe(edited);
    expect(admin.store.routes().map((r) => r.id)).toEqual(['1']);
    expect(admin.logs.some((l) => l.code === 'ERR_STORE_CONFLICT' && l.level === 40)).toBe(true);
  });
});

describe('Admin API over a store that cannot write', () => {
  /** A RouteStore whose writes fail the way a full disk or an unreachable etcd does. */
  function failingStore(): RouteStore & { putCalls: number } {
    const fake = {
      description: 'fake:failing',
      putCalls: 0,
      start: () => Promise.resolve([] as readonly RouteConfig[]),
      routes: (): readonly RouteConfig[] => [],
      update: (): Promise<{ created: boolean; route: RouteConfig }> => {
        fake.putCalls++;
        return Promise.reject(sidecarError(ERROR_CODES.STORE_WRITE_FAILED, 'cannot write route "1" to fake:failing: disk full'));
      },
      remove: (): Promise<boolean> => Promise.reject(sidecarError(ERROR_CODES.STORE_WRITE_FAILED, 'cannot delete route "1" from fake:failing: disk full')),
      close: () => Promise.resolve(),
    };
    return fake;
  }

  it('PUT/POST/DELETE → 5xx with error_msg, nothing applied, the failure logged', async () => {
    const store = failingStore();
    const admin = await startAdmin({ adminKey: ADMIN_KEY, store });
    const put = await admin.call('PUT', ROUTE_1, { body: SEED_PUT_APIKEY });
    expect(put.status).toBeGreaterThanOrEqual(500);
    expect(put.status).toBeLessThan(600);
    expect(put.json).toEqual({ error_msg: expect.stringContaining('disk full') as unknown });
    const post = await admin.call('POST', '/apisix/admin/routes', { body: SEED_PUT_APIKEY });
    expect(post.status).toBeGreaterThanOrEqual(500);
    expect(store.putCalls).toBe(2);
    const del = await admin.call('DELETE', ROUTE_1);
    expect(del.status).toBeGreaterThanOrEqual(500);
    expect(typeof del.json.error_msg).toBe('string');

    expect((await admin.call('GET', '/apisix/admin/routes')).json).toEqual({ total: 0, list: [] });
    expect(admin.logs.filter((l) => l.code === 'ERR_STORE_WRITE_FAILED')).toHaveLength(3);
  });
});

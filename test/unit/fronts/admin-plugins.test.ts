/**
 * The Admin API's plugin endpoints (APISIX 3: GET /apisix/admin/plugins/list and
 * /apisix/admin/plugins/{name}) and its validation of credentials, over a real FileRouteStore and
 * real HTTP on 127.0.0.1:0.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import pino from 'pino';
import { Agent, request } from 'undici';
import { FileRouteStore } from '../../../src/config/stores/file-store';
import { createAdminApi } from '../../../src/fronts/admin/admin-api';

const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1';
const SHIPPED = resolve(__dirname, '../../../schema/routes.schema.json');

const agent = new Agent({ keepAliveTimeout: 10 });
let dir: string;
let store: FileRouteStore;
let server: http.Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'admin-plugins-test-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, '', { mode: 0o600 });
  const log = pino({ level: 'silent' });
  store = new FileRouteStore(file, log, 50);
  await store.start(() => undefined);
  server = createAdminApi(store, log, { adminKey: ADMIN_KEY });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
  await store.close();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, opts: { body?: string; key?: string | null } = {}): Promise<{ status: number; json: unknown; type: string | undefined }> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? ADMIN_KEY : opts.key;
  if (key !== null) headers['x-api-key'] = key;
  const res = await request(`${base}${path}`, { method, headers, body: opts.body, dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) as unknown, type: res.headers['content-type'] as string | undefined };
}

/** The aws-lambda plugin's schema inside the shipped routes file schema. */
function shippedPluginSchema(): Record<string, unknown> {
  const file = JSON.parse(readFileSync(SHIPPED, 'utf8')) as { properties: { routes: { anyOf: Array<{ items?: { properties: { plugins: { properties: Record<string, Record<string, unknown>> } } } }> } } };
  return file.properties.routes.anyOf[0].items!.properties.plugins.properties['aws-lambda'];
}

describe('GET /apisix/admin/plugins/list', () => {
  it.each(['/apisix/admin/plugins/list', '/apisix/admin/plugins/list/'])('%s answers the plugin names as a JSON array', async (path) => {
    const res = await call('GET', path);
    expect(res).toEqual({ status: 200, json: ['aws-lambda'], type: 'application/json' });
  });
});

describe('GET /apisix/admin/plugins/aws-lambda', () => {
  it('answers the JSON Schema routes are validated with (the shipped one)', async () => {
    const res = await call('GET', '/apisix/admin/plugins/aws-lambda');
    expect(res.status).toBe(200);
    expect(res.json).toEqual(shippedPluginSchema());
  });

  it("carries APISIX's attributes, defaults and bounds", async () => {
    const schema = (await call('GET', '/apisix/admin/plugins/aws-lambda')).json as { required?: string[]; allOf: unknown[]; properties: Record<string, Record<string, unknown>> };
    // Exactly one of function_uri (APISIX's) and function_name (ours: the Invoke API) is required.
    expect(schema.required).toBeUndefined();
    expect(schema.allOf).toEqual([
      { anyOf: [{ required: ['function_uri'] }, { required: ['function_name'] }] },
      { not: { required: ['function_uri', 'function_name'] } },
    ]);
    expect(schema.properties).toMatchObject({
      function_uri: { type: 'string' },
      timeout: { type: 'integer', minimum: 100, default: 3000 },
      ssl_verify: { type: 'boolean', default: true },
      keepalive: { type: 'boolean', default: true },
      keepalive_pool: { type: 'integer', minimum: 1, default: 5 },
      keepalive_timeout: { type: 'integer', minimum: 1000, default: 60000 },
      max_req_body_size: { type: 'integer', minimum: 1, default: 67108864 },
      authorization: {
        properties: {
          apikey: { type: 'string' },
          iam: { properties: { accesskey: { type: 'string' }, secretkey: { type: 'string' }, secret_key: { type: 'string' }, aws_region: { type: 'string' }, service: { default: 'execute-api' } } },
        },
      },
    });
  });

  it('is usable by a plain ajv: the seed plugin config passes, a timeout of 99 does not', async () => {
    const validate = new Ajv().compile((await call('GET', '/apisix/admin/plugins/aws-lambda')).json as object);
    const seed = { function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix', authorization: { iam: { accesskey: '<access key>', secretkey: '<access key secret>' } }, ssl_verify: false };
    expect(validate(seed)).toBe(true);
    expect(validate({ ...seed, timeout: 99 })).toBe(false);
  });

  it('a plugin we do not run: 404, as APISIX answers', async () => {
    expect(await call('GET', '/apisix/admin/plugins/limit-count')).toMatchObject({ status: 404, json: { error_msg: 'plugin not found' } });
  });

  it('only GET', async () => {
    expect((await call('PUT', '/apisix/admin/plugins/aws-lambda', { body: '{}' })).status).toBe(405);
    expect((await call('DELETE', '/apisix/admin/plugins/list')).status).toBe(405);
  });
});

describe('the plugin endpoints have the same auth as the routes', () => {
  it.each(['/apisix/admin/plugins/list', '/apisix/admin/plugins/aws-lambda'])('%s: 401 without the key or with a wrong one', async (path) => {
    expect(await call('GET', path, { key: null })).toMatchObject({ status: 401, json: { message: 'failed to check token' } });
    expect((await call('GET', path, { key: 'wrong' })).status).toBe(401);
  });
});

describe('Admin API writes: credentials with control characters', () => {
  const MARKER = 'ADMIN-CTRL-9b2f';
  it.each<[string, Record<string, unknown>, string]>([
    ['apikey with a trailing newline', { apikey: `${MARKER}\n` }, 'plugins.aws-lambda.authorization.apikey'],
    ['accesskey with a tab', { iam: { accesskey: `${MARKER}\t`, secret_key: 'SK' } }, 'plugins.aws-lambda.authorization.iam.accesskey'],
    ['secretkey with a carriage return', { iam: { accesskey: 'AK', secretkey: `${MARKER}\r` } }, 'plugins.aws-lambda.authorization.iam.secret_key'],
    ['session_token with DEL', { iam: { accesskey: 'AK', secret_key: 'SK', session_token: `${MARKER}\u007f` } }, 'plugins.aws-lambda.authorization.iam.session_token'],
  ])('PUT with %s: 400 naming the field, never the value, nothing stored', async (_label, authorization, field) => {
    const body = JSON.stringify({ uri: '/ctrl', plugins: { 'aws-lambda': { function_uri: 'https://h.example.com/fn', authorization } } });
    const res = await call('PUT', '/apisix/admin/routes/ctrl', { body });
    expect(res.status).toBe(400);
    const message = (res.json as { error_msg: string }).error_msg;
    expect(message).toContain(`route "ctrl": ${field}: must not contain control characters`);
    expect(message).not.toContain(MARKER);
    expect(store.routes().find((r) => r.id === 'ctrl')).toBeUndefined();
  });
});

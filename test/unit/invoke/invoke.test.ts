// invoke() against a real local HTTP server standing in for the function (plain HTTP, port 0),
// through a real DispatcherRegistry and targets built from validated routes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateRoutes } from '../../../src/config/route-schema';
import { ERROR_CODES, sidecarError, STATUS_BY_CODE } from '../../../src/errors';
import { errorResponse } from '../../../src/invoke/error-response';
import { invoke } from '../../../src/invoke/invoke';
import type { HeaderList, ClientRequest, LambdaResponse } from '../../../src/invoke/client-request';
import pino from 'pino';
import { CredentialRegistry } from '../../../src/aws/credential-registry';
import { createTarget, DispatcherRegistry, type LambdaTarget, releaseTarget } from '../../../src/invoke/target';
import { withAwsEnvironment } from '../../support/aws/aws-environment';
import { oracleAuthorization } from '../aws/smithy-oracle';

const API_KEY = 'route-api-key-1';
const ACCESS_KEY = 'AKIDEXAMPLE';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const SESSION_TOKEN = 'FQoGZXIvYXdzEJr//////////token+/=';
const ALL_BYTES = Buffer.from(Array.from({ length: 256 * 2 + 5 }, (_, i) => (i * 7 + 3) & 255));
const RESPONSE_BODY = Buffer.from(Array.from({ length: 300 }, (_, i) => (255 - i) & 255));

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

/** Lower-case [name, value] pairs in the order they arrived. */
function headerPairs(r: Received): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) out.push([r.rawHeaders[i].toLowerCase(), r.rawHeaders[i + 1]]);
  return out;
}

function values(r: Received, name: string): string[] {
  return headerPairs(r).filter(([n]) => n === name).map(([, v]) => v);
}

let server: Server;
let port: number;
let closedPort: number;
const received: Received[] = [];
const pendingTimers = new Set<NodeJS.Timeout>();
let registry: DispatcherRegistry;
const credentialRegistry = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
const targets = new Map<string, LambdaTarget>();

function last(): Received {
  const r = received[received.length - 1];
  if (r === undefined) throw new Error('the function received no request');
  return r;
}

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  received.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body });
  const path = (req.url ?? '').split('?')[0];
  if (path.startsWith('/slow')) {
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      if (!res.destroyed) res.end('late');
    }, 3000);
    pendingTimers.add(timer);
    return;
  }
  if (path.startsWith('/destroy')) {
    req.socket.destroy();
    return;
  }
  if (path.startsWith('/half')) {
    res.writeHead(200, { 'content-length': '100' });
    res.write('only part of it');
    setImmediate(() => req.socket.destroy());
    return;
  }
  if (path.startsWith('/respond')) {
    res.statusCode = 201;
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('set-cookie', ['first=1; Path=/', 'second=2; HttpOnly']);
    res.setHeader('connection', 'keep-alive, x-hop');
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('x-hop', 'per-connection');
    res.setHeader('x-amzn-requestid', '471289ab-d3b7-4819-9e1a-cb59cac611e0');
    res.setHeader('x-multi', ['m1', 'm2']);
    // no content-length: a chunked answer, so transfer-encoding arrives too
    res.write(RESPONSE_BODY.subarray(0, 100));
    res.end(RESPONSE_BODY.subarray(100));
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end('"Hello, APISIX!"');
}

function routeConfigs(): unknown[] {
  const base = `http://127.0.0.1:${port}`;
  const fn = (id: string, pluginExtra: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
    id,
    uri: `/${id}`,
    plugins: { 'aws-lambda': { function_uri: `${base}/default/test-apisix`, ...pluginExtra } },
    ...extra,
  });
  return [
    fn('apikey', { authorization: { apikey: API_KEY } }),
    fn('iam', { authorization: { iam: { accesskey: ACCESS_KEY, secretkey: SECRET_KEY } } }),
    fn('iam-token', { authorization: { iam: { accesskey: ACCESS_KEY, secret_key: SECRET_KEY, session_token: SESSION_TOKEN, aws_region: 'eu-west-1', service: 'lambda' } } }),
    fn('iam-fwd', { function_uri: `${base}/stage/`, authorization: { iam: { accesskey: ACCESS_KEY, secret_key: SECRET_KEY } } }, { uri: '/iam-fwd/*' }),
    fn('plain', {}),
    fn('fwd', { function_uri: base }, { uri: '/aws/*' }),
    fn('respond', { function_uri: `${base}/respond` }),
    fn('slow', { function_uri: `${base}/slow`, timeout: 200 }),
    fn('destroy', { function_uri: `${base}/destroy` }),
    fn('half', { function_uri: `${base}/half` }),
    fn('closed', { function_uri: `http://127.0.0.1:${closedPort}/fn`, timeout: 2000 }),
    fn('small', { max_req_body_size: 10 }),
    fn('no-keepalive', { keepalive: false }),
  ];
}

function target(id: string): LambdaTarget {
  const t = targets.get(id);
  if (t === undefined) throw new Error(`no target ${id}`);
  return t;
}

function request(over: Partial<ClientRequest> = {}): ClientRequest {
  return { method: 'GET', path: '/x', query: '', host: 'sidecar.local:10000', headers: [], body: null, ...over };
}

/** The rejection's code/status/message; fails when invoke resolves. */
async function rejection(p: Promise<LambdaResponse>): Promise<{ code: unknown; status: unknown; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; status?: unknown; message?: unknown };
    return { code: e.code, status: e.status, message: String(e.message) };
  }
  throw new Error('expected invoke to reject, but it resolved');
}

/** Recomputes the Authorization with the SDK signer from what the function received. */
async function verifyWithOracle(r: Received, scope: { region: string; service: string }, sessionToken?: string): Promise<string> {
  const authorization = values(r, 'authorization')[0] ?? '';
  const signed = /SignedHeaders=([^,]+),/.exec(authorization)?.[1]?.split(';') ?? [];
  const headers = headerPairs(r).filter(([n]) => signed.includes(n));
  const q = r.url.indexOf('?');
  return oracleAuthorization(
    { method: r.method, path: q === -1 ? r.url : r.url.slice(0, q), query: q === -1 ? '' : r.url.slice(q + 1), headers, body: r.body.length > 0 ? r.body : null },
    scope,
    { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken },
    values(r, 'x-amz-date')[0] ?? '',
  );
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  // A port nobody listens on: bind one, then close it.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  registry = new DispatcherRegistry();
  for (const route of validateRoutes(routeConfigs())) {
    const t = createTarget(route, registry, credentialRegistry);
    if (t?.kind === 'http') targets.set(route.id, t);
  }
});

afterAll(async () => {
  for (const t of pendingTimers) clearTimeout(t);
  await registry.closeAll();
  credentialRegistry.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('createTarget', () => {
  it('builds the target from the route at setup', () => {
    const t = target('iam-token');
    expect(t).toMatchObject({
      routeId: 'iam-token',
      origin: `http://127.0.0.1:${port}`,
      basePath: '/default/test-apisix',
      hostHeader: `127.0.0.1:${port}`,
      apiKey: undefined,
      timeoutMs: 3000,
      maxBodyBytes: 64 * 1024 * 1024,
      keepalive: true,
      iam: { scope: { region: 'eu-west-1', service: 'lambda' } },
    });
    expect(t.iam?.source.current()).toEqual({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: SESSION_TOKEN });
    expect(Object.isFrozen(t)).toBe(true);
    expect(target('fwd').basePath).toBe('/');
    expect(target('apikey').apiKey).toBe(API_KEY);
  });

  it('shares one pool between routes with the same origin and settings', () => {
    expect(target('apikey').dispatcher).toBe(target('iam').dispatcher);
    expect(target('slow').dispatcher).not.toBe(target('apikey').dispatcher);
  });

  it('returns null for a route without the plugin or with it disabled', () => {
    const [none, disabled] = validateRoutes([
      { id: 'none', uri: '/n', plugins: {} },
      { id: 'off', uri: '/o', plugins: { 'aws-lambda': { function_uri: 'http://127.0.0.1:1/x', _meta: { disable: true } } } },
    ]);
    const before = registry.size;
    expect(createTarget(none, registry, credentialRegistry)).toBeNull();
    expect(createTarget(disabled, registry, credentialRegistry)).toBeNull();
    expect(registry.size).toBe(before);
  });
});

describe('invoke: API key', () => {
  it('adds x-api-key when the client sent none', async () => {
    const res = await invoke(target('apikey'), undefined, request({ query: 'name=APISIX' }));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('"Hello, APISIX!"');
    expect(last().url).toBe('/default/test-apisix?name=APISIX');
    expect(values(last(), 'x-api-key')).toEqual([API_KEY]);
  });

  it('does not replace a client x-api-key', async () => {
    await invoke(target('apikey'), undefined, request({ headers: [['x-api-key', 'client-key']] }));
    expect(values(last(), 'x-api-key')).toEqual(['client-key']);
  });

  it('sets host to the function\'s host and signs nothing', async () => {
    await invoke(target('apikey'), undefined, request({ headers: [['host', 'client.example']] }));
    expect(values(last(), 'host')).toEqual([`127.0.0.1:${port}`]);
    expect(values(last(), 'authorization')).toEqual([]);
    expect(values(last(), 'x-amz-date')).toEqual([]);
  });
});

describe('invoke: IAM (SigV4)', () => {
  it('adds authorization and x-amz-date, signing exactly content-type;host;x-amz-date', async () => {
    const before = Date.now();
    await invoke(target('iam'), undefined, request({
      method: 'POST',
      query: 'name=APISIX&x=1&x=0&q=a+b',
      headers: [
        ['content-type', 'application/json'], ['user-agent', 'curl/8'], ['x-forwarded-for', '10.0.0.1'],
        ['cookie', 'c=1'], ['accept', '*/*'], ['x-amzn-trace-id', 'Root=1-abc'],
      ],
      body: Buffer.from('{"name":"APISIX"}'),
    }));
    const r = last();
    const authorization = values(r, 'authorization');
    expect(authorization).toHaveLength(1);
    expect(authorization[0]).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/);
    const date = values(r, 'x-amz-date');
    expect(date).toHaveLength(1);
    expect(date[0]).toMatch(/^\d{8}T\d{6}Z$/);
    const signedAt = Date.parse(date[0].replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(signedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(signedAt).toBeLessThanOrEqual(Date.now());
    expect(await verifyWithOracle(r, { region: 'us-east-1', service: 'execute-api' })).toBe(authorization[0]);
    // the unsigned client headers still travel
    expect(values(r, 'user-agent')).toEqual(['curl/8']);
    expect(values(r, 'x-forwarded-for')).toEqual(['10.0.0.1']);
  });

  it('signs host;x-amz-date only for a GET without content-type', async () => {
    await invoke(target('iam'), undefined, request());
    const auth = values(last(), 'authorization')[0];
    expect(auth).toContain('SignedHeaders=host;x-amz-date,');
    expect(await verifyWithOracle(last(), { region: 'us-east-1', service: 'execute-api' })).toBe(auth);
  });

  it('signs x-amz-security-token with a session token, with the route\'s region and service', async () => {
    await invoke(target('iam-token'), undefined, request({ method: 'PUT', headers: [['content-type', 'text/plain']], body: Buffer.from('hi') }));
    const r = last();
    const auth = values(r, 'authorization')[0];
    expect(auth).toMatch(/Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, /);
    expect(values(r, 'x-amz-security-token')).toEqual([SESSION_TOKEN]);
    expect(await verifyWithOracle(r, { region: 'eu-west-1', service: 'lambda' }, SESSION_TOKEN)).toBe(auth);
  });

  it('replaces client x-amz-date, x-amz-security-token and x-amz-content-sha256 with its own', async () => {
    await invoke(target('iam'), undefined, request({
      headers: [['x-amz-date', '20000101T000000Z'], ['x-amz-security-token', 'client-token'], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']],
    }));
    const r = last();
    expect(values(r, 'x-amz-date')).toHaveLength(1);
    expect(values(r, 'x-amz-date')[0]).not.toBe('20000101T000000Z');
    expect(values(r, 'x-amz-security-token')).toEqual([]);
    expect(values(r, 'x-amz-content-sha256')).toEqual([]);
    expect(await verifyWithOracle(r, { region: 'us-east-1', service: 'execute-api' })).toBe(values(r, 'authorization')[0]);
  });

  it.each([
    ['a%20b/c%2Fd/', 'x=1&x=0&q=a+b&flag&k=%E2%9C%93&e='],
    ['c:d@e/%E2%9C%93', 'z=1&a=2&m=3'],
    ['sp ace/raw', 'q=%21%27%28%29%2A'],
    [Buffer.from('✓/é', 'utf8').toString('latin1'), 'a=b=c'],
  ])('signs the forwarded wire path %j with query %j so that the SDK signer agrees', async (rest, query) => {
    await invoke(target('iam-fwd'), rest, request({ path: `/iam-fwd/${rest}`, query }));
    const r = last();
    expect(r.url.startsWith('/stage/')).toBe(true);
    expect(r.url.endsWith(`?${query}`)).toBe(true);
    expect(await verifyWithOracle(r, { region: 'us-east-1', service: 'execute-api' })).toBe(values(r, 'authorization')[0]);
  });

  it('forwards a client Authorization untouched and signs nothing', async () => {
    await invoke(target('iam'), undefined, request({ headers: [['authorization', 'Bearer client-token'], ['content-type', 'text/plain']] }));
    const r = last();
    expect(values(r, 'authorization')).toEqual(['Bearer client-token']);
    expect(values(r, 'x-amz-date')).toEqual([]);
  });

  it('refuses a query that cannot be signed with ERR_BAD_REQUEST, before sending', async () => {
    const count = received.length;
    const f = await rejection(invoke(target('iam'), undefined, request({ query: 'a=%FF' })));
    expect(f).toMatchObject({ code: 'ERR_BAD_REQUEST', status: 400 });
    expect(received.length).toBe(count);
  });
});

describe('invoke: what reaches the function', () => {
  it('method, query bytes, body bytes (every byte value) and repeated headers, in order', async () => {
    const query = 'a=1&a=2&sp=%20&plus=a+b&flag&k=%E2%9C%93&enc=%2F%3F&e=';
    const headers: HeaderList = [
      ['content-type', 'application/octet-stream'],
      ['x-multi', 'one'], ['accept', '*/*'], ['x-multi', 'two'], ['x-multi', 'three'],
    ];
    const res = await invoke(target('plain'), undefined, request({ method: 'PATCH', query, headers, body: ALL_BYTES }));
    expect(res.status).toBe(200);
    const r = last();
    expect(r.method).toBe('PATCH');
    expect(r.url).toBe(`/default/test-apisix?${query}`);
    expect(r.body.equals(ALL_BYTES)).toBe(true);
    expect(values(r, 'x-multi')).toEqual(['one', 'two', 'three']);
    expect(values(r, 'content-length')).toEqual([String(ALL_BYTES.length)]);
    expect(values(r, 'content-type')).toEqual(['application/octet-stream']);
  });

  it.each(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD'])('sends method %s', async (method) => {
    const res = await invoke(target('plain'), undefined, request({ method }));
    expect(last().method).toBe(method);
    expect(res.status).toBe(200);
    if (method === 'HEAD') expect(res.body.length).toBe(0);
  });

  it('drops hop-by-hop, connection-named, pseudo and x-envoy-* headers, and the client host and content-length', async () => {
    await invoke(target('plain'), undefined, request({
      method: 'POST',
      body: Buffer.from('abc'),
      headers: [
        [':authority', 'sidecar.local'], [':path', '/x'], ['host', 'client.example'], ['content-length', '999'],
        ['connection', 'x-per-hop'], ['x-per-hop', '1'], ['keep-alive', 'timeout=5'], ['te', 'trailers'],
        ['upgrade', 'websocket'], ['proxy-authorization', 'Basic x'], ['x-envoy-internal', 'true'], ['x-kept', 'yes'],
      ],
    }));
    const r = last();
    const names = headerPairs(r).map(([n]) => n);
    for (const dropped of [':authority', ':path', 'x-per-hop', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'x-envoy-internal']) {
      expect(names).not.toContain(dropped);
    }
    expect(values(r, 'host')).toEqual([`127.0.0.1:${port}`]);
    expect(values(r, 'content-length')).toEqual(['3']);
    expect(values(r, 'x-kept')).toEqual(['yes']);
    expect(r.body.toString()).toBe('abc');
  });

  it('forwards the rest of a /aws/* path onto function_uri with one /', async () => {
    await invoke(target('fwd'), 'default/test-apisix', request({ path: '/aws/default/test-apisix', query: 'name=APISIX' }));
    expect(last().url).toBe('/default/test-apisix?name=APISIX');
    await invoke(target('fwd'), 'a%20b/c%2Fd/', request());
    expect(last().url).toBe('/a%20b/c%2Fd/');
    await invoke(target('fwd'), 'with space', request());
    expect(last().url).toBe('/with%20space');
  });

  it('refuses a forwarded path with dot segments, before sending', async () => {
    const count = received.length;
    expect(await rejection(invoke(target('fwd'), 'a/../../admin', request()))).toMatchObject({ code: 'ERR_BAD_REQUEST', status: 400 });
    expect(received.length).toBe(count);
  });

  it('sends an empty body as no body', async () => {
    await invoke(target('plain'), undefined, request({ method: 'POST', body: Buffer.alloc(0) }));
    expect(last().body.length).toBe(0);
  });

  it('asks to close the connection when keepalive is false', async () => {
    await invoke(target('no-keepalive'), undefined, request());
    expect(values(last(), 'connection')).toEqual(['close']);
  });
});

describe('invoke: the function\'s answer', () => {
  it('returns status, headers (hop-by-hop stripped, repeats kept) and the binary body', async () => {
    const res = await invoke(target('respond'), undefined, request());
    expect(res.status).toBe(201);
    expect(res.body.equals(RESPONSE_BODY)).toBe(true);
    const names = res.headers.map(([n]) => n);
    for (const dropped of ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'x-hop']) expect(names).not.toContain(dropped);
    expect(res.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['first=1; Path=/', 'second=2; HttpOnly']);
    expect(res.headers).toEqual(expect.arrayContaining([
      ['content-type', 'application/octet-stream'],
      ['x-amzn-requestid', '471289ab-d3b7-4819-9e1a-cb59cac611e0'],
    ]));
    for (const [name] of res.headers) expect(name).toBe(name.toLowerCase());
  });
});

describe('invoke: failures map to our codes', () => {
  it('a function slower than `timeout` is ERR_UPSTREAM_TIMEOUT (504)', async () => {
    const started = Date.now();
    const f = await rejection(invoke(target('slow'), undefined, request()));
    const elapsed = Date.now() - started;
    expect(f).toEqual({ code: 'ERR_UPSTREAM_TIMEOUT', status: 504, message: 'function did not answer within 200 ms' });
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2500);
  });

  it('a closed port is ERR_UPSTREAM_CONNECT (502)', async () => {
    const f = await rejection(invoke(target('closed'), undefined, request()));
    expect(f.code).toBe('ERR_UPSTREAM_CONNECT');
    expect(f.status).toBe(502);
    expect(f.message).toMatch(/ECONNREFUSED/);
  });

  it('a socket destroyed before the answer is ERR_UPSTREAM_RESET (502)', async () => {
    const f = await rejection(invoke(target('destroy'), undefined, request()));
    expect(f).toMatchObject({ code: 'ERR_UPSTREAM_RESET', status: 502 });
  });

  it('a socket destroyed in the middle of the body is ERR_UPSTREAM_RESET (502)', async () => {
    const f = await rejection(invoke(target('half'), undefined, request()));
    expect(f).toMatchObject({ code: 'ERR_UPSTREAM_RESET', status: 502 });
  });

  it('a body over max_req_body_size is ERR_BODY_TOO_LARGE (413), and nothing is sent', async () => {
    const count = received.length;
    const f = await rejection(invoke(target('small'), undefined, request({ method: 'POST', body: Buffer.alloc(11) })));
    expect(f).toMatchObject({ code: 'ERR_BODY_TOO_LARGE', status: 413 });
    expect(f.message).toContain('10 bytes');
    expect(received.length).toBe(count);
    // exactly the limit passes
    await invoke(target('small'), undefined, request({ method: 'POST', body: Buffer.alloc(10, 1) }));
    expect(last().body.length).toBe(10);
  });

  it('an already aborted signal is ERR_CLIENT_GONE (499)', async () => {
    const f = await rejection(invoke(target('plain'), undefined, request(), AbortSignal.abort()));
    expect(f).toMatchObject({ code: 'ERR_CLIENT_GONE', status: 499 });
  });

  it('a signal aborted while the function works is ERR_CLIENT_GONE, not a timeout', async () => {
    const controller = new AbortController();
    const count = received.length;
    const pending = rejection(invoke(target('slow'), undefined, request(), controller.signal));
    while (received.length === count) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    expect(await pending).toMatchObject({ code: 'ERR_CLIENT_GONE', status: 499 });
  });

  it('the pool still serves after failures', async () => {
    const res = await invoke(target('plain'), undefined, request());
    expect(res.status).toBe(200);
  });
});

describe('errorResponse', () => {
  it.each(Object.values(ERROR_CODES))('%s: JSON {"message"} with the status of the code', (code) => {
    const res = errorResponse(sidecarError(code, `something about ${code}`));
    expect(res.status).toBe(STATUS_BY_CODE[code]);
    const retry: string[] = [ERROR_CODES.OVERLOADED, ERROR_CODES.RESPONSE_BUDGET, ERROR_CODES.DRAINING];
    expect(res.headers).toEqual(retry.includes(code) ? [['content-type', 'application/json'], ['retry-after', '1']] : [['content-type', 'application/json']]);
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({ message: `something about ${code}` });
  });

  it('gives 504 for a timeout from invoke', async () => {
    let caught: unknown;
    try {
      await invoke(target('slow'), undefined, request());
    } catch (err) {
      caught = err;
    }
    const res = errorResponse(caught as Parameters<typeof errorResponse>[0]);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString())).toEqual({ message: 'function did not answer within 200 ms' });
  });

  it('escapes quotes and control characters in the message', () => {
    const res = errorResponse(sidecarError(ERROR_CODES.BAD_REQUEST, 'bad "path"\n\u0000'));
    expect(JSON.parse(res.body.toString())).toEqual({ message: 'bad "path"\n\u0000' });
    expect(res.status).toBe(400);
  });
});

describe('invoke: credentials from the route\'s credential source', () => {
  const chainRoute = (id: string, iam: Record<string, unknown>): unknown => ({
    id,
    uri: `/${id}`,
    plugins: { 'aws-lambda': { function_uri: `http://127.0.0.1:${port}/default/test-apisix`, authorization: { iam } } },
  });

  it('iam: {} signs with the default chain (environment keys here) in the environment\'s region', async () => {
    await withAwsEnvironment({ AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_SESSION_TOKEN: SESSION_TOKEN, AWS_REGION: 'ap-south-1' }, async () => {
      const credentials = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
      try {
        const [route] = validateRoutes([chainRoute('chain-env', {})]);
        const t = createTarget(route, registry, credentials);
        expect(t?.iam?.scope).toEqual({ region: 'ap-south-1', service: 'execute-api' });
        const res = await invoke(t as LambdaTarget, undefined, request());
        expect(res.status).toBe(200);
        const r = last();
        expect(values(r, 'x-amz-security-token')).toEqual([SESSION_TOKEN]);
        expect(await verifyWithOracle(r, { region: 'ap-south-1', service: 'execute-api' }, SESSION_TOKEN)).toBe(values(r, 'authorization')[0]);
      } finally {
        credentials.close();
      }
    });
  });

  it('no credentials anywhere: 502 ERR_CREDENTIALS naming the source, and nothing is sent unsigned', async () => {
    await withAwsEnvironment({}, async () => {
      const credentials = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
      try {
        const [route] = validateRoutes([chainRoute('chain-none', {})]);
        const t = createTarget(route, registry, credentials) as LambdaTarget;
        const before = received.length;
        const e = await rejection(invoke(t, undefined, request()));
        expect(e).toMatchObject({ code: ERROR_CODES.CREDENTIALS, status: 502 });
        expect(e.message).toContain('AWS default credential chain');
        expect(received.length).toBe(before);
      } finally {
        credentials.close();
      }
    });
  });

  it('routes asking for the same identity share one source; releasing the targets closes it', () => {
    const credentials = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
    const iam = { accesskey: ACCESS_KEY, secret_key: SECRET_KEY };
    const routes = validateRoutes([chainRoute('same-a', iam), chainRoute('same-b', iam)]);
    const [a, b] = routes.map((r) => createTarget(r, registry, credentials) as LambdaTarget);
    expect(a.iam?.source).toBe(b.iam?.source);
    expect(credentials.size).toBe(1);
    releaseTarget(a, registry);
    expect(credentials.size).toBe(1);
    releaseTarget(b, registry);
    expect(credentials.size).toBe(0);
  });
});

/**
 * The ext_authz front over real sockets, on each gRPC server: extAuthzHandlers on 127.0.0.1:0, a
 * grpc-js client built from the same protos, and a plain local HTTP server playing the function.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { validateRoutes } from '../../../src/config/route-schema';
import { ROUTE_CONTEXT_EXTENSION } from '../../../src/fronts/ext-authz/check-request';
import { RELAY_GRPC_CODE } from '../../../src/fronts/ext-authz/check-response';
import { extAuthzHandlers } from '../../../src/fronts/ext-authz/ext-authz-service';
import { GrpcCallLimit } from '../../../src/fronts/grpc-call-limit';
import { AttributeContextHttpRequest, CheckRequest, CheckResponse, HeaderAppendAction, HeaderValueOption, loadGrpcDefinitions } from '../../../src/fronts/grpc-definitions';
import { RequestPipeline } from '../../../src/request-pipeline';
import { CredentialRegistry } from '../../../src/aws/credential-registry';
import type { RouteTarget } from '../../../src/invoke/route-target';
import { createTarget, DispatcherRegistry } from '../../../src/invoke/target';
import { LiveRoutes } from '../../../src/routing/live-routes';
import { RouteTable } from '../../../src/routing/route-table';
import type { GrpcListener } from '../../../src/fronts/grpc/grpc-listener';
import { GRPC_SERVER_NAMES, startGrpcListener } from '../../support/grpc-listener';

const UTF8_BODY = JSON.stringify({ greeting: 'héllo wörld ✓ 🚀' });
/** Every byte value: not valid UTF-8. */
const ALL_BYTES = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 31 + 7) & 255));
const SLOW_FUNCTION_DELAY_MS = 1500;

interface Received {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** Set when the sidecar closed the connection before we answered. */
  aborted: boolean;
}

type CheckClient = grpc.Client & {
  Check(req: CheckRequest, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CheckResponse) => void): grpc.ClientUnaryCall;
};

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on (bound, read, closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The denied headers of one name: value and append_action (0, the proto default, arrives absent). */
function headerValues(options: HeaderValueOption[] | undefined, name: string): Array<{ value: string | undefined; action: number }> {
  return (options ?? []).filter((o) => o.header?.key === name).map((o) => {
    // Envoy 1.40 drops denied headers with append: true; the front never sets it.
    expect(o.append).toBeUndefined();
    return { value: o.header?.value, action: o.append_action ?? HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD };
  });
}

const SET = HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
const ADD = HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD;

function jsonBody(res: CheckResponse): Record<string, unknown> {
  return JSON.parse(res.denied_response?.body ?? '') as Record<string, unknown>;
}

describe.each(GRPC_SERVER_NAMES)('ext_authz front (Authorization/Check), %s server', (serverName) => {
  const received: Received[] = [];
  let fnServer: http.Server;
  let grpcServer: GrpcListener;
  let client: CheckClient;
  let registry: DispatcherRegistry;
  let pipeline: RequestPipeline;

  beforeAll(async () => {
    fnServer = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      const rec: Received = { method: req.method ?? '', url: req.url ?? '', headers: [], body: Buffer.alloc(0), aborted: false };
      for (let i = 0; i < req.rawHeaders.length; i += 2) rec.headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        rec.body = Buffer.concat(chunks);
        received.push(rec);
        const path = (req.url ?? '').split('?')[0];
        switch (path) {
          case '/fn/hello':
            res.writeHead(200, [
              'content-type', 'application/json; charset=utf-8',
              'set-cookie', 'a=1; Path=/',
              'set-cookie', 'b=2; Path=/',
              'x-fn', 'yes',
            ]);
            res.end(UTF8_BODY);
            return;
          case '/fn/echo':
            res.writeHead(201, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ url: req.url, sha256: createHash('sha256').update(rec.body).digest('hex'), length: rec.body.length }));
            return;
          case '/fn/binary':
            res.writeHead(200, { 'content-type': 'application/octet-stream' });
            res.end(ALL_BYTES);
            return;
          case '/fn/slow': {
            const timer = setTimeout(() => {
              if (!res.destroyed) res.end('late');
            }, SLOW_FUNCTION_DELAY_MS);
            res.on('close', () => clearTimeout(timer));
            return;
          }
          default:
            res.writeHead(404);
            res.end();
        }
      });
    });
    const fnPort = await listen(fnServer);
    const fn = (path: string): string => `http://127.0.0.1:${fnPort}${path}`;
    const routes = validateRoutes([
      { id: 'hello', uri: '/hello', plugins: { 'aws-lambda': { function_uri: fn('/fn/hello') } } },
      { id: 'echo', uri: '/echo', plugins: { 'aws-lambda': { function_uri: fn('/fn/echo') } } },
      { id: 'binary', uri: '/binary', plugins: { 'aws-lambda': { function_uri: fn('/fn/binary') } } },
      { id: 'slow', uri: '/slow', plugins: { 'aws-lambda': { function_uri: fn('/fn/slow'), timeout: 200 } } },
      { id: 'patient', uri: '/patient', plugins: { 'aws-lambda': { function_uri: fn('/fn/slow'), timeout: 10_000 } } },
      { id: 'refused', uri: '/refused', plugins: { 'aws-lambda': { function_uri: `http://127.0.0.1:${await closedPort()}/fn` } } },
      { id: 'small', uri: '/small', plugins: { 'aws-lambda': { function_uri: fn('/fn/echo'), max_req_body_size: 16 } } },
      { id: 'named', uri: '/only-by-name', plugins: { 'aws-lambda': { function_uri: fn('/fn/hello') } } },
      { id: 'plain', uri: '/plain', plugins: {} },
    ]);
    registry = new DispatcherRegistry();
    const table = new RouteTable<RouteTarget | null>(routes, (r) => createTarget(r, registry, new CredentialRegistry({ logger: pino({ level: 'silent' }) })));
    pipeline = new RequestPipeline(new LiveRoutes(table, () => undefined));

    const defs = loadGrpcDefinitions();
    let grpcPort: number;
    ({ listener: grpcServer, port: grpcPort } = await startGrpcListener(serverName, [[defs.authorization, extAuthzHandlers(pipeline, pino({ level: 'silent' }))]]));
    const Client = grpc.makeGenericClientConstructor(defs.authorization as unknown as grpc.ServiceDefinition, 'Authorization');
    client = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as CheckClient;
  });

  afterAll(async () => {
    client?.close();
    grpcServer?.forceShutdown();
    await registry?.closeAll();
    fnServer?.closeAllConnections();
    await new Promise<void>((resolve) => (fnServer ? fnServer.close(() => resolve()) : resolve()));
  });

  beforeEach(() => {
    received.length = 0;
  });

  function check(req: CheckRequest, deadlineMs = 10_000): Promise<CheckResponse> {
    return new Promise((resolve, reject) => {
      client.Check(req, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as CheckResponse)));
    });
  }

  /** A CheckRequest like Envoy's with encode_raw_headers off (the merged `headers` map). */
  function mapRequest(method: string, path: string, extra: Partial<AttributeContextHttpRequest> = {}, contextExtensions?: Record<string, string>): CheckRequest {
    return {
      attributes: {
        request: {
          http: {
            method,
            path,
            host: 'example.test',
            headers: { ':authority': 'example.test', ':method': method, ':path': path, 'user-agent': 'unit' },
            ...extra,
          },
        },
        context_extensions: contextExtensions,
      },
    };
  }

  it('allows a request no route matches: status 0 and ok_response', async () => {
    const res = await check(mapRequest('GET', '/nowhere?x=1'));
    expect(res.status?.code ?? 0).toBe(0);
    expect(res.ok_response).toBeDefined();
    expect(res.denied_response).toBeUndefined();
    expect(received).toHaveLength(0);
  });

  it('allows a route without the aws-lambda plugin', async () => {
    const res = await check(mapRequest('GET', '/plain'));
    expect(res.status?.code ?? 0).toBe(0);
    expect(res.ok_response).toBeDefined();
  });

  it('relays the function answer as denied_response: status 200, repeated set-cookie, UTF-8 body', async () => {
    const res = await check(mapRequest('GET', '/hello?name=APISIX'));
    expect(res.status?.code).toBe(RELAY_GRPC_CODE);
    expect(res.ok_response).toBeUndefined();
    const denied = res.denied_response!;
    expect(denied.status?.code).toBe(200);
    expect(denied.body).toBe(UTF8_BODY);
    expect(headerValues(denied.headers, 'set-cookie')).toEqual([
      { value: 'a=1; Path=/', action: SET },
      { value: 'b=2; Path=/', action: ADD },
    ]);
    expect(headerValues(denied.headers, 'content-type')).toEqual([{ value: 'application/json; charset=utf-8', action: SET }]);
    expect(headerValues(denied.headers, 'x-fn')).toEqual([{ value: 'yes', action: SET }]);
    // Hop-by-hop and length headers never go back: Envoy sets content-length for its local reply.
    expect(headerValues(denied.headers, 'content-length')).toEqual([]);
    expect(headerValues(denied.headers, 'connection')).toEqual([]);
    for (const h of denied.headers ?? []) expect(h.header?.raw_value).toBeUndefined();
    expect(received).toHaveLength(1);
    expect(received[0].url).toBe('/fn/hello?name=APISIX');
  });

  it('sends HEAD answers without a body', async () => {
    const res = await check(mapRequest('HEAD', '/hello'));
    expect(res.denied_response?.status?.code).toBe(200);
    expect(res.denied_response?.body ?? '').toBe('');
  });

  it('lets the lambda_route context extension pick the route, whatever the path', async () => {
    const res = await check(mapRequest('GET', '/some/other/path', {}, { [ROUTE_CONTEXT_EXTENSION]: 'named' }));
    expect(res.status?.code).toBe(RELAY_GRPC_CODE);
    expect(res.denied_response?.body).toBe(UTF8_BODY);
    expect(received.map((r) => r.url)).toEqual(['/fn/hello']);
  });

  it('answers 404 JSON for a lambda_route the sidecar does not have', async () => {
    const res = await check(mapRequest('GET', '/hello', {}, { [ROUTE_CONTEXT_EXTENSION]: 'no-such-route' }));
    expect(res.status?.code).not.toBe(0);
    expect(res.denied_response?.status?.code).toBe(404);
    expect(headerValues(res.denied_response?.headers, 'content-type')).toEqual([{ value: 'application/json', action: SET }]);
    expect(jsonBody(res).message).toMatch(/no-such-route/);
    expect(received).toHaveLength(0);
  });

  it('refuses to relay a binary body: 502 JSON pointing at ext_proc', async () => {
    const res = await check(mapRequest('GET', '/binary'));
    expect(res.status?.code).not.toBe(0);
    expect(res.denied_response?.status?.code).toBe(502);
    expect(jsonBody(res).message).toMatch(/binary.*ext_authz.*ext_proc/);
  });

  it('answers 504 when the function is slower than the route timeout', async () => {
    const res = await check(mapRequest('GET', '/slow'));
    expect(res.denied_response?.status?.code).toBe(504);
    expect(jsonBody(res).message).toMatch(/200 ms/);
  });

  it('answers 502 when the function endpoint refuses the connection', async () => {
    const res = await check(mapRequest('GET', '/refused'));
    expect(res.denied_response?.status?.code).toBe(502);
    expect(jsonBody(res).message).toMatch(/ECONNREFUSED/);
  });

  it.each<[string, CheckRequest]>([
    ['no attributes', {}],
    ['no http request', { attributes: { request: {} } }],
    ['no method', { attributes: { request: { http: { path: '/hello' } } } }],
    ['no path', { attributes: { request: { http: { method: 'GET' } } } }],
  ])('answers 400 JSON for a malformed CheckRequest (%s)', async (_name, req) => {
    const res = await check(req);
    expect(res.status?.code).not.toBe(0);
    expect(res.denied_response?.status?.code).toBe(400);
    expect(jsonBody(res).message).toMatch(/CheckRequest/);
  });

  it('passes raw_body bytes and header_map raw_value headers to the function intact', async () => {
    const header = (key: string, value: string): { key: string; raw_value: Buffer } => ({ key, raw_value: Buffer.from(value, 'latin1') });
    const res = await check({
      attributes: {
        request: {
          http: {
            // The sanitised copies Envoy also sends: the raw pseudo-headers win.
            method: 'POST',
            path: '/echo?q=%C3%A9&x=!',
            host: 'example.test',
            size: ALL_BYTES.length,
            raw_body: ALL_BYTES,
            header_map: {
              headers: [
                header(':authority', 'example.test'),
                header(':method', 'POST'),
                header(':path', '/echo?q=%C3%A9&x=%FF'),
                header('content-type', 'application/octet-stream'),
                header('content-length', String(ALL_BYTES.length)),
                header('x-latin1', 'caf\xe9'),
                header('x-utf8', Buffer.from('ünï', 'utf8').toString('latin1')),
                header('x-repeat', 'one'),
                header('x-repeat', 'two'),
                header('x-envoy-auth-partial-body', 'false'),
              ],
            },
          },
        },
      },
    });
    expect(res.denied_response?.body).toMatch(/sha256/);
    expect(res.denied_response?.status?.code).toBe(201);
    expect(received).toHaveLength(1);
    const got = received[0];
    expect(got.method).toBe('POST');
    expect(got.body.equals(ALL_BYTES)).toBe(true);
    expect(got.url).toBe('/fn/echo?q=%C3%A9&x=%FF');
    const h = (name: string): string[] => got.headers.filter(([n]) => n === name).map(([, v]) => v);
    expect(h('content-type')).toEqual(['application/octet-stream']);
    expect(h('x-repeat')).toEqual(['one', 'two']);
    // Node's HTTP server decodes header bytes as latin1: the same bytes arrived.
    expect(h('x-latin1')).toEqual(['caf\xe9']);
    expect(Buffer.from(h('x-utf8')[0] ?? '', 'latin1').toString('utf8')).toBe('ünï');
    expect(h('x-envoy-auth-partial-body')).toEqual([]);
    expect(JSON.parse(res.denied_response?.body ?? '')).toMatchObject({ length: ALL_BYTES.length, sha256: createHash('sha256').update(ALL_BYTES).digest('hex') });
  });

  it('falls back to the string body and the merged headers map', async () => {
    const res = await check(mapRequest('PUT', '/echo', { body: 'héllo', headers: { ':method': 'PUT', ':path': '/echo', 'content-type': 'text/plain; charset=utf-8' } }));
    expect(res.denied_response?.status?.code).toBe(201);
    expect(received[0].body.toString('utf8')).toBe('héllo');
    expect(received[0].method).toBe('PUT');
  });

  it.each<[string, Partial<AttributeContextHttpRequest>]>([
    ['raw_body longer than max_req_body_size', { raw_body: Buffer.alloc(17, 1) }],
    ['size above max_req_body_size', { raw_body: Buffer.alloc(4, 1), size: 17 }],
    ['a body Envoy cut short', { raw_body: Buffer.alloc(4, 1), header_map: { headers: [{ key: 'x-envoy-auth-partial-body', raw_value: Buffer.from('true') }] } }],
  ])('answers 413 for %s without calling the function', async (_name, extra) => {
    const res = await check(mapRequest('POST', '/small', extra));
    expect(res.denied_response?.status?.code).toBe(413);
    expect(jsonBody(res).message).toMatch(/body/);
    expect(received).toHaveLength(0);
  });

  it('refuses to drop a body Envoy did not attach (with_request_body missing)', async () => {
    const res = await check(mapRequest('POST', '/echo', { headers: { ':method': 'POST', ':path': '/echo', 'content-length': '5' } }));
    expect(res.denied_response?.status?.code).toBe(500);
    expect(jsonBody(res).message).toMatch(/with_request_body/);
    expect(received).toHaveLength(0);
  });

  it('aborts the function call when the Check call is cancelled', async () => {
    const started = Date.now();
    await expect(check(mapRequest('GET', '/patient'), 300)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    // The sidecar closes the function connection long before the function would answer.
    for (let i = 0; i < 50 && received[0]?.aborted !== true; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toHaveLength(1);
    expect(received[0].aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(SLOW_FUNCTION_DELAY_MS);
  });
  it('past the call limit: 503 with Retry-After at once, without calling the function; the slot frees when the call ends', async () => {
    const { listener: limited, port } = await startGrpcListener(serverName, [[loadGrpcDefinitions().authorization, extAuthzHandlers(pipeline, pino({ level: 'silent' }), new GrpcCallLimit(1))]]);
    const Client = grpc.makeGenericClientConstructor(loadGrpcDefinitions().authorization as unknown as grpc.ServiceDefinition, 'Authorization');
    const limitedClient = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as CheckClient;
    const call = (req: CheckRequest): Promise<CheckResponse> =>
      new Promise((resolve, reject) => {
        limitedClient.Check(req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as CheckResponse)));
      });
    try {
      const holding = call(mapRequest('GET', '/slow')); // holds the only slot until its 200 ms timeout
      await new Promise((r) => setTimeout(r, 50));
      const refused = await call(mapRequest('GET', '/hello'));
      expect(refused.denied_response?.status?.code).toBe(503);
      expect(headerValues(refused.denied_response?.headers, 'retry-after').map((h) => h.value)).toEqual(['1']);
      expect(jsonBody(refused)).toEqual({ message: 'the sidecar is at its limit of 1 concurrent gRPC requests; retry later' });
      expect(received.map((r) => r.url)).toEqual(['/fn/slow']);
      expect((await holding).denied_response?.status?.code).toBe(504);
      expect((await call(mapRequest('GET', '/hello'))).denied_response?.status?.code).toBe(200);
    } finally {
      limitedClient.close();
      limited.forceShutdown();
    }
  });
});

// The RequestPipeline's bounds across requests (issue 8 item 4a): at most maxInflightRequests at once,
// above it 503 ERR_OVERLOADED with Retry-After, before anything is sent, logged once per interval.
// A real stand-in function (port 0) holds /slow answers until the test releases them.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { validateRoutes } from '../../src/config/route-schema';
import { RequestPipeline, type RoutedRequest } from '../../src/request-pipeline';
import { errorResponse } from '../../src/invoke/error-response';
import type { ClientRequest } from '../../src/invoke/client-request';
import type { RouteTarget } from '../../src/invoke/route-target';
import { createTarget, DispatcherRegistry } from '../../src/invoke/target';
import { LiveRoutes } from '../../src/routing/live-routes';
import { RouteTable } from '../../src/routing/route-table';
import type { SidecarError } from '../../src/errors';
import { CredentialRegistry } from '../../src/aws/credential-registry';

/** These routes sign with no keys: a registry for the type, never asked for credentials. */
const NO_CREDENTIALS = new CredentialRegistry({ logger: pino({ level: 'silent' }) });

const MAX_INFLIGHT = 3;
const OVER = 5;

let server: Server;
const held: ServerResponse[] = [];
let received = 0;
let registry: DispatcherRegistry;
let pipeline: RequestPipeline;
const logLines: Array<Record<string, unknown>> = [];

function request(requestId = 'req-1'): ClientRequest {
  return { method: 'GET', path: '/slow', query: '', host: 'sidecar.local', headers: [['x-request-id', requestId]], body: null };
}

function routed(): RoutedRequest {
  const r = pipeline.route({ method: 'GET', path: '/slow', host: 'sidecar.local' });
  if (r.action === 'pass') throw new Error('no route for /slow');
  return r;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    received++;
    req.resume();
    held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  registry = new DispatcherRegistry();
  const routes = validateRoutes([{ id: 'slow', uri: '/slow', plugins: { 'aws-lambda': { function_uri: `${base}/slow`, keepalive_pool: 10, timeout: 10_000 } } }]);
  const table = new RouteTable<RouteTarget | null>(routes, (r) => createTarget(r, registry, NO_CREDENTIALS));
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  pipeline = new RequestPipeline(new LiveRoutes(table, () => undefined), { maxInflightRequests: MAX_INFLIGHT, logger: pino({ level: 'warn' }, sink) });
});

afterAll(async () => {
  for (const res of held) res.end();
  await registry.closeAll();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('answers requests above maxInflightRequests 503 ERR_OVERLOADED with Retry-After, sends none of them, and logs once', async () => {
  const inflight = Array.from({ length: MAX_INFLIGHT }, () => {
    const r = routed();
    return pipeline.invoke(r, request()).finally(r.done);
  });
  expect(pipeline.inflightRequests).toBe(MAX_INFLIGHT);

  const refused: SidecarError[] = [];
  for (let i = 0; i < OVER; i++) {
    const r = routed();
    await pipeline.invoke(r, request(`over-${i}`)).then(() => undefined, (err: SidecarError) => refused.push(err)).finally(r.done);
  }
  expect(refused.map((e) => [e.code, e.status])).toEqual(Array(OVER).fill(['ERR_OVERLOADED', 503]));
  const answer = errorResponse(refused[0]);
  expect(answer.headers).toContainEqual(['retry-after', '1']);
  expect(JSON.parse(answer.body.toString())).toEqual({ message: expect.stringContaining('--max-inflight-requests') });

  const overloadLines = logLines.filter((l) => l.code === 'ERR_OVERLOADED');
  expect(overloadLines).toEqual([expect.objectContaining({ level: 40, route: 'slow', requestId: 'over-0', maxInflightRequests: MAX_INFLIGHT, requests: 1 })]);

  // Only the admitted ones reached the function; once they finish, there is room again.
  while (received < MAX_INFLIGHT) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(received).toBe(MAX_INFLIGHT);
  for (const res of held.splice(0)) res.end('done');
  expect((await Promise.all(inflight)).map((r) => r.status)).toEqual(Array(MAX_INFLIGHT).fill(200));
  expect(pipeline.inflightRequests).toBe(0);
  const r = routed();
  const next = pipeline.invoke(r, request()).finally(r.done);
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  held.splice(0).forEach((res) => res.end('ok'));
  expect((await next).status).toBe(200);
});

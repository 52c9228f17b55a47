// Issue 8 item 3: a request whose client left while it waited for a pooled connection must never
// reach the function, and must not delay the requests after it. A real stand-in function counts
// what it receives per path and holds /slow answers until the test releases them.
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateRoutes } from '../../../src/config/route-schema';
import { invoke } from '../../../src/invoke/invoke';
import type { ClientRequest } from '../../../src/invoke/client-request';
import { createTarget, DispatcherRegistry, type LambdaTarget } from '../../../src/invoke/target';
import { settlesWithin } from '../../support/settles-within';
import pino from 'pino';
import { CredentialRegistry } from '../../../src/aws/credential-registry';

/** These routes sign with no keys: a registry for the type, never asked for credentials. */
const NO_CREDENTIALS = new CredentialRegistry({ logger: pino({ level: 'silent' }) });

const KEEPALIVE_POOL = 2;
const ABANDONED = 6;
/** A healthy pool answers a loopback request in milliseconds; far below the 3 s route timeout. */
const PROMPT_MS = 1000;

let server: Server;
const receivedByPath = new Map<string, number>();
const heldSlow: ServerResponse[] = [];
let registry: DispatcherRegistry;
const targets = new Map<string, LambdaTarget>();

function received(path: string): number {
  return receivedByPath.get(path) ?? 0;
}

function request(): ClientRequest {
  return { method: 'POST', path: '/x', query: '', host: 'sidecar.local', headers: [], body: Buffer.from('payload') };
}

function within<T>(p: Promise<T>): Promise<T | 'hung'> {
  return settlesWithin(p, PROMPT_MS);
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    receivedByPath.set(path, received(path) + 1);
    req.resume();
    req.on('end', () => {
      if (path === '/slow') heldSlow.push(res);
      else res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  registry = new DispatcherRegistry();
  // Same origin and settings: the three routes share one pool of KEEPALIVE_POOL connections.
  const routes = validateRoutes(['slow', 'abandoned', 'next'].map((id) => ({
    id,
    uri: `/${id}`,
    plugins: { 'aws-lambda': { function_uri: `${base}/${id}`, keepalive_pool: KEEPALIVE_POOL } },
  })));
  for (const r of routes) targets.set(r.id, createTarget(r, registry, NO_CREDENTIALS) as LambdaTarget);
});

afterAll(async () => {
  for (const res of heldSlow) res.end('late');
  await registry.closeAll();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('a request abandoned while it waits for a connection is answered at once, never sent, and delays nobody', async () => {
  const t = (id: string): LambdaTarget => targets.get(id) as LambdaTarget;
  expect(t('slow').dispatcher).toBe(t('abandoned').dispatcher);
  // Saturate the pool with slow requests the function holds.
  const slow = Array.from({ length: KEEPALIVE_POOL }, () => invoke(t('slow'), undefined, request()));
  await until('the slow requests to reach the function', () => received('/slow') === KEEPALIVE_POOL);

  // These wait for a connection; their clients leave.
  const clients = Array.from({ length: ABANDONED }, () => new AbortController());
  const abandoned = clients.map((c) => invoke(t('abandoned'), undefined, request(), c.signal).then(() => 'answered', (err: { code?: unknown }) => String(err.code)));
  for (const c of clients) c.abort();
  expect(await within(Promise.all(abandoned))).toEqual(Array(ABANDONED).fill('ERR_CLIENT_GONE'));

  // The function finishes the slow ones; the next request goes straight through.
  for (const res of heldSlow.splice(0)) res.end('done');
  expect((await Promise.all(slow)).map((r) => r.status)).toEqual(Array(KEEPALIVE_POOL).fill(200));
  const started = Date.now();
  const next = await within(invoke(t('next'), undefined, request()));
  expect(next).not.toBe('hung');
  expect(Date.now() - started).toBeLessThan(PROMPT_MS);
  expect(received('/next')).toBe(1);
  // Sent in order, the abandoned ones would have reached the function before `next`.
  expect(received('/abandoned')).toBe(0);
  expect(t('abandoned').gate.waitingCount).toBe(0);
});

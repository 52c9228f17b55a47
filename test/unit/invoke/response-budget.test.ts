// The buffered-answer budget inside invoke's dispatch handler (issue 8 item 4b), against a real
// stand-in function: an answer of known length takes its size at its headers (refused before any
// byte when it cannot fit), a chunked one takes twice its bytes as they arrive, bodiless answers
// (HEAD) take nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateRoutes } from '../../../src/config/route-schema';
import { invoke } from '../../../src/invoke/invoke';
import type { ClientRequest } from '../../../src/invoke/client-request';
import { BudgetHold, ResponseBudget } from '../../../src/invoke/response-budget';
import { createTarget, DispatcherRegistry, type LambdaTarget } from '../../../src/invoke/target';
import pino from 'pino';
import { CredentialRegistry } from '../../../src/aws/credential-registry';

/** These routes sign with no keys: a registry for the type, never asked for credentials. */
const NO_CREDENTIALS = new CredentialRegistry({ logger: pino({ level: 'silent' }) });

const ANSWER_BYTES = 1024 * 1024;
const ANSWER = Buffer.alloc(ANSWER_BYTES, 7);

let server: Server;
let registry: DispatcherRegistry;
let target: LambdaTarget;

function request(path: string, method = 'GET'): ClientRequest {
  return { method, path, query: '', host: 'sidecar.local', headers: [], body: null };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if ((req.url ?? '').endsWith('/chunked')) {
      res.write(ANSWER.subarray(0, ANSWER_BYTES / 2));
      setImmediate(() => res.end(ANSWER.subarray(ANSWER_BYTES / 2)));
    } else {
      res.setHeader('content-length', ANSWER_BYTES);
      res.end(req.method === 'HEAD' ? undefined : ANSWER);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  registry = new DispatcherRegistry();
  const [route] = validateRoutes([{ id: 'fn', uri: '/fn/*', plugins: { 'aws-lambda': { function_uri: base } } }]);
  target = createTarget(route, registry, NO_CREDENTIALS) as LambdaTarget;
});

afterAll(async () => {
  await registry.closeAll();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function outcome(p: Promise<{ status: number; body: Buffer }>): Promise<string> {
  return p.then((r) => `${r.status} ${r.body.length}`, (err: { code?: unknown; status?: unknown }) => `${String(err.code)} ${String(err.status)}`);
}

it('an answer with Content-Length takes its size at its headers, and is refused when it cannot fit', async () => {
  const budget = new ResponseBudget(ANSWER_BYTES + 10);
  const first = new BudgetHold(budget);
  expect(await outcome(invoke(target, 'known', request('/fn/known'), undefined, { budget: first }))).toBe(`200 ${ANSWER_BYTES}`);
  expect(budget.held).toBe(ANSWER_BYTES);
  // The first one still holds its bytes: the second cannot fit.
  const second = new BudgetHold(budget);
  expect(await outcome(invoke(target, 'known', request('/fn/known'), undefined, { budget: second }))).toBe('ERR_RESPONSE_BUDGET 503');
  second.release();
  expect(budget.held).toBe(ANSWER_BYTES);
  first.release();
  expect(budget.held).toBe(0);
  // Given back: it fits again.
  const third = new BudgetHold(budget);
  expect(await outcome(invoke(target, 'known', request('/fn/known'), undefined, { budget: third }))).toBe(`200 ${ANSWER_BYTES}`);
  third.release();
});

it('a chunked answer takes twice its bytes as they arrive, and is cut when it would cross the budget', async () => {
  const roomy = new ResponseBudget(2 * ANSWER_BYTES);
  const hold = new BudgetHold(roomy);
  expect(await outcome(invoke(target, 'chunked', request('/fn/chunked'), undefined, { budget: hold }))).toBe(`200 ${ANSWER_BYTES}`);
  expect(roomy.held).toBe(2 * ANSWER_BYTES);
  hold.release();

  const tight = new ResponseBudget(ANSWER_BYTES);
  const cut = new BudgetHold(tight);
  expect(await outcome(invoke(target, 'chunked', request('/fn/chunked'), undefined, { budget: cut }))).toBe('ERR_RESPONSE_BUDGET 503');
  expect(tight.held).toBeLessThanOrEqual(ANSWER_BYTES);
  cut.release();
  expect(tight.held).toBe(0);
});

it('a HEAD answer announcing a large length takes nothing', async () => {
  const budget = new ResponseBudget(10);
  const hold = new BudgetHold(budget);
  expect(await outcome(invoke(target, 'known', request('/fn/known', 'HEAD'), undefined, { budget: hold }))).toBe('200 0');
  expect(budget.held).toBe(0);
});

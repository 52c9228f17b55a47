/**
 * Bounds of the invoke path, end to end through the real sidecar process (dist/cli.js) and its
 * HTTP front, with a stand-in function in this process that counts what it receives per path:
 *
 * - a request whose client left while it waited for a pooled connection is never sent;
 * - SIGTERM does not wait for upstream calls past --drain-timeout-ms: the waiting client gets
 *   503 ERR_DRAINING and the sidecar logs it;
 * - many concurrent large answers stay within the buffered-answer budget: RSS stays under the
 *   README's bound and the answers over the budget are 503 ERR_RESPONSE_BUDGET.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freeEnvoyPorts, renderEnvoyConfig, sleep, startEnvoy, startPlainUpstream, startSidecar, stopEverything, waitFor, type PlainUpstream, type SidecarProcess } from './support/processes';

const KEEPALIVE_POOL = 2;
const ABANDONED = 6;
const DRAIN_TIMEOUT_MS = 1000;
/** What the sidecar may add to the drain timeout: the 503s' grace, closing pools, exit. */
const EXIT_MARGIN_MS = 1500;
const LARGE_ANSWER_BYTES = 30 * 1024 * 1024;
const LARGE_CONCURRENT = 20;
/** README `## Limits`: RSS bound with the default budget (128 MiB) and the CLI's heap flags. */
const RSS_BOUND_BYTES = 400 * 1024 * 1024;
const RSS_SAMPLE_INTERVAL_MS = 10;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface StandIn {
  readonly origin: string;
  received(path: string): number;
  /** Answers every held request (paths starting with /slow are held until then). */
  releaseHeld(): void;
  close(): Promise<void>;
}

const LARGE_ANSWER = Buffer.alloc(LARGE_ANSWER_BYTES, 'x');

async function startStandIn(): Promise<StandIn> {
  const counts = new Map<string, number>();
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '').split('?')[0];
    counts.set(p, (counts.get(p) ?? 0) + 1);
    req.resume();
    req.on('end', () => {
      if (p.startsWith('/slow')) held.push(res);
      else if (p.startsWith('/large-chunked')) {
        res.write(LARGE_ANSWER.subarray(0, LARGE_ANSWER_BYTES / 2)); // no content-length: chunked
        res.end(LARGE_ANSWER.subarray(LARGE_ANSWER_BYTES / 2));
      } else if (p.startsWith('/large')) res.end(LARGE_ANSWER);
      else res.end('"ok"');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: (p) => counts.get(p) ?? 0,
    releaseHeld: () => {
      for (const res of held.splice(0)) res.end('"late"');
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function routesFile(standIn: StandIn, ids: readonly string[], keepalivePool = KEEPALIVE_POOL): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bounds-'));
  const file = path.join(dir, 'routes.json');
  const routes = ids.map((id) => ({
    id,
    uri: `/${id}`,
    plugins: { 'aws-lambda': { function_uri: `${standIn.origin}/${id}`, keepalive_pool: keepalivePool, timeout: 30_000 } },
  }));
  fs.writeFileSync(file, JSON.stringify({ routes }));
  return file;
}

function sidecarArgs(file: string, ...extra: string[]): string[] {
  return ['--config', file, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--log-level', 'debug', ...extra];
}

/** Where `send` goes: the sidecar's HTTP front, or an Envoy listener in front of it. */
function httpFront(sidecar: SidecarProcess): { host: string; port: number } {
  const [host, port] = (sidecar.httpAddress as string).split(':');
  return { host, port: Number(port) };
}

function send(to: { host: string; port: number }, p: string, opts: { onRequest?: (req: http.ClientRequest) => void; countOnly?: boolean } = {}): Promise<Answer & { bodyBytes: number }> {
  const { host, port } = to;
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: p, method: 'POST', agent: false, headers: { 'content-type': 'text/plain' } }, (res) => {
      const chunks: Buffer[] = [];
      let bodyBytes = 0;
      res.on('data', (c: Buffer) => {
        bodyBytes += c.length;
        if (opts.countOnly !== true || bodyBytes < 4096) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), bodyBytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end('payload');
    opts.onRequest?.(req);
  });
}

interface TcpEntry {
  /** /proc/net/tcp `st`: 01 ESTABLISHED, 08 CLOSE_WAIT... */
  state: string;
  /** Bytes the kernel holds that the process has not read yet. */
  rxQueue: number;
}

/**
 * The sidecar's end of each loopback connection from `clientPorts`, from /proc/net/tcp: what the
 * sidecar has read, and whether it closed the connection, without a sleep or a log to wait for.
 */
function sidecarSockets(sidecarPort: number, clientPorts: readonly number[]): Map<number, TcpEntry> {
  const out = new Map<number, TcpEntry>();
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1].split(':')[1], 16);
    const remote = parseInt(f[2].split(':')[1], 16);
    if (local === sidecarPort && clientPorts.includes(remote)) out.set(remote, { state: f[3], rxQueue: parseInt(f[4].split(':')[1], 16) });
  }
  return out;
}

let standIn: StandIn;
let sidecar: SidecarProcess | undefined;

beforeEach(async () => {
  standIn = await startStandIn();
});

afterEach(async () => {
  await stopEverything();
  sidecar = undefined;
  standIn.releaseHeld();
  await standIn.close();
});

it('a request whose client left while it waited for a pooled connection is never sent and delays nobody', async () => {
  sidecar = await startSidecar(sidecarArgs(routesFile(standIn, ['slow', 'abandoned', 'next'])));
  const s = sidecar;
  const slow = Array.from({ length: KEEPALIVE_POOL }, () => send(httpFront(s), '/slow'));
  await waitFor('the slow requests to hold the pool', () => standIn.received('/slow') === KEEPALIVE_POOL, 5000);
  const abandoned: http.ClientRequest[] = [];
  const clientPorts: number[] = [];
  const gone = Array.from({ length: ABANDONED }, () => send(httpFront(s), '/abandoned', {
    onRequest: (req) => {
      abandoned.push(req);
      req.on('socket', (socket) => socket.on('connect', () => clientPorts.push(socket.localPort as number)));
    },
  }).catch(() => 'client gone'));
  const sidecarPort = Number((s.httpAddress as string).split(':')[1]);
  await waitFor('the sidecar to read the abandoned requests', () => {
    const sockets = sidecarSockets(sidecarPort, clientPorts);
    return clientPorts.length === ABANDONED && sockets.size === ABANDONED && [...sockets.values()].every((e) => e.rxQueue === 0);
  }, 5000);
  await sleep(50); // from read bytes to the request waiting for a connection: a few ticks
  for (const req of abandoned) req.destroy();
  expect(await Promise.all(gone)).toEqual(Array(ABANDONED).fill('client gone'));
  // The sidecar closed its end: it has seen the clients go (and dropped their requests).
  await waitFor('the sidecar to close the abandoned connections', () => {
    const states = [...sidecarSockets(sidecarPort, clientPorts).values()].map((e) => e.state);
    return !states.includes('01') && !states.includes('08');
  }, 5000);

  standIn.releaseHeld();
  expect((await Promise.all(slow)).map((a) => a.status)).toEqual(Array(KEEPALIVE_POOL).fill(200));
  const started = Date.now();
  const next = await send(httpFront(s), '/next');
  expect(next.status).toBe(200);
  expect(Date.now() - started).toBeLessThan(1000);
  // FIFO: queued abandoned requests, had they been kept, would have reached the function first.
  expect(standIn.received('/next')).toBe(1);
  expect(standIn.received('/abandoned')).toBe(0);
});

async function expectDrainedWith503(s: SidecarProcess, waiting: Promise<Answer>): Promise<void> {
  await waitFor('the request to reach the function', () => standIn.received('/slow-fn') === 1, 5000);
  const started = Date.now();
  const exited = s.stop('SIGTERM', 15_000);
  const answer = await waiting;
  const code = await exited;
  const elapsedMs = Date.now() - started;

  expect(code).toBe(0);
  expect(elapsedMs).toBeGreaterThanOrEqual(DRAIN_TIMEOUT_MS - 50);
  expect(elapsedMs).toBeLessThan(DRAIN_TIMEOUT_MS + EXIT_MARGIN_MS);
  expect(answer.status).toBe(503);
  expect(answer.headers['retry-after']).toBe('1');
  expect(JSON.parse(answer.body)).toEqual({ message: expect.stringContaining('shutting down') });
  // The warn line of the front (the debug 'request' line, when on, carries the code as well).
  const lines = s.logLines().filter((l) => l.code === 'ERR_DRAINING' && l.msg !== 'request');
  expect(lines).toEqual([expect.objectContaining({ route: 'slow-fn', status: 503 })]);
}

it('SIGTERM answers a request still waiting on the function 503 ERR_DRAINING at the drain timeout, logs it, and exits (HTTP front)', async () => {
  sidecar = await startSidecar(sidecarArgs(routesFile(standIn, ['slow-fn']), '--drain-timeout-ms', String(DRAIN_TIMEOUT_MS)));
  await expectDrainedWith503(sidecar, send(httpFront(sidecar), '/slow-fn'));
});

describe('through a real Envoy (envoy/envoy.yaml, ext_proc)', () => {
  let upstream: PlainUpstream | undefined;
  afterEach(async () => {
    await upstream?.close();
    upstream = undefined;
  });

  it('SIGTERM answers a request still waiting on the function 503 ERR_DRAINING at the drain timeout, logs it, and exits', async () => {
    sidecar = await startSidecar(sidecarArgs(routesFile(standIn, ['slow-fn']), '--drain-timeout-ms', String(DRAIN_TIMEOUT_MS)));
    upstream = await startPlainUpstream();
    const ports = await freeEnvoyPorts(Number(sidecar.grpcAddress.split(':')[1]), upstream.port);
    await startEnvoy(renderEnvoyConfig('envoy/envoy.yaml', ports), ports);
    await expectDrainedWith503(sidecar, send({ host: '127.0.0.1', port: ports.listener }, '/slow-fn'));
  });
});

/** VmRSS of a process, in bytes, from /proc/<pid>/status. */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

it.each([
  ['large', 'with content-length (refused before any byte when it cannot fit)'],
  ['large-chunked', 'chunked (cut as the bytes arrive)'],
])(`${LARGE_CONCURRENT} concurrent 30 MB answers, /%s %s: RSS stays under the documented bound, answers over the budget are 503 ERR_RESPONSE_BUDGET`, async (id) => {
  sidecar = await startSidecar(sidecarArgs(routesFile(standIn, [id], LARGE_CONCURRENT)));
  const s = sidecar;
  let peakRss = rssBytes(s.pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(s.pid));
  }, RSS_SAMPLE_INTERVAL_MS);
  let answers: Array<Answer & { bodyBytes: number }>;
  try {
    answers = await Promise.all(Array.from({ length: LARGE_CONCURRENT }, () => send(httpFront(s), `/${id}`, { countOnly: true })));
  } finally {
    clearInterval(sampler);
  }
  const ok = answers.filter((a) => a.status === 200);
  const cut = answers.filter((a) => a.status !== 200);
  process.stdout.write(`peak RSS ${(peakRss / 1048576).toFixed(0)} MiB, ${ok.length} relayed, ${cut.length} cut\n`);
  expect(peakRss).toBeLessThan(RSS_BOUND_BYTES);
  expect(standIn.received(`/${id}`)).toBe(LARGE_CONCURRENT);
  expect(cut.length).toBeGreaterThan(0); // the limit was hit
  for (const a of ok) expect(a.bodyBytes).toBe(LARGE_ANSWER_BYTES);
  for (const a of cut) {
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('1');
    expect(JSON.parse(a.body)).toEqual({ message: expect.stringContaining('--max-buffered-response-bytes') });
  }
  // Logged once (rate-limited), not per cut answer; the memory is given back: the next one is relayed.
  expect(s.logLines().filter((l) => l.code === 'ERR_RESPONSE_BUDGET' && l.msg === 'capacity limit hit: requests answered 503')).toHaveLength(1);
  expect((await send(httpFront(s), `/${id}`, { countOnly: true })).bodyBytes).toBe(LARGE_ANSWER_BYTES);
});

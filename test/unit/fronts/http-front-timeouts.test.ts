/**
 * Clients that stop sending: raw sockets against the HTTP front with a short idle timeout.
 */
import * as net from 'node:net';
import { Harness, request, startHarness, until } from './http-front-harness';

const IDLE_MS = 300;
/** A closed socket must be seen well before Node's own defaults (60 s headers, never for bodies). */
const CLOSE_WITHIN_MS = IDLE_MS + 2_000;
const SLOW_FUNCTION_MS = 2 * IDLE_MS;

const routes = (fn: string): string => `routes:
  - id: hello
    uri: /hello
    plugins: { aws-lambda: { function_uri: "${fn}/fn/hello" } }
  - id: slow
    uri: /slow
    plugins: { aws-lambda: { function_uri: "${fn}/slow" } }
`;

interface RawExchange {
  /** Everything the sidecar sent before it closed the socket. */
  readonly received: string;
  readonly closedAfterMs: number;
}

/** Sends `chunks` (waiting `gapMs` between them), then nothing; resolves when the sidecar closes. */
function stall(port: number, chunks: readonly string[], gapMs = 0): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let lastWriteAt = Date.now();
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the sidecar kept the stalled connection open for ${CLOSE_WITHIN_MS} ms; received so far: ${JSON.stringify(received)}`));
    }, CLOSE_WITHIN_MS + chunks.length * gapMs);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ received, closedAfterMs: Date.now() - lastWriteAt });
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        lastWriteAt = Date.now();
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

function jsonOf(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe('HTTP front: clients that stop sending', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(routes, {
      requestIdleTimeoutMs: IDLE_MS,
      fn: (req, res) => {
        req.resume();
        req.on('end', () => setTimeout(() => res.end(`fn:${req.url}`), req.url === '/slow' ? SLOW_FUNCTION_MS : 0));
      },
    });
  });
  afterAll(() => h.close());

  it('answers 408 {"message"} and closes when the headers stop mid-way', async () => {
    const { received } = await stall(h.httpPort, ['POST /hello HTTP/1.1\r\nhost: sidecar\r\ncontent-le']);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(jsonOf(received)).toEqual({ message: expect.stringContaining(`${IDLE_MS} ms`) });
    await until('the warn line', () => h.logs.some((l) => l.level === 40 && l.code === 'ERR_REQUEST_TIMEOUT' && String(l.msg).includes('headers')));
  });

  it('answers 408 {"message"} and closes when a routed body stops mid-way; the function is not invoked', async () => {
    const hits = h.functionHits.length;
    const { received } = await stall(h.httpPort, ['POST /hello HTTP/1.1\r\nhost: sidecar\r\nx-request-id: stalled-body\r\ncontent-length: 100\r\n\r\n', 'only ten b']);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(jsonOf(received)).toEqual({ message: expect.stringContaining('stopped arriving') });
    expect(h.functionHits.length).toBe(hits);
    await until('the warn line', () => h.logs.some((l) => l.level === 40 && l.code === 'ERR_REQUEST_TIMEOUT' && l.requestId === 'stalled-body'));
  });

  it('closes a connection whose body stalls after it was already answered (no route, 404)', async () => {
    const { received } = await stall(h.httpPort, ['POST /nowhere HTTP/1.1\r\nhost: sidecar\r\ncontent-length: 100\r\n\r\n', 'partial']);
    expect(received).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('closes 50 of 50 stalled connections', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stall(h.httpPort, [`POST /hello HTTP/1.1\r\nhost: sidecar\r\ncontent-length: 10\r\n\r\n${i % 2 === 0 ? 'abc' : ''}`])),
    );
    expect(exchanges.filter((e) => e.received.startsWith('HTTP/1.1 408 ')).length).toBe(50);
  });

  it('is an idle bound, not a total one: a slow but steady body gets through', async () => {
    const parts = Array.from({ length: 6 }, (_, i) => `part${i}.`);
    const socket = net.connect(h.httpPort, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST /hello HTTP/1.1\r\nhost: sidecar\r\nconnection: close\r\ncontent-length: ${parts.join('').length}\r\n\r\n`);
    for (const part of parts) {
      await new Promise((r) => setTimeout(r, IDLE_MS / 2));
      socket.write(part);
    }
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toMatch(/fn:\/fn\/hello$/);
  });

  it('does not bound the wait for the function once the request is complete', async () => {
    expect(await request(h.httpPort, '/slow')).toMatchObject({ status: 200, body: 'fn:/slow' });
    expect(await request(h.httpPort, '/slow', { method: 'POST', body: 'payload' })).toMatchObject({ status: 200, body: 'fn:/slow' });
  });
});

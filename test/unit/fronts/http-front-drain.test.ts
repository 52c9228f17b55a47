/**
 * Draining (SIGTERM) seen from the HTTP front: health checkers must see 503, not a refused
 * connection, while in-flight requests finish.
 */
import * as net from 'node:net';
import { Answer, Harness, request, startHarness, until } from './http-front-harness';

const SLOW_FUNCTION_MS = 1_500;
const DRAIN_TIMEOUT_MS = 10_000;

const routes = (fn: string): string => `routes:
  - id: slow
    uri: /slow
    plugins: { aws-lambda: { function_uri: "${fn}/slow" } }
`;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('HTTP front while draining', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(routes, {
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      fn: (req, res) => {
        req.resume();
        req.on('end', () => setTimeout(() => res.end('slow answer'), SLOW_FUNCTION_MS));
      },
    });
  });
  afterAll(() => h.close());

  it('answers /healthz 503 and refuses new routed work with 503 while a slow request finishes, then closes the listener', async () => {
    const inFlight = request(h.httpPort, '/slow');
    await until('the slow request to reach the function', () => h.functionHits.length === 1);
    const closed = h.sidecar.close();

    const health: Answer[] = [];
    let fresh: Answer | undefined;
    let settled = false;
    void inFlight.finally(() => (settled = true));
    // The listener closes as soon as the slow request is done, which may fall between the check
    // and the next poll: a refused poll then ends the loop; before that it fails the test.
    const poll = async (path: string, headers: Record<string, string>): Promise<Answer | undefined> => {
      try {
        return await request(h.httpPort, path, { headers });
      } catch (err) {
        if (settled) return undefined;
        throw err;
      }
    };
    while (!settled) {
      const answer = await poll('/healthz', { connection: 'keep-alive' });
      if (answer === undefined) break;
      health.push(answer);
      fresh ??= await poll('/slow', { 'x-request-id': 'during-drain' });
      await new Promise((r) => setTimeout(r, 50));
    }

    expect(await inFlight).toMatchObject({ status: 200, body: 'slow answer' });
    expect(health.length).toBeGreaterThan(3);
    for (const answer of health) {
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toEqual({ status: 'draining' });
      expect(answer.headers.connection).toBe('close');
    }
    expect(fresh?.status).toBe(503);
    expect(JSON.parse(fresh?.body ?? '{}')).toEqual({ message: expect.stringContaining('shutting down') });
    expect(h.functionHits.length).toBe(1);

    await closed;
    expect(await refused(h.httpPort)).toBe(true);
  }, 20_000);
});

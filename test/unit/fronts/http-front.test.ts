/**
 * The HTTP front over real sockets: a sidecar in this process, a local server playing the function.
 */
import { Harness, LogLine, request, startHarness, until } from './http-front-harness';

const routes = (fn: string): string => `routes:
  - id: hello
    uri: /hello
    plugins: { aws-lambda: { function_uri: "${fn}/fn/hello" } }
  - id: cafe
    uri: /café
    plugins: { aws-lambda: { function_uri: "${fn}/fn/cafe" } }
`;

describe('HTTP front', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(routes);
  });
  afterAll(() => h.close());

  it('answers 404 ERR_ROUTE_NOT_FOUND for a route named by the proxy that does not exist, and logs it with the request id', async () => {
    const answer = await request(h.httpPort, '/hello', { headers: { 'x-lambda-route': 'nope', 'x-request-id': 'req-404' } });
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({ message: expect.stringContaining('"nope"') });
    expect(h.logs).toContainEqual(expect.objectContaining({ level: 40, code: 'ERR_ROUTE_NOT_FOUND', route: 'nope', requestId: 'req-404' }));
  });

  it('matches a route whose uri has non-ASCII characters when the client sends it percent-encoded', async () => {
    const answer = await request(h.httpPort, '/caf%C3%A9');
    expect(answer).toMatchObject({ status: 200, body: 'fn:/fn/cafe' });
  });

  describe('request log (debug, one line per finished request)', () => {
    const requestLine = async (requestId: string): Promise<LogLine> => {
      let line: LogLine | undefined;
      await until(`the request line of ${requestId}`, () => (line = h.logs.find((l) => l.msg === 'request' && l.requestId === requestId)) !== undefined);
      return line as LogLine;
    };

    it('names the door, route, status, duration and the x-request-id', async () => {
      await request(h.httpPort, '/hello', { headers: { 'x-request-id': 'req-ok' } });
      const line = await requestLine('req-ok');
      expect(line).toMatchObject({ level: 20, door: 'http', route: 'hello', status: 200 });
      expect(line.code).toBeUndefined();
      expect(typeof line.durationMs).toBe('number');
    });

    it('carries the error code, and no route when nothing matched', async () => {
      await request(h.httpPort, '/hello', { headers: { 'x-lambda-route': 'nope', 'x-request-id': 'req-named' } });
      expect(await requestLine('req-named')).toMatchObject({ door: 'http', route: 'nope', status: 404, code: 'ERR_ROUTE_NOT_FOUND' });
      await request(h.httpPort, '/elsewhere', { headers: { 'x-request-id': 'req-unmatched' } });
      const unmatched = await requestLine('req-unmatched');
      expect(unmatched).toMatchObject({ door: 'http', status: 404 });
      expect(unmatched.route).toBeUndefined();
    });

    it('leaves requestId out when the proxy sent none', async () => {
      const before = h.logs.length;
      await request(h.httpPort, '/hello?no-id');
      await until('a request line', () => h.logs.slice(before).some((l) => l.msg === 'request'));
      expect(h.logs.slice(before).find((l) => l.msg === 'request')).not.toHaveProperty('requestId');
    });
  });
});

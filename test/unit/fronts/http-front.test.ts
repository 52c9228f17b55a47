/**
 * The HTTP front over real sockets: a sidecar in this process, a local server playing the function.
 */
import { Harness, request, startHarness } from './http-front-harness';

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
});

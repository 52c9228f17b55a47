/**
 * The per-request log line through both Envoy doors, read from the built sidecar's stdout at
 * `--log-level debug`: one `request` line per finished request with Envoy's x-request-id, and the
 * warn line of a failed request carrying the same id.
 */
import { receivedHeader, sendHttp1, startEnvoyDoors, startPeers, type Peers } from './scenarios';
import { waitFor, type EnvoyProcess } from './support/processes';

jest.setTimeout(60_000);

const WAIT_MS = 5_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let peers: Peers | undefined;
const envoys: Partial<Record<'ext_proc' | 'ext_authz', EnvoyProcess>> = {};

beforeAll(async () => {
  peers = await startPeers({ sidecarArgs: ['--log-level', 'debug'] });
  await startEnvoyDoors(peers, envoys);
});

afterAll(async () => {
  await Promise.all(Object.values(envoys).map((e) => e?.stop()));
  await peers?.close();
});

function requestLines(door: string): Array<Record<string, unknown>> {
  return peers!.sidecar.logLines().filter((l) => l.msg === 'request' && l.door === door);
}

describe.each(['ext_proc', 'ext_authz'] as const)('%s', (door) => {
  it('an answered request: one debug line with route, status, duration and the x-request-id the function saw', async () => {
    peers!.resetReceived();
    const before = requestLines(door).length;
    const res = await sendHttp1(envoys[door]!.listenerPort, { method: 'GET', path: '/aws?name=Logged' });
    expect(res.status).toBe(200);
    await waitFor('the request line', () => requestLines(door).length > before, WAIT_MS);
    const lines = requestLines(door).slice(before);
    const [sentToFunction] = receivedHeader(peers!.received()[0], 'x-request-id');
    expect(sentToFunction).toMatch(UUID);
    expect(lines).toEqual([
      expect.objectContaining({ level: 20, door, route: expect.any(String), status: 200, durationMs: expect.any(Number), requestId: sentToFunction }),
    ]);
    expect(lines[0]).not.toHaveProperty('code');
  });

  it('a failed request: the request line has the code, and the warn line carries the same request id', async () => {
    const before = peers!.sidecar.logLines().length;
    const res = await sendHttp1(envoys[door]!.listenerPort, { method: 'GET', path: '/refused?name=Logged' });
    expect(res.status).toBe(502);
    await waitFor('the request line', () => peers!.sidecar.logLines().slice(before).some((l) => l.msg === 'request'), WAIT_MS);
    const lines = peers!.sidecar.logLines().slice(before);
    const request = lines.filter((l) => l.msg === 'request');
    expect(request).toEqual([expect.objectContaining({ door, status: 502, code: 'ERR_UPSTREAM_CONNECT', requestId: expect.stringMatching(UUID) })]);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ code: 'ERR_UPSTREAM_CONNECT', requestId: request[0].requestId })]);
  });
});

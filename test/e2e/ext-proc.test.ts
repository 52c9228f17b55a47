/**
 * ext_proc-only behaviour, against a real Envoy (envoy/envoy.yaml) and the built sidecar:
 * clients that leave mid-request, routes named by Envoy's per-route gRPC metadata, malformed gRPC
 * input straight to the sidecar, 100 concurrent requests, and the SIGTERM drain (last: it stops
 * the sidecar).
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { API_KEY, receivedHeader, send, sendHttp1, sha256Hex, sidecarErrors, startPeers, type Peers } from './scenarios';
import { freeEnvoyPorts, renderEnvoyConfig, sleep, startEnvoy, waitFor, type EnvoyProcess } from './support/processes';

jest.setTimeout(60_000);

const PROCESS_METHOD = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
/** HealthCheckResponse { status: SERVING (1) }: field 1, varint. */
const HEALTH_SERVING = Buffer.from([0x08, 0x01]);

/** How long the drain test waits for each step. */
const WAIT_MS = 5_000;

/** Envoy routes that name the sidecar route through ExtProcPerRoute gRPC metadata. */
const CATCH_ALL_ROUTE = '- match: { prefix: "/" }';
const INDENT = ' '.repeat(24);
function namedRoute(prefix: string, routeId: string): string {
  return [
    `- match: { prefix: "${prefix}" }`,
    '  route: { cluster: default_upstream }',
    '  typed_per_filter_config:',
    '    envoy.filters.http.ext_proc:',
    '      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute',
    '      overrides:',
    '        grpc_initial_metadata:',
    `          - { key: x-lambda-route, value: "${routeId}" }`,
  ].join(`\n${INDENT}`);
}
const NAMED_ROUTES = [namedRoute('/named/', 'by-name'), namedRoute('/named-unknown/', 'no-such-route'), CATCH_ALL_ROUTE].join(`\n${INDENT}`);

let peers: Peers | undefined;
let envoy: EnvoyProcess | undefined;
let envoyPort = 0;

beforeAll(async () => {
  peers = await startPeers({ sidecarArgs: ['--drain-timeout-ms', '5000'] });
  const ports = await freeEnvoyPorts(peers.grpcPort, peers.upstream.port);
  const config = renderEnvoyConfig('envoy/envoy.yaml', ports, { [CATCH_ALL_ROUTE]: NAMED_ROUTES });
  envoy = await startEnvoy(config, ports);
  envoyPort = ports.listener;
});

afterAll(async () => {
  await envoy?.stop();
  await peers?.close();
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function expectHello(name: string): Promise<void> {
  const res = await sendHttp1(envoyPort, { method: 'GET', path: `/aws?name=${name}` });
  expect({ status: res.status, body: res.body.toString('utf8') }).toEqual({ status: 200, body: `"Hello, ${name}!"` });
}

// ---------------------------------------------------------------------------------------------

describe('a client that leaves mid-request', () => {
  const SLOW = 'x-stand-in-delay-ms: 1000';
  it.each<[string, (port: number) => Promise<void>]>([
    [
      'HTTP/1.1: socket destroyed while the function runs',
      async (port) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        socket.write(`GET /aws?name=Gone HTTP/1.1\r\nhost: 127.0.0.1\r\n${SLOW}\r\n\r\n`);
        await sleep(100);
        socket.destroy();
      },
    ],
    [
      'HTTP/1.1: socket destroyed half-way through a POST body',
      async (port) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        socket.write(`POST /iam/half HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(10)}`);
        await sleep(100);
        socket.destroy();
      },
    ],
    [
      'HTTP/2: stream cancelled while the function runs',
      async (port) => {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        session.on('error', () => undefined);
        const stream = session.request({ ':method': 'GET', ':path': '/aws?name=Gone', 'x-stand-in-delay-ms': '1000' });
        stream.on('error', () => undefined);
        stream.end();
        await sleep(100);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        session.close();
      },
    ],
  ])('%s: the sidecar stays up and the next request works', async (_title, leave) => {
    const before = sidecarErrors(peers!.sidecar).length;
    await leave(envoyPort);
    await sleep(200);
    await expectHello('After');
    expect(isAlive(peers!.sidecar.pid)).toBe(true);
    expect(sidecarErrors(peers!.sidecar).slice(before)).toEqual([]);
  });
});

describe("Envoy's per-route x-lambda-route metadata (ExtProcPerRoute grpc_initial_metadata)", () => {
  it('picks the sidecar route by id although no sidecar uri matches the path', async () => {
    peers!.resetReceived();
    const res = await sendHttp1(envoyPort, { method: 'GET', path: '/named/anything?name=Named' });
    expect({ status: res.status, body: res.body.toString('utf8') }).toEqual({ status: 200, body: '"Hello, Named!"' });
    const received = peers!.received();
    expect(received).toHaveLength(1);
    // uri "/reached-only-by-name" has no `*`: function_uri's path is sent as it is.
    expect(received[0].rawPath).toBe('/default/test-apisix');
    expect(receivedHeader(received[0], 'x-api-key')).toEqual([API_KEY]);
  });

  it('an id the sidecar does not have → 404 JSON, nothing invoked', async () => {
    peers!.resetReceived();
    const res = await sendHttp1(envoyPort, { method: 'GET', path: '/named-unknown/x' });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({
      message: 'route "no-such-route" named by the proxy is not configured in the sidecar',
    });
    expect(peers!.received()).toEqual([]);
  });

  it('paths outside the named Envoy routes are still matched by the sidecar (control)', async () => {
    const res = await sendHttp1(envoyPort, { method: 'GET', path: '/reached-only-by-name-not?x=1' });
    expect(res.headers['x-served-by']).toBe('default-upstream');
    await expectHello('Control');
  });
});

describe('malformed gRPC straight to the sidecar (no Envoy)', () => {
  let client: grpc.Client | undefined;
  const identity = (b: Buffer): Buffer => b;

  beforeAll(() => {
    client = new grpc.Client(`127.0.0.1:${peers!.grpcPort}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
  });

  function healthCheck(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      client!.makeUnaryRequest(HEALTH_CHECK_METHOD, identity, identity, Buffer.alloc(0), (err, value) =>
        err ? reject(err) : resolve(value as Buffer),
      );
    });
  }

  /** Writes `message` on a Process stream; resolves with what came back and how the stream ended. */
  function openProcessStream(message: Buffer, deadlineMs = 5_000): Promise<{ status: grpc.StatusObject; messages: Buffer[] }> {
    return new Promise((resolve) => {
      const call = client!.makeBidiStreamRequest(PROCESS_METHOD, identity, identity, {
        deadline: Date.now() + deadlineMs,
      });
      const messages: Buffer[] = [];
      call.on('data', (m: Buffer) => messages.push(m));
      call.on('error', () => undefined); // reported through 'status'
      call.on('status', (status: grpc.StatusObject) => resolve({ status, messages }));
      call.write(message);
    });
  }

  it.each<[string, number[]]>([
    ['invalid wire type 7', [0x0f, 0x01]],
    ['length-delimited field longer than the message', [0x12, 0x10, 0x01]],
    ['varint that never ends', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ])('%s → the stream ends with INTERNAL; health still SERVING', async (_title, bytes) => {
    const { status, messages } = await openProcessStream(Buffer.from(bytes));
    expect({ code: status.code, messages }).toEqual({ code: grpc.status.INTERNAL, messages: [] });
    expect(await healthCheck()).toEqual(HEALTH_SERVING);
    expect(isAlive(peers!.sidecar.pid)).toBe(true);
  });

  it('request_headers without :method and :path → immediate_response 400, stream closed OK', async () => {
    // ProcessingRequest { request_headers (2): HttpHeaders {} }
    const { status, messages } = await openProcessStream(Buffer.from([0x12, 0x00]));
    expect(status.code).toBe(grpc.status.OK);
    expect(messages).toHaveLength(1);
    // ProcessingResponse { immediate_response (7, length-delimited) { status (1) { code (1): 400 } ... } }
    expect(messages[0][0]).toBe(0x3a);
    expect(messages[0].includes(Buffer.from([0x0a, 0x03, 0x08, 0x90, 0x03]))).toBe(true);
    expect(await healthCheck()).toEqual(HEALTH_SERVING);
  });

  // A ProcessingRequest with no oneof case set must still be answered (every message gets exactly
  // one answer), not left hanging until the client's deadline. Envoy never sends one.
  it('ProcessingRequest with no request case set → immediate_response 400, not a hang', async () => {
    const { status, messages } = await openProcessStream(Buffer.alloc(0), 1_000);
    expect(status.code).toBe(grpc.status.OK);
    expect(messages).toHaveLength(1);
    expect(messages[0].includes(Buffer.from([0x0a, 0x03, 0x08, 0x90, 0x03]))).toBe(true);
  });
});

describe('load', () => {
  it('100 concurrent requests through Envoy (GET and POST mixed) all answer 200 with their own body', async () => {
    const requests = Array.from({ length: 100 }, (_, i) => {
      if (i % 2 === 0) {
        return { i, req: { method: 'GET', path: `/aws?name=N${i}` }, body: `"Hello, N${i}!"` };
      }
      const payload = Buffer.from(`payload-${i}-${'z'.repeat(i * 37)}`);
      return {
        i,
        req: { method: 'POST', path: `/iam/load/${i}`, headers: { 'content-type': 'text/plain' }, body: payload, http2: i % 4 === 1 },
        sha: sha256Hex(payload),
      };
    });
    const answers = await Promise.all(requests.map((r) => send(envoyPort, r.req)));
    const summary = answers.map((res, k) => {
      const r = requests[k];
      if (res.status !== 200) return `#${r.i}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
      if ('body' in r) return res.body.toString('utf8') === r.body ? 'ok' : `#${r.i}: body ${res.body.toString('utf8')}`;
      const echo = JSON.parse(res.body.toString('utf8')) as { rawPath: string; bodySha256: string };
      return echo.rawPath === `/load/${r.i}` && echo.bodySha256 === r.sha ? 'ok' : `#${r.i}: echo ${echo.rawPath} ${echo.bodySha256}`;
    });
    expect(summary.filter((s) => s !== 'ok')).toEqual([]);
    expect(sidecarErrors(peers!.sidecar)).toEqual([]);
  });
});

describe('SIGTERM (last: it stops the sidecar)', () => {
  it('drains: the in-flight requests complete, /healthz says 503 meanwhile, the process exits 0', async () => {
    const sidecar = peers!.sidecar;
    peers!.resetReceived();
    // An in-flight request through Envoy (ext_proc stream)...
    const viaEnvoy = sendHttp1(envoyPort, { method: 'GET', path: '/aws?name=Drain', headers: { 'x-stand-in-delay-ms': '1000' } });
    // ...and one straight to the HTTP front.
    const socket = net.connect({ host: '127.0.0.1', port: peers!.httpPort });
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('error', () => undefined);
    socket.write('GET /aws?name=Direct HTTP/1.1\r\nhost: 127.0.0.1\r\nx-stand-in-delay-ms: 1000\r\n\r\n');
    await waitFor('both slow requests to reach the function', () => peers!.received().length >= 2, WAIT_MS);

    sidecar.stop('SIGTERM', 10_000).catch(() => undefined);
    await waitFor('the sidecar to start draining', () => sidecar.logLines().some((l) => l.msg === 'draining'), WAIT_MS);
    // The listener stays open while requests are in flight, so a health checker sees 503.
    const health = await sendHttp1(peers!.httpPort, { method: 'GET', path: '/healthz', headers: {} });
    expect({ status: health.status, body: health.body.toString('utf8') }).toEqual({ status: 503, body: '{"status":"draining"}' });

    const res = await viaEnvoy;
    expect({ status: res.status, body: res.body.toString('utf8') }).toEqual({ status: 200, body: '"Hello, Drain!"' });
    await waitFor('the HTTP front answer', () => raw.includes('"Hello, Direct!"'), WAIT_MS);
    socket.end();
    expect(raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    // Answered during the drain: the connection is not kept.
    expect(raw.toLowerCase()).toContain('connection: close');

    expect(await sidecar.exited).toBe(0);
    const messages = sidecar.logLines().map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'draining', 'stopped']));
    expect(sidecarErrors(sidecar)).toEqual([]);
  });
});

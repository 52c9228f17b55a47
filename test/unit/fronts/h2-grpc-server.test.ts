/**
 * The h2 gRPC server over real sockets, against a real @grpc/grpc-js client (and raw node:http2
 * for what a conforming client never sends). Test handlers on the real service definitions.
 */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import type { DuplexCall } from '../../../src/fronts/grpc/call-surface';
import { encodeMessage } from '../../../src/fronts/grpc/grpc-framing';
import { H2GrpcServer } from '../../../src/fronts/grpc/h2-grpc-server';
import {
  ExternalProcessorHandlers,
  HealthCheckResponse,
  HealthHandlers,
  loadGrpcDefinitions,
  METHOD_PATHS,
  ProcessingRequest,
  ProcessingResponse,
  ServingStatus,
} from '../../../src/fronts/grpc-definitions';

const MAX_MESSAGE_BYTES = 64 * 1024;
const DETAILS = 'naïve ✓ 100% sure\nsecond line';

type Client = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientDuplexStream<unknown, unknown> & grpc.ClientUnaryCall>;

function until(what: string, done: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (done()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function headersOf(path: string): ProcessingRequest {
  return { request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from(path) }] } } } as unknown as ProcessingRequest;
}

/** What the test handlers saw, per call, in order. */
interface Seen {
  events: string[];
  call: DuplexCall<ProcessingRequest, ProcessingResponse>;
}

describe('h2 gRPC server (node:http2, own framing)', () => {
  const defs = loadGrpcDefinitions();
  const seen: Seen[] = [];
  let server: H2GrpcServer;
  let port: number;
  let clients: grpc.Client[] = [];

  /**
   * Process: answers each request_headers with an immediate response whose body is its :path;
   * path "/fail" answers, then ends with INVALID_ARGUMENT and DETAILS; "/hold" keeps the stream
   * open, even past the client's half-close (as ext_proc does while it invokes; a cancelling
   * grpc-js client half-closes before its RST_STREAM).
   */
  const extProc: ExternalProcessorHandlers = {
    Process(call) {
      const record: Seen = { events: [], call };
      seen.push(record);
      let holding = false;
      call.on('data', (msg: ProcessingRequest) => {
        record.events.push('data');
        const path = msg.request === 'request_headers' ? msg.request_headers.headers?.headers?.[0]?.raw_value?.toString() ?? '' : '';
        if (path === '/hold') {
          holding = true;
          return;
        }
        call.write({ immediate_response: { status: { code: 200 }, body: Buffer.from(path), details: '' } });
        if (path === '/fail') call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: DETAILS });
      });
      call.on('end', () => {
        record.events.push('end');
        if (!holding) call.end();
      });
      call.on('cancelled', () => record.events.push('cancelled'));
      call.on('error', () => record.events.push('error'));
    },
  };
  const health: HealthHandlers = {
    Check(call, callback) {
      if (call.request.service === 'never') return; // never answered: only a deadline ends it
      if (call.request.service === '') callback(null, { status: ServingStatus.SERVING });
      else callback({ code: grpc.status.NOT_FOUND, details: DETAILS });
    },
    Watch(call) {
      call.write({ status: ServingStatus.SERVING });
      call.write({ status: ServingStatus.NOT_SERVING });
      call.end();
    },
  };

  const client = (service: grpc.ServiceDefinition, name: string): Client => {
    const Ctor = grpc.makeGenericClientConstructor(service, name);
    const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
    clients.push(c);
    return c;
  };
  const healthClient = (): Client => client(defs.health as unknown as grpc.ServiceDefinition, 'Health');
  const processClient = (): Client => client(defs.externalProcessor as unknown as grpc.ServiceDefinition, 'ExternalProcessor');

  const check = (c: Client, service: string, deadlineMs = 3000): Promise<{ err: grpc.ServiceError | null; res: unknown }> =>
    new Promise((resolve) => {
      c.Check({ service }, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res }));
    });

  /** A Process stream: resolves with what came back once the status arrived. */
  function process(c: Client, messages: ProcessingRequest[], halfClose = true): { call: grpc.ClientDuplexStream<unknown, unknown>; done: Promise<{ status: grpc.StatusObject; answers: ProcessingResponse[] }> } {
    const call = c.Process({ deadline: Date.now() + 5000 });
    const answers: ProcessingResponse[] = [];
    const done = new Promise<{ status: grpc.StatusObject; answers: ProcessingResponse[] }>((resolve) => {
      call.on('data', (m: unknown) => answers.push(m as ProcessingResponse));
      call.on('error', () => undefined);
      call.on('status', (status: grpc.StatusObject) => resolve({ status, answers }));
    });
    for (const m of messages) call.write(m);
    if (halfClose) call.end();
    return { call, done };
  }

  async function start(): Promise<void> {
    server = new H2GrpcServer({ maxMessageBytes: MAX_MESSAGE_BYTES, log: pino({ level: 'silent' }) });
    server.addService(defs.externalProcessor, extProc);
    server.addService(defs.health, health);
    port = await server.bind('127.0.0.1', 0);
  }

  beforeEach(async () => {
    seen.length = 0;
    await start();
  });

  afterEach(() => {
    for (const c of clients) c.close();
    clients = [];
    server.forceShutdown();
  });

  it('unary: the answer, then OK', async () => {
    const { err, res } = await check(healthClient(), '');
    expect(err).toBeNull();
    expect(res as HealthCheckResponse).toEqual({ status: ServingStatus.SERVING });
  });

  it('unary error before any message: trailers-only, code and percent-encoded details arrive intact', async () => {
    const { err } = await check(healthClient(), 'elsewhere');
    expect({ code: err?.code, details: err?.details }).toEqual({ code: grpc.status.NOT_FOUND, details: DETAILS });
  });

  it('server streaming: every message, then OK', async () => {
    const call = healthClient().Watch({ service: '' }) as unknown as grpc.ClientReadableStream<HealthCheckResponse>;
    const got: number[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('data', (m: HealthCheckResponse) => got.push(m.status as number));
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    expect({ code: status.code, got }).toEqual({ code: grpc.status.OK, got: [ServingStatus.SERVING, ServingStatus.NOT_SERVING] });
  });

  it('duplex: one answer per message, half-close seen as end, then OK; many streams on one connection', async () => {
    const c = processClient();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => process(c, [headersOf(`/a${i}`), headersOf(`/b${i}`)]).done));
    for (const [i, { status, answers }] of results.entries()) {
      expect(status.code).toBe(grpc.status.OK);
      expect(answers.map((a) => a.immediate_response?.body?.toString())).toEqual([`/a${i}`, `/b${i}`]);
    }
    expect(seen.every((s) => s.events.join() === 'data,data,end')).toBe(true);
  });

  it("duplex: emit('error', status) after a message ends the call with that status and details in the trailers", async () => {
    const { status, answers } = await process(processClient(), [headersOf('/fail')], false).done;
    expect({ code: status.code, details: status.details }).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: DETAILS });
    expect(answers.map((a) => a.immediate_response?.body?.toString())).toEqual(['/fail']);
  });

  it('an unknown method: UNIMPLEMENTED', async () => {
    const c = healthClient();
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      c.makeUnaryRequest('/nope.Service/Method', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e));
    });
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err?.details).toContain('/nope.Service/Method');
  });

  it('a message above the receive limit: RESOURCE_EXHAUSTED, and the handler hears cancelled', async () => {
    const big = { request_body: { body: Buffer.alloc(MAX_MESSAGE_BYTES + 1), end_of_stream: true } } as unknown as ProcessingRequest;
    const { status } = await process(processClient(), [big], false).done;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/larger than max/);
    await until('cancelled', () => seen[0]?.events.includes('cancelled') === true);
    expect(seen[0]?.events).toEqual(['cancelled']);
  });

  it('a client cancel: the handler hears cancelled', async () => {
    const { call, done } = process(processClient(), [headersOf('/hold')], false);
    await until('the message', () => seen[0]?.events.includes('data') === true);
    call.cancel();
    expect((await done).status.code).toBe(grpc.status.CANCELLED);
    await until('cancelled', () => seen[0]?.events.includes('cancelled') === true);
  });

  it('grpc-timeout: a unary call not answered in time ends with DEADLINE_EXCEEDED from the server', async () => {
    const got = await raw(METHOD_PATHS.healthCheck, { 'grpc-timeout': '100m' }, encodeMessage(Buffer.from([0x0a, 0x05, ...Buffer.from('never')])));
    expect(got.grpcStatus).toBe(String(grpc.status.DEADLINE_EXCEEDED));
  });

  it('not gRPC (content-type): HTTP 415', async () => {
    const got = await raw(METHOD_PATHS.healthCheck, { 'content-type': 'application/json' }, Buffer.from('{}'));
    expect(got.status).toBe(415);
  });

  it('a compressed message or a grpc-encoding other than identity: refused with a status that says so', async () => {
    const compressed = encodeMessage(Buffer.alloc(0));
    compressed[0] = 1;
    const flagged = await raw(METHOD_PATHS.healthCheck, {}, compressed);
    expect({ status: flagged.grpcStatus, message: flagged.grpcMessage }).toEqual({ status: String(grpc.status.INTERNAL), message: expect.stringMatching(/compressed/) });
    const gzip = await raw(METHOD_PATHS.healthCheck, { 'grpc-encoding': 'gzip' }, encodeMessage(Buffer.alloc(0)));
    expect({ status: gzip.grpcStatus, message: gzip.grpcMessage }).toEqual({ status: String(grpc.status.UNIMPLEMENTED), message: expect.stringMatching(/gzip/) });
  });

  it('tryShutdown: refuses new connections, waits for the open stream, then calls back', async () => {
    const c = processClient();
    const held = process(c, [headersOf('/hold')], false);
    await until('the held stream', () => seen.length === 1 && seen[0]?.events.includes('data') === true);
    let shutDown = false;
    server.tryShutdown(() => {
      shutDown = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(shutDown).toBe(false);
    const fresh = await check(healthClient(), '', 1000);
    expect(fresh.err?.code).toBe(grpc.status.UNAVAILABLE);
    (seen[0] as Seen).call.end();
    expect((await held.done).status.code).toBe(grpc.status.OK);
    await until('the shutdown callback', () => shutDown);
  });

  it('forceShutdown: open streams end at once, the handler hears cancelled', async () => {
    const held = process(processClient(), [headersOf('/hold')], false);
    await until('the held stream', () => seen[0]?.events.includes('data') === true);
    server.forceShutdown();
    expect((await held.done).status.code).not.toBe(grpc.status.OK);
    await until('cancelled', () => seen[0]?.events.includes('cancelled') === true);
  });

  /** One raw HTTP/2 request: status, and grpc-status / grpc-message from the headers or trailers. */
  function raw(path: string, extra: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ status: number; grpcStatus: string | undefined; grpcMessage: string | undefined }> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
      let head: http2.IncomingHttpHeaders = {};
      let tail: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => { head = h; });
      req.on('trailers', (t) => { tail = t; });
      req.on('data', () => undefined);
      req.on('error', reject);
      req.on('close', () => {
        session.close();
        const pick = (k: string): string | undefined => (tail[k] ?? head[k]) as string | undefined;
        resolve({ status: Number(head[':status']), grpcStatus: pick('grpc-status'), grpcMessage: pick('grpc-message') });
      });
      req.end(body);
    });
  }
});

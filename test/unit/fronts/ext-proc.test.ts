/**
 * The ext_proc front over real sockets, on each gRPC server: extProcHandlers on 127.0.0.1:0, a
 * grpc-js client built from the same protos, a plain local HTTP server playing the function, and the
 * front's log lines captured. Covers the idle timeout (streams Envoy stops talking on) and the
 * per-request log line.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { validateRoutes } from '../../../src/config/route-schema';
import { extProcHandlers } from '../../../src/fronts/ext-proc/ext-proc-service';
import { loadGrpcDefinitions, ProcessingRequest, ProcessingResponse } from '../../../src/fronts/grpc-definitions';
import { RequestPipeline } from '../../../src/request-pipeline';
import type { RouteTarget } from '../../../src/invoke/route-target';
import { createTarget, DispatcherRegistry } from '../../../src/invoke/target';
import { LiveRoutes } from '../../../src/routing/live-routes';
import { RouteTable } from '../../../src/routing/route-table';
import { CredentialRegistry } from '../../../src/aws/credential-registry';
import type { GrpcListener } from '../../../src/fronts/grpc/grpc-listener';
import { GRPC_SERVER_NAMES, startGrpcListener } from '../../support/grpc-listener';

/** These routes sign with no keys: a registry for the type, never asked for credentials. */
const NO_CREDENTIALS = new CredentialRegistry({ logger: pino({ level: 'silent' }) });

const IDLE_TIMEOUT_MS = 300;
/** Far above IDLE_TIMEOUT_MS: a stream that outlives it was never closed by the sidecar. */
const CLIENT_DEADLINE_MS = 5_000;

type ProcessClient = grpc.Client & {
  Process(options: grpc.CallOptions): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
};

interface StreamResult {
  readonly status: grpc.StatusObject;
  readonly answers: ProcessingResponse[];
  readonly elapsedMs: number;
}

function headers(path: string, requestId: string | undefined, endOfStream: boolean): ProcessingRequest {
  const list = [
    { key: ':method', raw_value: Buffer.from(endOfStream ? 'GET' : 'POST') },
    { key: ':path', raw_value: Buffer.from(path) },
    { key: ':authority', raw_value: Buffer.from('example.test') },
  ];
  if (requestId !== undefined) list.push({ key: 'x-request-id', raw_value: Buffer.from(requestId) });
  return { request_headers: { headers: { headers: list }, end_of_stream: endOfStream } } as unknown as ProcessingRequest;
}

describe.each(GRPC_SERVER_NAMES)('ext_proc front (ExternalProcessor/Process), %s server', (serverName) => {
  const logLines: Array<Record<string, unknown>> = [];
  let fnServer: http.Server;
  let grpcServer: GrpcListener;
  let client: ProcessClient;
  let registry: DispatcherRegistry;

  beforeAll(async () => {
    fnServer = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello');
      });
    });
    await new Promise<void>((resolve) => fnServer.listen(0, '127.0.0.1', () => resolve()));
    const fnPort = (fnServer.address() as AddressInfo).port;
    const routes = validateRoutes([{ id: 'fn', uri: '/fn', plugins: { 'aws-lambda': { function_uri: `http://127.0.0.1:${fnPort}/fn` } } }]);
    registry = new DispatcherRegistry();
    const pipeline = new RequestPipeline(new LiveRoutes(new RouteTable<RouteTarget | null>(routes, (r) => createTarget(r, registry, NO_CREDENTIALS)), () => undefined));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const defs = loadGrpcDefinitions();
    let grpcPort: number;
    ({ listener: grpcServer, port: grpcPort } = await startGrpcListener(serverName, [
      [defs.externalProcessor, extProcHandlers(pipeline, pino({ level: 'debug', base: undefined }, sink), { idleTimeoutMs: IDLE_TIMEOUT_MS })],
    ]));
    const Client = grpc.makeGenericClientConstructor(defs.externalProcessor as unknown as grpc.ServiceDefinition, 'ExternalProcessor');
    client = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as ProcessClient;
  });

  afterAll(async () => {
    client?.close();
    grpcServer?.forceShutdown();
    fnServer?.close();
    await registry?.closeAll();
  });

  beforeEach(() => {
    logLines.length = 0;
  });

  /** Writes `messages` on one Process stream and keeps it open; resolves when the sidecar ends it. */
  function exchange(messages: ProcessingRequest[]): Promise<StreamResult> {
    const started = Date.now();
    return new Promise((resolve) => {
      const call = client.Process({ deadline: Date.now() + CLIENT_DEADLINE_MS });
      const answers: ProcessingResponse[] = [];
      call.on('data', (m: ProcessingResponse) => answers.push(m));
      call.on('error', () => undefined); // reported through 'status'
      call.on('status', (status: grpc.StatusObject) => {
        call.end();
        resolve({ status, answers, elapsedMs: Date.now() - started });
      });
      for (const m of messages) call.write(m);
    });
  }

  const logged = (msg: string): Array<Record<string, unknown>> => logLines.filter((l) => l.msg === msg);

  describe('idle timeout: a stream waiting for Envoy is closed after idleTimeoutMs', () => {
    it.each<[string, ProcessingRequest[], string]>([
      ['a body first (answered CONTINUE)', [{ request_body: { body: Buffer.from('x'), end_of_stream: true } } as unknown as ProcessingRequest], 'request_body'],
      ['response_headers first (answered CONTINUE)', [{ response_headers: { headers: { headers: [] } } } as unknown as ProcessingRequest], 'response_headers'],
      ['nothing at all', [], ''],
    ])('%s → OK, so Envoy carries on; logged at warn', async (_title, messages, answered) => {
      const { status, answers, elapsedMs } = await exchange(messages);
      expect({ code: status.code, answers: answers.map((a) => a.response) }).toEqual({ code: grpc.status.OK, answers: answered === '' ? [] : [answered] });
      expect(elapsedMs).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 50);
      expect(elapsedMs).toBeLessThan(CLIENT_DEADLINE_MS - 1_000);
      expect(logged('ext_proc stream idle: closed')).toHaveLength(1);
    });

    it('request headers of a matched route, then no body → DEADLINE_EXCEEDED (Envoy fails the request), warn with the request id', async () => {
      const { status, answers, elapsedMs } = await exchange([headers('/fn', 'rid-idle-1', false)]);
      expect({ code: status.code, answers: answers.map((a) => a.response) }).toEqual({ code: grpc.status.DEADLINE_EXCEEDED, answers: ['request_headers'] });
      expect(elapsedMs).toBeLessThan(CLIENT_DEADLINE_MS - 1_000);
      expect(logged('ext_proc stream idle: no request body from Envoy, stream closed with DEADLINE_EXCEEDED')).toEqual([
        expect.objectContaining({ level: 40, requestId: 'rid-idle-1', route: 'fn', idleTimeoutMs: IDLE_TIMEOUT_MS }),
      ]);
      expect(logged('request')).toEqual([expect.objectContaining({ door: 'ext_proc', route: 'fn', code: 'ERR_STREAM_IDLE', requestId: 'rid-idle-1' })]);
    });

    it('the function call itself is not idle time: a call longer than idleTimeoutMs is answered', async () => {
      // The route's function answers at once; the stream stays open for the answer only. A slow
      // function is covered by the e2e suites; here: headers, CONTINUE, body after most of the
      // idle timeout, then the answer, which must still come.
      const call = client.Process({ deadline: Date.now() + CLIENT_DEADLINE_MS });
      const answers: ProcessingResponse[] = [];
      const done = new Promise<grpc.StatusObject>((resolve) => {
        call.on('data', (m: ProcessingResponse) => answers.push(m));
        call.on('error', () => undefined);
        call.on('status', resolve);
      });
      call.write(headers('/fn', 'rid-late-body', false));
      await new Promise((r) => setTimeout(r, IDLE_TIMEOUT_MS * 0.7));
      call.write({ request_body: { body: Buffer.from('late'), end_of_stream: true } } as unknown as ProcessingRequest);
      const status = await done;
      call.end();
      expect({ code: status.code, answers: answers.map((a) => a.response) }).toEqual({ code: grpc.status.OK, answers: ['request_headers', 'immediate_response'] });
      expect(answers[1].immediate_response?.status?.code).toBe(200);
      expect(logged('request')).toEqual([expect.objectContaining({ route: 'fn', status: 200, requestId: 'rid-late-body' })]);
    });
  });

  describe('a client that half-closes after its last message', () => {
    it('still gets its answer: half-close means "no more messages", not "cancel" (a gRPC load tool sends headers and END_STREAM together)', async () => {
      const call = client.Process({ deadline: Date.now() + CLIENT_DEADLINE_MS });
      const answers: ProcessingResponse[] = [];
      const done = new Promise<grpc.StatusObject>((resolve) => {
        call.on('data', (m: ProcessingResponse) => answers.push(m));
        call.on('error', () => undefined);
        call.on('status', resolve);
      });
      call.write(headers('/fn', 'rid-half-close', true));
      call.end();
      const status = await done;
      expect({ code: status.code, answers: answers.map((a) => a.response) }).toEqual({ code: grpc.status.OK, answers: ['immediate_response'] });
      expect(answers[0].immediate_response?.status?.code).toBe(200);
      expect(answers[0].immediate_response?.body?.toString()).toBe('hello');
      expect(logged('request')).toEqual([expect.objectContaining({ route: 'fn', status: 200, requestId: 'rid-half-close' })]);
    });
  });

  describe('one debug line per finished request', () => {
    it('an answered request: { door, route, status, code, durationMs, requestId }', async () => {
      const { answers } = await exchange([headers('/fn', 'rid-123', true)]);
      expect(answers.map((a) => a.response)).toEqual(['immediate_response']);
      const lines = logged('request');
      expect(lines).toEqual([{ level: 20, time: expect.any(Number), door: 'ext_proc', route: 'fn', status: 200, durationMs: expect.any(Number), requestId: 'rid-123', msg: 'request' }]);
    });

    it('an error answer: code set, and the warn line carries the request id', async () => {
      // More than max_req_body_size (64 MiB default) announced: refused before Envoy buffers it.
      const big = headers('/fn', 'rid-413', false);
      (big.request_headers!.headers!.headers as Array<{ key: string; raw_value: Buffer }>).push({ key: 'content-length', raw_value: Buffer.from(String(128 * 1024 * 1024)) });
      const { answers } = await exchange([big]);
      expect(answers[0].immediate_response?.status?.code).toBe(413);
      expect(logLines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ requestId: 'rid-413', route: 'fn', code: 'ERR_BODY_TOO_LARGE' })]);
      expect(logged('request')).toEqual([expect.objectContaining({ door: 'ext_proc', route: 'fn', status: 413, code: 'ERR_BODY_TOO_LARGE', requestId: 'rid-413' })]);
    });

    it('a path no route matches: one line, no status (Envoy continues), no request id when Envoy sent none', async () => {
      const { status } = await exchange([headers('/elsewhere', undefined, true)]);
      expect(status.code).toBe(grpc.status.OK);
      expect(logged('request')).toEqual([expect.objectContaining({ door: 'ext_proc', durationMs: expect.any(Number) })]);
      expect(logged('request')[0]).not.toHaveProperty('requestId');
      expect(logged('request')[0]).not.toHaveProperty('status');
    });
  });
});

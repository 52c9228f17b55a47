/**
 * The `h2` gRPC server: node:http2 plus grpc-framing.ts and grpc-call.ts. grpc-js spends about
 * 100 µs of CPU per ext_proc request (call objects, interceptors, metadata conversion, stream
 * machinery); this does only what our three services need: dispatch on `:path`, frame, decode with
 * the definitions' protobufjs (de)serializers, status in trailers.
 *
 * Envoy's keepalive PINGs are answered by nghttp2 itself: there is no ping policy to trip over.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { DuplexCall, ServerStreamCall, UnaryCall, UnaryCallback } from './call-surface';
import { H2DuplexCall, H2ServerStreamCall, H2UnaryCall, respondTrailersOnly, type MethodCodec } from './grpc-call';
import type { GrpcListener, GrpcListenerOptions } from './grpc-listener';
import { GRPC_MAX_SESSION_MEMORY_MB, grpcHttp2ServerOptions, widenConnectionWindow } from './http2-settings';

type Start = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/** A method of the definitions, bound to its handler: starts one call per stream. */
function starter(method: grpc.MethodDefinition<unknown, unknown>, handler: grpc.UntypedHandleCall, limits: Pick<MethodCodec, 'maxReceiveMessageBytes' | 'maxSendMessageBytes'>): Start {
  const codec: MethodCodec = { path: method.path, deserialize: method.requestDeserialize, serialize: method.responseSerialize, ...limits };
  // The handlers take the call-surface.ts types (grpc-definitions.ts), which these calls implement;
  // grpc-js's handler union cannot say so.
  if (method.requestStream && method.responseStream) {
    const h = handler as unknown as (call: DuplexCall<unknown, unknown>) => void;
    return (stream, headers) => new H2DuplexCall(stream, headers, codec, h);
  }
  if (method.responseStream) {
    const h = handler as unknown as (call: ServerStreamCall<unknown, unknown>) => void;
    return (stream, headers) => new H2ServerStreamCall(stream, headers, codec, h);
  }
  if (!method.requestStream) {
    const h = handler as unknown as (call: UnaryCall<unknown>, callback: UnaryCallback<unknown>) => void;
    return (stream, headers) => new H2UnaryCall(stream, headers, codec, h);
  }
  throw new Error(`${method.path}: client-streaming methods are not supported by the h2 gRPC server`);
}

export class H2GrpcServer implements GrpcListener {
  private readonly server: http2.Http2Server;
  /** `:path` → how to start a call of that method. */
  private readonly methods = new Map<string, Start>();
  /** Open sessions; each leaves the set when it closes. */
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private bound = false;
  private shuttingDown = false;

  constructor(private readonly opts: GrpcListenerOptions) {
    this.server = http2.createServer({ ...grpcHttp2ServerOptions(), maxSessionMemory: GRPC_MAX_SESSION_MEMORY_MB });
    this.server.on('session', (session: http2.ServerHttp2Session) => {
      if (this.shuttingDown) {
        session.destroy();
        return;
      }
      this.sessions.add(session);
      widenConnectionWindow(session);
      session.on('error', (err) => this.opts.log.debug({ err }, 'gRPC connection error'));
      session.once('close', () => this.sessions.delete(session));
    });
    this.server.on('sessionError', () => undefined); // logged by the session's own listener
    this.server.on('stream', (stream, headers) => this.dispatch(stream, headers));
  }

  addService(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void {
    const limits = { maxReceiveMessageBytes: this.opts.maxMessageBytes, maxSendMessageBytes: this.opts.maxMessageBytes };
    for (const [name, method] of Object.entries(service)) {
      const handler = handlers[name];
      if (handler === undefined) throw new Error(`${method.path}: no handler`);
      this.methods.set(method.path, starter(method as grpc.MethodDefinition<unknown, unknown>, handler, limits));
    }
  }

  bind(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        this.bound = true;
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  private dispatch(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.on('error', () => undefined);
      // As grpc-js: not gRPC, so an HTTP answer.
      if (!stream.destroyed) stream.respond({ ':status': http2.constants.HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE }, { endStream: true });
      return;
    }
    const path = headers[':path'] ?? '';
    const start = this.methods.get(path);
    const encoding = headers['grpc-encoding'];
    if (start === undefined || (encoding !== undefined && encoding !== 'identity')) {
      stream.on('error', () => undefined);
      respondTrailersOnly(stream, start === undefined
        ? { code: grpc.status.UNIMPLEMENTED, details: `The server does not implement the method ${path}` }
        : { code: grpc.status.UNIMPLEMENTED, details: `grpc-encoding "${String(encoding)}" is not supported: the sidecar accepts only identity (uncompressed) messages` });
      return;
    }
    start(stream, headers);
  }

  tryShutdown(done: () => void): void {
    this.shuttingDown = true;
    if (!this.bound) {
      done();
      return;
    }
    // close() calls back once every connection has closed; each session closes after its streams.
    this.server.close(() => done());
    for (const session of this.sessions) session.close();
  }

  forceShutdown(): void {
    this.shuttingDown = true;
    for (const session of this.sessions) session.destroy();
    if (this.bound) this.server.close();
  }
}

/**
 * The h2 server's calls: one object per HTTP/2 stream, with the surface of call-surface.ts.
 *
 * Response: HEADERS (:status 200, content-type application/grpc+proto) before the first message,
 * then the messages, then the status in trailers; an error before any message goes as one
 * trailers-only HEADERS frame (grpc/grpc PROTOCOL-HTTP2.md). The stream closing before we sent a
 * status (peer RST_STREAM, connection gone, deadline) is 'cancelled'.
 */
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import { status, type MetadataValue } from '@grpc/grpc-js';
import type { CallMetadata, CallStatus, DuplexCall, ServerStreamCall, UnaryCall, UnaryCallback } from './call-surface';
import { encodeMessage, GrpcFramingError, MessageDecoder } from './grpc-framing';

/** How one method's messages cross the wire (the service definition's (de)serializers). */
export interface MethodCodec {
  readonly path: string;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (value: never) => Buffer;
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
}

const OK: CallStatus = { code: status.OK, details: 'OK' };

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
};

/** grpc-message: percent-encode everything outside printable ASCII, and '%' itself (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(details: string): string {
  return details.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** A status as a trailers-only response: for an error before any message, or a refused stream. */
export function respondTrailersOnly(stream: http2.ServerHttp2Stream, s: CallStatus): void {
  if (stream.destroyed || stream.headersSent) return;
  try {
    stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(s.code), 'grpc-message': encodeGrpcMessage(s.details) }, { endStream: true });
  } catch {
    // The stream closed meanwhile: nobody to tell.
  }
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The longest delay a Node timer holds; a longer one would fire at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The `grpc-timeout` header in ms ("200m", "5S"), or undefined when absent, malformed, or further
 * away than a timer can hold (about 24.8 days: no deadline in practice).
 */
export function parseGrpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  const match = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (match === null) return undefined;
  const ms = Number(match[1]) * (TIMEOUT_UNIT_MS[match[2]] as number);
  return ms > MAX_TIMER_MS ? undefined : ms;
}

/** Request headers as gRPC metadata, read on demand (the handlers read one key, if any). */
class RequestMetadata implements CallMetadata {
  constructor(private readonly headers: http2.IncomingHttpHeaders) {}

  get(key: string): MetadataValue[] {
    const raw = this.headers[key];
    if (raw === undefined) return [];
    const values = Array.isArray(raw) ? raw : [raw];
    // As grpc-js: custom metadata joined by a proxy is split again; -bin values are base64.
    const split = key.startsWith('grpc-') ? values : values.flatMap((v) => v.split(',').map((s) => s.trim()));
    return key.endsWith('-bin') ? split.map((v) => Buffer.from(v, 'base64')) : split;
  }
}

abstract class H2Call extends EventEmitter {
  readonly metadata: CallMetadata;
  /** Set once the status is queued (trailers or trailers-only); nothing is written after it. */
  private statusSent = false;
  /** The status end() sends: OK unless an 'error' set another. */
  private pendingStatus: CallStatus = OK;
  private deadline: NodeJS.Timeout | undefined;
  private readonly decoder: MessageDecoder;

  constructor(protected readonly stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, protected readonly codec: MethodCodec) {
    super();
    this.metadata = new RequestMetadata(headers);
    this.decoder = new MessageDecoder(codec.maxReceiveMessageBytes);
    // grpc-js: an 'error' emitted on a call ends it with that status (the handlers' way to fail one).
    this.on('error', (s: Partial<CallStatus> | undefined) => {
      if (s !== undefined) this.endWith(s);
    });
    stream.on('error', () => undefined); // reported by 'close'
    stream.once('close', () => this.onClose());
    const timeoutMs = parseGrpcTimeoutMs(headers['grpc-timeout']);
    if (timeoutMs !== undefined) {
      this.deadline = setTimeout(() => this.abandon({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }), timeoutMs);
    }
  }

  /** Starts delivering the request messages (after the handler attached its listeners, for streams). */
  protected read(): void {
    this.stream.on('data', (chunk: Buffer) => {
      if (this.statusSent) return;
      let messages: Buffer[];
      try {
        messages = this.decoder.push(chunk);
      } catch (err) {
        const e = err as GrpcFramingError;
        this.abandon({ code: e.code, details: e.message });
        return;
      }
      for (const bytes of messages) {
        let message: unknown;
        try {
          message = this.codec.deserialize(bytes);
        } catch (err) {
          this.abandon({ code: status.INTERNAL, details: `Error deserializing request: ${(err as Error).message}` });
          return;
        }
        this.onMessage(message);
        if (this.statusSent) return;
      }
    });
    this.stream.once('end', () => {
      // A reset also ends the readable side: that is 'cancelled' (from 'close'), not a half-close.
      if (this.statusSent || this.stream.closed || this.stream.aborted) return;
      if (this.decoder.midMessage) {
        this.abandon({ code: status.INTERNAL, details: 'the request stream ended inside a message' });
        return;
      }
      this.onHalfClose();
    });
  }

  protected abstract onMessage(message: unknown): void;
  protected abstract onHalfClose(): void;

  write(message: unknown): boolean {
    if (this.statusSent || this.stream.destroyed) return false;
    let bytes: Buffer;
    try {
      bytes = this.codec.serialize(message as never);
    } catch (err) {
      // As grpc-js: a message that cannot be encoded ends the call, it does not throw into the handler.
      this.abandon({ code: status.INTERNAL, details: `Error serializing response: ${(err as Error).message}` });
      return false;
    }
    if (bytes.length > this.codec.maxSendMessageBytes) {
      this.abandon({ code: status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${bytes.length} vs. ${this.codec.maxSendMessageBytes})` });
      return false;
    }
    if (!this.stream.headersSent) {
      this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      this.stream.once('wantTrailers', () => {
        this.stream.sendTrailers({ 'grpc-status': String(this.pendingStatus.code), 'grpc-message': encodeGrpcMessage(this.pendingStatus.details) });
      });
    }
    return this.stream.write(encodeMessage(bytes));
  }

  end(): void {
    this.sendStatus(this.pendingStatus);
  }

  protected sendStatus(s: CallStatus): void {
    if (this.statusSent) return;
    this.statusSent = true;
    clearTimeout(this.deadline);
    if (this.stream.destroyed) return;
    if (!this.stream.headersSent) {
      respondTrailersOnly(this.stream, s);
      return;
    }
    this.pendingStatus = s;
    this.stream.end(); // 'wantTrailers' sends the status
  }

  /** We end the call on our side (framing, decoding, deadline): the handler hears 'cancelled'. */
  private abandon(s: CallStatus): void {
    if (this.statusSent) return;
    this.sendStatus(s);
    this.emit('cancelled');
  }

  private endWith(s: Partial<CallStatus>): void {
    this.pendingStatus = { code: s.code ?? status.UNKNOWN, details: s.details ?? 'Unknown error' };
    this.end();
  }

  private onClose(): void {
    clearTimeout(this.deadline);
    if (!this.statusSent) {
      this.statusSent = true;
      this.emit('cancelled');
    }
    this.emit('close');
  }
}

export class H2DuplexCall<Req, Res> extends H2Call implements DuplexCall<Req, Res> {
  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, codec: MethodCodec, handler: (call: DuplexCall<Req, Res>) => void) {
    super(stream, headers, codec);
    handler(this);
    this.read();
  }

  protected onMessage(message: unknown): void {
    this.emit('data', message);
  }

  protected onHalfClose(): void {
    this.emit('end');
  }
}

/** Reads the one request message of a unary or server-streaming call, then starts the handler. */
abstract class SingleRequestCall<Req> extends H2Call {
  request!: Req;
  private received = false;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, codec: MethodCodec) {
    super(stream, headers, codec);
    this.read();
  }

  protected onMessage(message: unknown): void {
    if (this.received) {
      this.sendStatus({ code: status.UNIMPLEMENTED, details: `Received a second request message for ${this.codec.path}` });
      this.emit('cancelled');
      return;
    }
    this.received = true;
    this.request = message as Req;
  }

  protected onHalfClose(): void {
    if (!this.received) {
      this.sendStatus({ code: status.UNIMPLEMENTED, details: `No request message received for ${this.codec.path}` });
      return;
    }
    this.start();
  }

  protected abstract start(): void;
}

export class H2UnaryCall<Req, Res> extends SingleRequestCall<Req> implements UnaryCall<Req> {
  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    codec: MethodCodec,
    private readonly handler: (call: UnaryCall<Req>, callback: UnaryCallback<Res>) => void,
  ) {
    super(stream, headers, codec);
  }

  protected start(): void {
    this.handler(this, (error, value) => {
      if (error !== null) {
        this.sendStatus({ code: error.code ?? status.UNKNOWN, details: error.details ?? 'Unknown error' });
        return;
      }
      this.write(value);
      this.end(); // after a refused write the status is already sent: a no-op
    });
  }
}

export class H2ServerStreamCall<Req, Res> extends SingleRequestCall<Req> implements ServerStreamCall<Req, Res> {
  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    codec: MethodCodec,
    private readonly handler: (call: ServerStreamCall<Req, Res>) => void,
  ) {
    super(stream, headers, codec);
  }

  protected start(): void {
    this.handler(this);
  }
}

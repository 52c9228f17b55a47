/**
 * gRPC length-prefixed messages (grpc/grpc PROTOCOL-HTTP2.md "Length-Prefixed-Message"): a
 * compressed flag byte, a 4-byte big-endian length, the message. HTTP/2 DATA frames cut them
 * anywhere, and one frame may carry several.
 */
import { status } from '@grpc/grpc-js';

export const FRAME_HEADER_BYTES = 5;

/** A stream that breaks the framing rules: the call ends with `code`. */
export class GrpcFramingError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
  }
}

export class MessageDecoder {
  /**
   * The header being read when a chunk ended inside it: `headerFilled` of its 5 bytes are known.
   * Allocated only then (rare: Envoy sends each message's header whole), not once per call.
   */
  private header: Buffer | undefined;
  private headerFilled = 0;
  /** The message being read when a chunk ended inside it: `bodyFilled` of its bytes are known. */
  private body: Buffer | undefined;
  private bodyFilled = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** True when the bytes so far end inside a message (the peer must not end the stream here). */
  get midMessage(): boolean {
    return this.headerFilled > 0 || this.body !== undefined;
  }

  /**
   * The messages `chunk` completes, in order. A message that lies whole in one chunk is a view of
   * it, not a copy. Throws GrpcFramingError on an oversized or compressed message.
   */
  push(chunk: Buffer): Buffer[] {
    const messages: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.body === undefined) {
        let length: number;
        if (this.headerFilled === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
          this.check(chunk[at], (length = chunk.readUInt32BE(at + 1)));
          at += FRAME_HEADER_BYTES;
        } else {
          const header = (this.header ??= Buffer.alloc(FRAME_HEADER_BYTES));
          const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - at);
          chunk.copy(header, this.headerFilled, at, at + n);
          this.headerFilled += n;
          at += n;
          if (this.headerFilled < FRAME_HEADER_BYTES) break;
          this.headerFilled = 0;
          this.check(header[0], (length = header.readUInt32BE(1)));
        }
        if (chunk.length - at >= length) {
          messages.push(chunk.subarray(at, at + length));
          at += length;
          continue;
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFilled = 0;
      }
      const n = Math.min(this.body.length - this.bodyFilled, chunk.length - at);
      chunk.copy(this.body, this.bodyFilled, at, at + n);
      this.bodyFilled += n;
      at += n;
      if (this.bodyFilled === this.body.length) {
        messages.push(this.body);
        this.body = undefined;
      }
    }
    return messages;
  }

  private check(flags: number, length: number): void {
    if ((flags & 1) !== 0) {
      // We answer with grpc-accept-encoding: identity, so a conforming peer never compresses.
      throw new GrpcFramingError(status.INTERNAL, 'received a compressed message: the sidecar accepts only uncompressed (identity) gRPC messages');
    }
    if (length > this.maxMessageBytes) {
      // grpc-js's code and wording for the same refusal.
      throw new GrpcFramingError(status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.maxMessageBytes})`);
    }
  }
}

/** One uncompressed length-prefixed message. */
export function encodeMessage(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, FRAME_HEADER_BYTES);
  return frame;
}

import { status } from '@grpc/grpc-js';
import { encodeMessage, FRAME_HEADER_BYTES, GrpcFramingError, MessageDecoder } from '../../../src/fronts/grpc/grpc-framing';

const MESSAGES = [Buffer.from('first message'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
const WIRE = Buffer.concat(MESSAGES.map((m) => encodeMessage(m)));

function decodeIn(chunks: Buffer[], max = 1 << 20): Buffer[] {
  const decoder = new MessageDecoder(max);
  const out = chunks.flatMap((c) => decoder.push(c));
  expect(decoder.midMessage).toBe(false);
  return out;
}

function framingError(fn: () => unknown): GrpcFramingError {
  try {
    fn();
  } catch (err) {
    return err as GrpcFramingError;
  }
  throw new Error('expected a GrpcFramingError');
}

describe('gRPC length-prefixed framing', () => {
  it('encodes a flag byte 0, the big-endian length, the message', () => {
    expect(encodeMessage(Buffer.from('abc')).toString('hex')).toBe('0000000003616263');
    expect(encodeMessage(Buffer.alloc(0)).toString('hex')).toBe('0000000000');
  });

  it('several messages in one chunk, an empty one included, come out in order', () => {
    expect(decodeIn([WIRE])).toEqual(MESSAGES);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 13, 4096, 16_384])('chunks of %i bytes (split inside headers and bodies) give the same messages', (size) => {
    const chunks: Buffer[] = [];
    for (let at = 0; at < WIRE.length; at += size) chunks.push(WIRE.subarray(at, at + size));
    expect(decodeIn(chunks)).toEqual(MESSAGES);
  });

  it('a split at every offset of the first two messages', () => {
    for (let cut = 0; cut <= WIRE.length && cut < 40; cut += 1) {
      expect(decodeIn([WIRE.subarray(0, cut), WIRE.subarray(cut)])).toEqual(MESSAGES);
    }
  });

  it('midMessage while a header or a body is incomplete', () => {
    const decoder = new MessageDecoder(100);
    const frame = encodeMessage(Buffer.from('hello'));
    expect(decoder.push(frame.subarray(0, 2))).toEqual([]);
    expect(decoder.midMessage).toBe(true);
    expect(decoder.push(frame.subarray(2, FRAME_HEADER_BYTES + 1))).toEqual([]);
    expect(decoder.midMessage).toBe(true);
    expect(decoder.push(frame.subarray(FRAME_HEADER_BYTES + 1))).toEqual([Buffer.from('hello')]);
    expect(decoder.midMessage).toBe(false);
  });

  it('refuses a message above the limit from its header (RESOURCE_EXHAUSTED, grpc-js wording), at the limit passes', () => {
    const atLimit = encodeMessage(Buffer.alloc(100));
    expect(decodeIn([atLimit], 100)).toEqual([Buffer.alloc(100)]);
    const over = encodeMessage(Buffer.alloc(101)).subarray(0, FRAME_HEADER_BYTES); // the header alone is enough
    const err = framingError(() => new MessageDecoder(100).push(over));
    expect({ code: err.code, message: err.message }).toEqual({ code: status.RESOURCE_EXHAUSTED, message: 'Received message larger than max (101 vs. 100)' });
  });

  it('refuses a header split across chunks that announces too much', () => {
    const decoder = new MessageDecoder(10);
    const header = encodeMessage(Buffer.alloc(11)).subarray(0, FRAME_HEADER_BYTES);
    expect(decoder.push(header.subarray(0, 3))).toEqual([]);
    expect(framingError(() => decoder.push(header.subarray(3))).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('refuses a compressed message (we accept only identity), naming why', () => {
    const frame = encodeMessage(Buffer.from('zz'));
    frame[0] = 1;
    const err = framingError(() => new MessageDecoder(100).push(frame));
    expect(err.code).toBe(status.INTERNAL);
    expect(err.message).toMatch(/compressed message.*identity/);
  });
});

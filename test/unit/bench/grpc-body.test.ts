// The bytes bench:sidecar sends with h2load must be what Envoy sends: gRPC frames of
// ProcessingRequest messages that decode back to the same request (bench/sidecar-only/grpc-body.ts).
import { loadGrpcDefinitions } from '../../../src/fronts/grpc-definitions';
import { readRequestHeaders } from '../../../src/fronts/ext-proc/headers';
import { decodeRequestBody, encodeRequestBody, extProcMessages, extProcSpec, grpcFrame, grpcUnframe } from '../../../bench/sidecar-only/grpc-body';

const LARGE = Buffer.alloc(64 * 1024, 'b');

it('frames a message as flag 0, 4-byte big-endian length, the bytes', () => {
  const framed = grpcFrame(Buffer.from('abc'));
  expect([...framed]).toEqual([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  expect(grpcUnframe(Buffer.concat([framed, grpcFrame(Buffer.alloc(0)), framed])).map((b) => b.toString())).toEqual(['abc', '', 'abc']);
});

it('refuses a cut or compressed frame instead of misreading it', () => {
  expect(() => grpcUnframe(Buffer.from([0, 0, 0, 0, 5, 1, 2]))).toThrow(/announces 5 B, 2 B follow/);
  expect(() => grpcUnframe(Buffer.from([0, 0, 0]))).toThrow(/cut inside a frame header/);
  expect(() => grpcUnframe(Buffer.from([1, 0, 0, 0, 0]))).toThrow(/compressed/);
});

it('small: one request_headers message with end_of_stream that decodes to GET /aws/small', () => {
  const decoded = decodeRequestBody(encodeRequestBody(extProcMessages(extProcSpec('small', LARGE))));
  expect(decoded).toHaveLength(1);
  const [headers] = decoded;
  expect(headers.request).toBe('request_headers');
  expect(headers.request_headers?.end_of_stream).toBe(true);
  const incoming = readRequestHeaders(headers.request_headers?.headers?.headers ?? []);
  expect(incoming).toMatchObject({ method: 'GET', target: '/aws/small', authority: 'api.bench.local', contentLength: undefined });
  expect(incoming?.headers.map(([name]) => name)).toEqual(['user-agent', 'accept', 'x-request-id', 'x-forwarded-proto']);
});

it('large: headers without end_of_stream, then the whole body with end_of_stream, in one gRPC body', () => {
  const body = encodeRequestBody(extProcMessages(extProcSpec('large', LARGE)));
  const { Process } = loadGrpcDefinitions().externalProcessor;
  const frames = grpcUnframe(body);
  expect(frames).toHaveLength(2);
  const [headers, rest] = frames.map((f) => Process.requestDeserialize(f));
  expect(headers.request_headers?.end_of_stream).not.toBe(true);
  expect(readRequestHeaders(headers.request_headers?.headers?.headers ?? [])).toMatchObject({ method: 'POST', target: '/aws/large', contentLength: LARGE.length });
  expect(rest.request).toBe('request_body');
  expect(rest.request_body?.end_of_stream).toBe(true);
  expect(Buffer.compare(rest.request_body?.body ?? Buffer.alloc(0), LARGE)).toBe(0);
});

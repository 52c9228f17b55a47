/**
 * The ext_proc exchange Envoy would have with the sidecar, as bytes a gRPC load tool can replay:
 * ProcessingRequest messages encoded with the sidecar's own loader (src/fronts/grpc-definitions.ts),
 * each in a gRPC length-prefixed frame (1 byte compressed flag = 0, 4-byte big-endian length, the
 * message). The small request is one frame (request headers, end_of_stream); the large one two
 * (headers, then the BUFFERED body), one after the other in one HTTP/2 request body.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadGrpcDefinitions, type HeaderValue, type ProcessingRequest, type ProcessingResponse } from '../../src/fronts/grpc-definitions';
import type { PayloadName } from '../results';

const FRAME_HEADER_BYTES = 5;
const UNCOMPRESSED = 0;

/** What Envoy's ext_proc filter would send for a request to `/aws/<payload>`. */
export interface ExtProcRequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly authority: string;
  readonly body: Buffer | undefined;
}

/** The headers a browser-ish client and Envoy put on a request (what the sidecar reads and filters). */
function headerList(spec: ExtProcRequestSpec): HeaderValue[] {
  const pairs: Array<[string, string]> = [
    [':method', spec.method],
    [':path', spec.path],
    [':authority', spec.authority],
    [':scheme', 'http'],
    ['user-agent', 'sidecar-bench/1.0'],
    ['accept', 'application/json'],
    ['x-request-id', '0b5d3f7e-6a52-4c1e-9d0b-2f1c0e9b8a77'],
    ['x-forwarded-proto', 'http'],
  ];
  if (spec.body !== undefined) pairs.push(['content-type', 'application/json'], ['content-length', String(spec.body.length)]);
  return pairs.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') }));
}

/** The messages of one request, in the order Envoy sends them. */
export function extProcMessages(spec: ExtProcRequestSpec): ProcessingRequest[] {
  const headers = { headers: { headers: headerList(spec) }, end_of_stream: spec.body === undefined };
  const messages: ProcessingRequest[] = [{ request: 'request_headers', request_headers: headers }];
  if (spec.body !== undefined) messages.push({ request: 'request_body', request_body: { body: spec.body, end_of_stream: true } });
  return messages;
}

export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt8(UNCOMPRESSED, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Splits a gRPC body into its messages; throws on a compressed or cut frame. */
export function grpcUnframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < FRAME_HEADER_BYTES) throw new Error(`gRPC body cut inside a frame header at byte ${at}`);
    if (body[at] !== UNCOMPRESSED) throw new Error(`gRPC frame at byte ${at} is compressed (flag ${body[at]})`);
    const length = body.readUInt32BE(at + 1);
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > body.length) throw new Error(`gRPC frame at byte ${at} announces ${length} B, ${body.length - at - FRAME_HEADER_BYTES} B follow`);
    out.push(body.subarray(at + FRAME_HEADER_BYTES, end));
    at = end;
  }
  return out;
}

export function encodeRequestBody(messages: readonly ProcessingRequest[]): Buffer {
  const { Process } = loadGrpcDefinitions().externalProcessor;
  return Buffer.concat(messages.map((m) => grpcFrame(Process.requestSerialize(m))));
}

export function decodeRequestBody(body: Buffer): ProcessingRequest[] {
  const { Process } = loadGrpcDefinitions().externalProcessor;
  return grpcUnframe(body).map((m) => Process.requestDeserialize(m));
}

export function decodeResponseBody(body: Buffer): ProcessingResponse[] {
  const { Process } = loadGrpcDefinitions().externalProcessor;
  return grpcUnframe(body).map((m) => Process.responseDeserialize(m) as ProcessingResponse);
}

export const EXT_PROC_PATHS: Readonly<Record<PayloadName, string>> = { small: '/aws/small', large: '/aws/large' };

export function extProcSpec(payload: PayloadName, largeBody: Buffer): ExtProcRequestSpec {
  return payload === 'small'
    ? { method: 'GET', path: EXT_PROC_PATHS.small, authority: 'api.bench.local', body: undefined }
    : { method: 'POST', path: EXT_PROC_PATHS.large, authority: 'api.bench.local', body: largeBody };
}

/** Writes both payloads' gRPC bodies for h2load -d; returns the files and the bytes. */
export function writeExtProcBodies(dir: string, largeBody: Buffer): Record<PayloadName, { file: string; body: Buffer }> {
  const write = (payload: PayloadName): { file: string; body: Buffer } => {
    const body = encodeRequestBody(extProcMessages(extProcSpec(payload, largeBody)));
    const file = path.join(dir, `ext-proc-${payload}.grpc`);
    fs.writeFileSync(file, body);
    return { file, body };
  };
  return { small: write('small'), large: write('large') };
}

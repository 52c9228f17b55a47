/**
 * CheckRequest → the neutral request. Envoy describes the HTTP request in
 * `attributes.request.http`: headers either as a merged, UTF-8-sanitised map (`headers`) or, with
 * the filter's `encode_raw_headers`, as a list of raw bytes (`header_map`, values in `raw_value`).
 * Both carry the pseudo-headers (`:method`, `:path`, `:authority`...), which we read from the raw
 * list when we have it: the `method`/`path`/`host` fields are UTF-8-sanitised copies.
 */
import type { HeaderList } from '../../invoke/client-request';
import type { AttributeContextHttpRequest, CheckRequest, HeaderValue } from '../grpc-definitions';

/** Context extension naming the sidecar route (ExtAuthzPerRoute check_settings.context_extensions). */
export const ROUTE_CONTEXT_EXTENSION = 'lambda_route';

/** Header Envoy adds once it attached the body; "true" means it cut the body at max_request_bytes. */
export const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

export interface CheckedRequest {
  /** The client's IP (`attributes.source.address.socket_address.address`), undefined when absent. */
  readonly sourceIp: string | undefined;
  readonly method: string;
  /** Path with the query, as it arrived. */
  readonly target: string;
  readonly authority: string;
  /** Lower-case names, no pseudo-headers; byte strings (latin1). */
  readonly headers: HeaderList;
  /** null when Envoy attached no body. */
  readonly body: Buffer | null;
  /** Bytes Envoy had received from the client when it asked (HttpRequest.size). */
  readonly sizeBytes: number;
  readonly contentLength: number | undefined;
  /** Envoy truncated the body (with_request_body.allow_partial_message). */
  readonly partialBody: boolean;
  /** The route id named by the Envoy route, '' when none. */
  readonly routeHint: string;
}

/** A UTF-8 proto string as the byte string it was on the wire (one char per byte). */
function utf8ToBytes(value: string): string {
  // Pure ASCII is already its own byte string: skip the round trip for the common case.
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'utf8').toString('latin1');
  }
  return value;
}

function rawValueOf(h: HeaderValue): string {
  return h.raw_value !== undefined ? h.raw_value.toString('latin1') : utf8ToBytes(h.value ?? '');
}

interface Pseudo {
  method?: string;
  path?: string;
  authority?: string;
}

function collect(name: string, value: string, pseudo: Pseudo, headers: HeaderList): void {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    if (name === ':method') pseudo.method = value;
    else if (name === ':path') pseudo.path = value;
    else if (name === ':authority') pseudo.authority = value;
    return;
  }
  headers.push([name.toLowerCase(), value]);
}

function readHeaders(http: AttributeContextHttpRequest): { pseudo: Pseudo; headers: HeaderList } {
  const pseudo: Pseudo = {};
  const headers: HeaderList = [];
  const raw = http.header_map?.headers;
  if (raw !== undefined && raw.length > 0) {
    for (const h of raw) if (h.key !== undefined && h.key !== '') collect(h.key, rawValueOf(h), pseudo, headers);
  } else if (http.headers !== undefined) {
    // The map merged repeated headers with ","; that is how they reach the function too.
    for (const name of Object.keys(http.headers)) collect(name, utf8ToBytes(http.headers[name]), pseudo, headers);
  }
  return { pseudo, headers };
}

function contentLengthOf(headers: HeaderList): number | undefined {
  for (const [name, value] of headers) {
    if (name !== 'content-length') continue;
    const n = Number(value);
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  }
  return undefined;
}

/** Reads the request Envoy asks about; undefined when it lacks a method or a path. */
export function readCheckRequest(req: CheckRequest | undefined): CheckedRequest | undefined {
  const attributes = req?.attributes;
  const http = attributes?.request?.http;
  if (attributes === undefined || http === undefined) return undefined;
  const { pseudo, headers } = readHeaders(http);
  const method = pseudo.method ?? utf8ToBytes(http.method ?? '');
  const target = pseudo.path ?? utf8ToBytes(http.path ?? '');
  if (method === '' || target === '') return undefined;
  const authority = pseudo.authority ?? utf8ToBytes(http.host ?? '');
  let body: Buffer | null = null;
  if (http.raw_body !== undefined && http.raw_body.length > 0) body = http.raw_body;
  // Without pack_as_bytes Envoy sends a UTF-8-sanitised copy: right for text, lossy for binary.
  else if (http.body !== undefined && http.body !== '') body = Buffer.from(http.body, 'utf8');
  let partialBody = false;
  for (const [name, value] of headers) if (name === PARTIAL_BODY_HEADER) partialBody = value === 'true';
  const sourceIp = attributes.source?.address?.socket_address?.address;
  return {
    sourceIp: sourceIp === undefined || sourceIp === '' ? undefined : sourceIp,
    method,
    target,
    authority,
    headers,
    body,
    sizeBytes: typeof http.size === 'number' && http.size > 0 ? http.size : 0,
    contentLength: contentLengthOf(headers),
    partialBody,
    routeHint: attributes.context_extensions?.[ROUTE_CONTEXT_EXTENSION] ?? '',
  };
}

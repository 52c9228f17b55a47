/**
 * `invoke(target, rest, request)`: the one call every front makes. Builds the upstream request
 * (path forwarding, header filtering, x-api-key or SigV4), sends it through the target's pool, and
 * maps every failure to one of our error codes.
 */
import { amzDate, signSigV4 } from '../aws/sigv4';
import { ERROR_CODES, SidecarError, sidecarError } from '../errors';
import { forwardableRequestHeaders, hasHeader, isSignedHeader, relayableResponseHeaders } from './header-filter';
import type { HeaderList, LambdaRequest, LambdaResponse } from './lambda-request';
import type { Dispatcher } from 'undici';
import type { LambdaTarget } from './target';
import { forwardedPath, toWirePath } from './wire-path';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH', 'EPROTO',
]);

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    if (e instanceof AggregateError) for (const inner of e.errors) codes.push(...errorCodes(inner));
  }
  return codes;
}

/** Turns an undici/socket failure into our error, with a message safe to show a client. */
export function mapUpstreamError(err: unknown, target: LambdaTarget, signal?: AbortSignal): SidecarError {
  if (err instanceof SidecarError) return err;
  const codes = errorCodes(err);
  const has = (set: ReadonlySet<string>): string | undefined => codes.find((c) => set.has(c));
  if (signal?.aborted === true || codes.includes('UND_ERR_ABORTED') || (err as Error)?.name === 'AbortError') {
    return sidecarError(ERROR_CODES.CLIENT_GONE, 'client went away before the function answered', err);
  }
  const timeout = has(TIMEOUT_CODES);
  if (timeout !== undefined) return sidecarError(ERROR_CODES.UPSTREAM_TIMEOUT, `function did not answer within ${target.timeoutMs} ms`, err);
  const tls = codes.find((c) => TLS_CODES.has(c) || c.startsWith('ERR_TLS_') || c.startsWith('ERR_SSL_'));
  if (tls !== undefined) return sidecarError(ERROR_CODES.UPSTREAM_TLS, `TLS handshake with the function failed (${tls})`, err);
  const connect = has(CONNECT_CODES);
  if (connect !== undefined) return sidecarError(ERROR_CODES.UPSTREAM_CONNECT, `function endpoint unreachable (${connect})`, err);
  if (codes.includes('UND_ERR_RES_EXCEEDED_MAX_SIZE')) return sidecarError(ERROR_CODES.UPSTREAM_RESPONSE, 'function response is too large to relay', err);
  if (codes.includes('UND_ERR_INVALID_ARG')) return sidecarError(ERROR_CODES.BAD_REQUEST, 'request cannot be forwarded: invalid method, path or header', err);
  const reset = has(RESET_CODES);
  return sidecarError(ERROR_CODES.UPSTREAM_RESET, `connection to the function failed (${reset ?? codes[0] ?? 'unknown'})`, err);
}

/**
 * Builds the header list sent to the function, authorization included. Signing reads the route's
 * credential source; only before its first fetch (or during an outage without valid credentials)
 * does it wait, bounded by the route timeout, and it never signs anonymously (ERR_CREDENTIALS).
 */
export async function buildUpstreamHeaders(target: LambdaTarget, req: LambdaRequest, wirePath: string, now: Date, signal?: AbortSignal): Promise<HeaderList> {
  const headers = forwardableRequestHeaders(req.headers);
  headers.push(['host', target.hostHeader]);
  // APISIX: x-api-key only when the client did not send one.
  if (target.apiKey !== undefined && !hasHeader(headers, 'x-api-key')) headers.push(['x-api-key', target.apiKey]);
  // APISIX: a client's own Authorization skips signing and is forwarded as it is.
  if (target.iam !== undefined && !hasHeader(headers, 'authorization')) {
    const credentials = target.iam.source.current() ?? (await target.iam.source.ready(target.timeoutMs, signal));
    const datetime = amzDate(now);
    // Our values replace any the client sent: they are part of what we sign.
    const out = headers.filter(([n]) => n !== 'x-amz-date' && n !== 'x-amz-security-token' && n !== 'x-amz-content-sha256');
    out.push(['x-amz-date', datetime]);
    const token = credentials.sessionToken;
    if (token !== undefined) out.push(['x-amz-security-token', token]);
    const authorization = signSigV4(
      { method: req.method, path: wirePath, query: req.query, headers: out.filter(([n]) => isSignedHeader(n)), body: req.body },
      target.iam.scope,
      credentials,
      datetime,
    );
    out.push(['authorization', authorization]);
    return out;
  }
  return headers;
}

function flatten(headers: HeaderList): string[] {
  const flat: string[] = new Array(headers.length * 2);
  for (let i = 0; i < headers.length; i++) {
    flat[2 * i] = headers[i][0];
    flat[2 * i + 1] = headers[i][1];
  }
  return flat;
}

/** Raw header bytes from undici (name, value, name, value...) → our list, names lower-cased. */
function toHeaderList(raw: readonly Buffer[]): HeaderList {
  const out: HeaderList = new Array(raw.length >> 1);
  for (let i = 0; i + 1 < raw.length; i += 2) out[i >> 1] = [raw[i].toString('latin1').toLowerCase(), raw[i + 1].toString('latin1')];
  return out;
}

interface RawResponse {
  status: number;
  rawHeaders: Buffer[];
  body: Buffer;
}

/**
 * One request through undici's dispatcher with a plain handler (it rejects with undici's own error;
 * `invoke` maps it, in one place): no Readable stream per response,
 * raw header bytes in received order. (The `request()` API costs a stream and an AbortSignal
 * bridge per call; profiling showed it on the hot path.)
 */
function dispatch(target: LambdaTarget, opts: Dispatcher.DispatchOptions, signal: AbortSignal | undefined): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let rawHeaders: Buffer[] = [];
    const chunks: Buffer[] = [];
    let abortRequest: ((err: Error) => void) | undefined;
    const onAbort = (): void => abortRequest?.(new Error('client went away'));
    const finish = (): void => signal?.removeEventListener('abort', onAbort);
    if (signal !== undefined) {
      if (signal.aborted) {
        reject(sidecarError(ERROR_CODES.CLIENT_GONE, 'client went away before the function answered'));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const handler: Dispatcher.DispatchHandler = {
      onConnect: (abort) => {
        abortRequest = abort;
      },
      onHeaders: (statusCode, headers) => {
        status = statusCode;
        rawHeaders = headers as unknown as Buffer[];
        return true;
      },
      onData: (chunk) => {
        chunks.push(chunk);
        return true;
      },
      onComplete: () => {
        finish();
        resolve({ status, rawHeaders, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
      },
      onError: (err) => {
        finish();
        reject(err);
      },
    };
    target.dispatcher.dispatch(opts, handler);
  });
}

/**
 * Invokes the function for `req`. `rest` is the forwarded part of the path for a `uri` ending in
 * `*` (undefined otherwise). Rejects only with SidecarError.
 */
export async function invoke(target: LambdaTarget, rest: string | undefined, req: LambdaRequest, signal?: AbortSignal): Promise<LambdaResponse> {
  if (req.body !== null && req.body.length > target.maxBodyBytes) {
    throw sidecarError(ERROR_CODES.BODY_TOO_LARGE, `request body exceeds max_req_body_size (${target.maxBodyBytes} bytes)`);
  }
  const wirePath = toWirePath(forwardedPath(target.basePath, rest));
  const headers = await buildUpstreamHeaders(target, req, wirePath, new Date(), signal);
  let res: RawResponse;
  try {
    res = await dispatch(target, {
      method: req.method,
      path: req.query === '' ? wirePath : `${wirePath}?${req.query}`,
      headers: flatten(headers),
      body: req.body !== null && req.body.length > 0 ? req.body : null,
      reset: !target.keepalive,
    }, signal);
  } catch (err) {
    throw mapUpstreamError(err, target, signal);
  }
  return {
    status: res.status,
    headers: relayableResponseHeaders(toHeaderList(res.rawHeaders), req.method === 'HEAD'),
    body: res.body,
  };
}

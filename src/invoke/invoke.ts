/**
 * `invoke(target, rest, request)`: the one call every front makes. Builds the upstream request
 * (path forwarding, header filtering, x-api-key or SigV4), sends it through the target's pool, and
 * maps every failure to one of our error codes.
 */
import { amzDate, signSigV4, type SigV4Credentials } from '../aws/sigv4';
import { ERROR_CODES, SidecarError, sidecarError } from '../errors';
import { forwardableRequestHeaders, hasHeader, isSignedHeader, relayableResponseHeaders } from './header-filter';
import type { HeaderList, ClientRequest, LambdaResponse } from './client-request';
import type { Dispatcher } from 'undici';
import type { BudgetHold } from './response-budget';
import type { ShutdownSwitch } from './shutdown-switch';
import { addXrayTraceHeader } from './trace-header';
import { bodySizeError, type LambdaTarget } from './target';
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
export function mapUpstreamError(err: unknown, target: Pick<LambdaTarget, 'timeoutMs'>, signal?: AbortSignal): SidecarError {
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
 * The header list sent to the function, authorization included. `forwarded`: the client's
 * forwardable headers (a new list, extended here). `credentials`: given when the request is to be
 * signed (see `invoke`); the caller waits for them, so building the headers never waits.
 */
export function buildUpstreamHeaders(target: LambdaTarget, req: ClientRequest, wirePath: string, forwarded: HeaderList, credentials: SigV4Credentials | undefined, now: Date): HeaderList {
  addXrayTraceHeader(forwarded); // x-amzn-* is not x-amz-*: unsigned, like traceparent (isSignedHeader)
  forwarded.push(['host', target.hostHeader]);
  // APISIX: x-api-key only when the client did not send one.
  if (target.apiKey !== undefined && !hasHeader(forwarded, 'x-api-key')) forwarded.push(['x-api-key', target.apiKey]);
  if (target.iam === undefined || credentials === undefined) return forwarded;
  const datetime = amzDate(now);
  // Our values replace any the client sent: they are part of what we sign. One pass keeps the
  // rest and picks out the signed ones.
  const out: HeaderList = [];
  const signed: HeaderList = [];
  for (const h of forwarded) {
    const name = h[0];
    if (name === 'x-amz-date' || name === 'x-amz-security-token' || name === 'x-amz-content-sha256') continue;
    out.push(h);
    if (isSignedHeader(name)) signed.push(h);
  }
  const added: HeaderList = [['x-amz-date', datetime]];
  const token = credentials.sessionToken;
  if (token !== undefined) added.push(['x-amz-security-token', token]);
  for (const h of added) {
    out.push(h);
    signed.push(h);
  }
  out.push(['authorization', signSigV4({ method: req.method, path: wirePath, query: req.query, headers: signed, body: req.body }, target.iam.scope, credentials, datetime)]);
  return out;
}

/**
 * The credentials to sign `forwarded` with; undefined when the route does not sign, or the client
 * sent its own Authorization (APISIX: it is forwarded as it is). Only before the source's first
 * fetch (or during an outage without valid credentials) does this wait, bounded by the route
 * timeout; it never lets a request go unsigned (ERR_CREDENTIALS).
 */
function credentialsFor(target: LambdaTarget, forwarded: HeaderList, signal: AbortSignal | undefined): SigV4Credentials | Promise<SigV4Credentials> | undefined {
  if (target.iam === undefined || hasHeader(forwarded, 'authorization')) return undefined;
  return target.iam.source.current() ?? target.iam.source.ready(target.timeoutMs, signal);
}

export function flatten(headers: HeaderList): string[] {
  const flat: string[] = new Array(headers.length * 2);
  for (let i = 0; i < headers.length; i++) {
    flat[2 * i] = headers[i][0];
    flat[2 * i + 1] = headers[i][1];
  }
  return flat;
}

/** Raw header bytes from undici (name, value, name, value...) → our list, names lower-cased. */
export function toHeaderList(raw: readonly Buffer[]): HeaderList {
  const out: HeaderList = new Array(raw.length >> 1);
  for (let i = 0; i + 1 < raw.length; i += 2) out[i >> 1] = [raw[i].toString('latin1').toLowerCase(), raw[i + 1].toString('latin1')];
  return out;
}

export interface RawResponse {
  status: number;
  rawHeaders: Buffer[];
  body: Buffer;
}

/** What bounds an invoke across requests (the request pipeline passes its own; tests may pass none). */
export interface InvokeBounds {
  /** Cut at the drain timeout: the request ends with ERR_DRAINING. */
  readonly shutdown?: ShutdownSwitch;
  /** This request's share of the buffered-answer budget; the caller releases it when done. */
  readonly budget?: BudgetHold;
}

export const NO_BOUNDS: InvokeBounds = Object.freeze({});

/** What `dispatch` needs of a target, whatever its kind: its pool, gate and answer limit. */
export type PooledTarget = Pick<LambdaTarget, 'gate' | 'dispatcher' | 'maxResponseBytes'>;

/** Below this, an answer of known length is collected chunk by chunk (usually one chunk, no copy). */
const PREALLOCATE_MIN_BYTES = 64 * 1024;

function overBudget(): SidecarError {
  return sidecarError(ERROR_CODES.RESPONSE_BUDGET, 'the sidecar holds too many function answers at once to buffer this one (--max-buffered-response-bytes); retry');
}

/** The Content-Length of raw undici headers, undefined when absent, repeated or not a number. */
function contentLength(raw: readonly Buffer[]): number | undefined {
  let found: number | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== 14 || name.toString('latin1').toLowerCase() !== 'content-length') continue;
    if (found !== undefined) return undefined;
    const value = raw[i + 1].toString('latin1').trim();
    if (!/^\d{1,15}$/.test(value)) return undefined;
    found = Number(value);
  }
  return found;
}

/** Why a request stops before the function answered; undefined while it may go on. */
function cancellation(signal: AbortSignal | undefined, shutdown: ShutdownSwitch | undefined): SidecarError | undefined {
  if (signal?.aborted === true) return sidecarError(ERROR_CODES.CLIENT_GONE, 'client went away before the function answered');
  if (shutdown?.cut === true) return sidecarError(ERROR_CODES.DRAINING, 'the sidecar is shutting down and the function did not answer within the drain timeout; retry');
  return undefined;
}

/**
 * One request through undici's dispatcher with a plain handler (it rejects with undici's own error;
 * `invoke` maps it, in one place): no Readable stream per response,
 * raw header bytes in received order. (The `request()` API costs a stream and an AbortSignal
 * bridge per call; profiling showed it on the hot path.)
 *
 * The request first waits for a slot at the target's gate (at most keepalive_pool in the pool). A
 * request cancelled (its client left, or the shutdown switch was cut) while it waits is answered
 * at once and never sent; one that undici has is aborted through the handler's abort, inside
 * onConnect when it comes later.
 */
export function dispatch(target: PooledTarget, opts: Dispatcher.DispatchOptions, signal: AbortSignal | undefined, bounds: InvokeBounds): Promise<RawResponse> {
  const { shutdown, budget } = bounds;
  return new Promise((resolve, reject) => {
    let status = 0;
    let rawHeaders: Buffer[] = [];
    const chunks: Buffer[] = [];
    /** The answer's buffer when its length was announced (and its budget taken); `filled` bytes so far. */
    let body: Buffer | undefined;
    let filled = 0;
    /** undici's abort for this request: set by onConnect, until then undefined. */
    let abortRequest: ((err: Error) => void) | undefined;
    /** True once the request is handed to undici: from then on, onComplete or onError frees the slot. */
    let sent = false;
    const send = (): void => {
      if (cancellation(signal, shutdown) !== undefined) {
        target.gate.leave(); // cancelled while its slot was on the way
        return;
      }
      sent = true;
      target.dispatcher.dispatch(opts, handler);
    };
    const onCancel = (): void => {
      const err = cancellation(signal, shutdown) as SidecarError;
      if (!sent) {
        target.gate.withdraw(send);
        unsubscribe();
        reject(err);
      } else if (abortRequest !== undefined) {
        abortRequest(err);
      } else {
        reject(err); // onConnect aborts it; onError then frees the slot
      }
    };
    const unsubscribe = (): void => {
      signal?.removeEventListener('abort', onCancel);
      shutdown?.unsubscribe(onCancel);
    };
    const finish = (): void => {
      unsubscribe();
      target.gate.leave();
    };
    const early = cancellation(signal, shutdown);
    if (early !== undefined) {
      reject(early);
      return;
    }
    signal?.addEventListener('abort', onCancel, { once: true });
    shutdown?.subscribe(onCancel);
    const handler: Dispatcher.DispatchHandler = {
      onConnect: (abort) => {
        const err = cancellation(signal, shutdown);
        if (err !== undefined) abort(err);
        else abortRequest = abort;
      },
      onHeaders: (statusCode, headers) => {
        status = statusCode;
        rawHeaders = headers as unknown as Buffer[];
        // HEAD, 204 and 304 announce a length but carry no body (RFC 9110 §8.6).
        const bodyless = opts.method === 'HEAD' || statusCode === 204 || statusCode === 304;
        const length = budget === undefined || bodyless ? undefined : contentLength(rawHeaders);
        if (length === undefined || length < PREALLOCATE_MIN_BYTES) return true;
        // A large answer of known length: refuse it before any byte when it cannot fit, else take
        // its budget now and fill one buffer (no chunk list, no concat copy at the end).
        if (length > target.maxResponseBytes) {
          abortRequest?.(sidecarError(ERROR_CODES.UPSTREAM_RESPONSE, 'function response is too large to relay'));
          return false;
        }
        if (!(budget as BudgetHold).take(length)) {
          abortRequest?.(overBudget());
          return false;
        }
        body = Buffer.allocUnsafeSlow(length);
        return true;
      },
      onData: (chunk) => {
        if (body !== undefined) {
          // undici frames by Content-Length, so a chunk never overruns it.
          filled += chunk.copy(body, filled);
          return true;
        }
        // Counted twice: the chunks, and the copy Buffer.concat makes of them at the end.
        if (budget !== undefined && !budget.take(2 * chunk.length)) {
          chunks.length = 0; // let the bytes go now, not when the request object does
          abortRequest?.(overBudget());
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      onComplete: () => {
        finish();
        const whole = body !== undefined ? body.subarray(0, filled) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        resolve({ status, rawHeaders, body: whole });
      },
      onError: (err) => {
        finish();
        reject(err);
      },
    };
    target.gate.enter(send);
  });
}

/**
 * Invokes the function for `req`. `rest` is the forwarded part of the path for a `uri` ending in
 * `*` (undefined otherwise). `signal`: the client left (ERR_CLIENT_GONE). Rejects only with
 * SidecarError.
 */
export async function invoke(target: LambdaTarget, rest: string | undefined, req: ClientRequest, signal?: AbortSignal, bounds: InvokeBounds = NO_BOUNDS): Promise<LambdaResponse> {
  const tooLarge = bodySizeError(target, req.body?.length);
  if (tooLarge !== undefined) throw tooLarge;
  const wirePath = toWirePath(forwardedPath(target.basePath, rest));
  const forwarded = forwardableRequestHeaders(req.headers);
  const pending = credentialsFor(target, forwarded, signal);
  const credentials = pending instanceof Promise ? await pending : pending;
  const headers = buildUpstreamHeaders(target, req, wirePath, forwarded, credentials, new Date());
  let res: RawResponse;
  try {
    res = await dispatch(target, {
      method: req.method,
      path: req.query === '' ? wirePath : `${wirePath}?${req.query}`,
      headers: flatten(headers),
      body: req.body !== null && req.body.length > 0 ? req.body : null,
      reset: !target.keepalive,
    }, signal, bounds);
  } catch (err) {
    throw mapUpstreamError(err, target, signal);
  }
  return {
    status: res.status,
    headers: relayableResponseHeaders(toHeaderList(res.rawHeaders), req.method === 'HEAD'),
    body: res.body,
  };
}

/**
 * The per-request log line every front writes once a request is finished (README "Logs"):
 * `debug` `{ door, route, status, code, durationMs, requestId }` 'request'. `requestId` is the
 * proxy's `x-request-id`, which warn/error lines about the request carry too.
 */
import type { Logger } from 'pino';
import { ERROR_CODES, type ErrorCode, type SidecarError } from '../errors';
import type { HeaderList } from '../invoke/client-request';
import type { Door, RequestObservation, RequestObserver } from '../observability/request-observer';

export type { Door };

export const REQUEST_ID_HEADER = 'x-request-id';

/** W3C trace context of a request (`traceparent`, `tracestate`), for its span. */
export interface TraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** The request's W3C trace context headers (the first traceparent; tracestate values joined). */
export function traceContextOf(headers: HeaderList): TraceContext {
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (const [name, value] of headers) {
    if (name === 'traceparent') traceparent ??= value;
    else if (name === 'tracestate') tracestate = tracestate === undefined ? value : `${tracestate},${value}`;
  }
  return { traceparent, tracestate };
}

/** The proxy's request id, undefined when the request carries none. */
export function requestIdOf(headers: HeaderList): string | undefined {
  for (const [name, value] of headers) if (name === REQUEST_ID_HEADER) return value;
  return undefined;
}

export interface RequestOutcome {
  readonly route: string | undefined;
  /** The status the sidecar answered; undefined when the request passed through or nobody heard it. */
  readonly status: number | undefined;
  readonly code: ErrorCode | undefined;
}

/** What the access log and tracing add to the outcome; undefined fields are simply not known. */
export interface RequestDetails extends TraceContext {
  readonly method?: string;
  /** Without the query. */
  readonly path?: string;
  readonly requestBytes?: number;
  readonly responseBytes?: number;
}

/** The observers of a request: the request pipeline's (undefined when off) and the request's observation. */
export interface ObservedBy {
  readonly observer: RequestObserver | undefined;
  readonly observation: RequestObservation | undefined;
}

/**
 * The one completion point of every request, whatever the front: the debug line, then the
 * observers (metrics, spans, access log). `startedAtMs` is a `performance.now()` reading.
 */
export function logRequest(
  log: Logger,
  door: Door,
  startedAtMs: number,
  requestId: string | undefined,
  outcome: RequestOutcome,
  observed?: ObservedBy,
  details?: RequestDetails,
): void {
  const debug = log.isLevelEnabled('debug');
  const observer = observed?.observer;
  if (!debug && observer === undefined) return;
  const durationMs = Math.round((performance.now() - startedAtMs) * 10) / 10;
  if (debug) log.debug({ door, ...outcome, durationMs, requestId }, 'request');
  if (observer === undefined) return;
  const observation = observed?.observation;
  observer.requestDone({
    door,
    // Only a route the table holds names the request: a proxy's unknown route name is no label.
    route: observation === undefined ? undefined : outcome.route,
    status: outcome.status,
    code: outcome.code,
    durationMs,
    requestId,
    method: details?.method,
    path: details?.path,
    requestBytes: details?.requestBytes,
    responseBytes: details?.responseBytes,
    functionMs: observation?.functionMs,
    traceparent: details?.traceparent,
    tracestate: details?.tracestate,
  }, observation);
}

/** Codes the request pipeline logs itself, at most once per CAPACITY_LOG_INTERVAL_MS: a front adds no line. */
const LOGGED_BY_PIPELINE: ReadonlySet<ErrorCode> = new Set([ERROR_CODES.OVERLOADED, ERROR_CODES.RESPONSE_BUDGET]);

export interface FailureFields {
  readonly requestId: string | undefined;
  readonly route: string | undefined;
}

/**
 * The one log line of a request the sidecar answered with an error (README "Logs"): a bug at
 * error with its cause; a client that left, or ERR_CREDENTIALS (the credential source logs its
 * outage once at each end), at debug; capacity refusals not at all (the request pipeline rate-limits those);
 * anything else at warn with the status.
 */
export function logRequestFailure(log: Logger, err: SidecarError, fields: FailureFields): void {
  const line = { ...fields, code: err.code };
  if (err.code === ERROR_CODES.INTERNAL) log.error({ ...line, err: err.cause }, 'internal error');
  else if (err.code === ERROR_CODES.CLIENT_GONE || err.code === ERROR_CODES.CREDENTIALS) log.debug({ ...line, status: err.status }, err.message);
  else if (!LOGGED_BY_PIPELINE.has(err.code)) log.warn({ ...line, status: err.status }, err.message);
}

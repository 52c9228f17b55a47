/**
 * The seam metrics, tracing and the access log hang on (README "Observability"). Two calls, both
 * made once per request: the request pipeline reports the function's own time around the call
 * (`functionDone`), and each front's single completion point (`logRequest`) reports the finished
 * request (`requestDone`). When nothing observes, the request pipeline holds `undefined` and neither call
 * nor its record is made.
 */
import type { ErrorCode } from '../errors';
import type { ClientRequest } from '../invoke/client-request';

export type Door = 'ext_proc' | 'ext_authz' | 'http';

/** Per-request state an observer keeps between the two calls; kept through `{ ...routed }` copies. */
export interface RequestObservation {
  /** The function call's time, set by the request pipeline; undefined when no function was called. */
  functionMs: number | undefined;
  /** Set by the tracer when it started a server span for the request. */
  span: { end(record: RequestRecord): void } | undefined;
}

export interface RequestRecord {
  readonly door: Door;
  /** The route id from the loaded configuration (never a proxy-supplied name the table does not hold). */
  readonly route: string | undefined;
  readonly status: number | undefined;
  readonly code: ErrorCode | undefined;
  readonly durationMs: number;
  readonly requestId: string | undefined;
  readonly method: string | undefined;
  /** Without the query. */
  readonly path: string | undefined;
  readonly requestBytes: number | undefined;
  readonly responseBytes: number | undefined;
  readonly functionMs: number | undefined;
  /** The request's W3C trace context, when it carried one (a span for a request no function answered). */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export interface RequestObserver {
  /** Before the function call (tracing starts its spans here). */
  functionStart?(routeId: string, req: ClientRequest, observation: RequestObservation): void;
  /** After the function call, whatever its outcome; `code` is the call's error code, if any. */
  functionDone?(routeId: string, functionMs: number, observation: RequestObservation, code: ErrorCode | undefined): void;
  requestDone(record: RequestRecord, observation: RequestObservation | undefined): void;
}

/** One observer calling each of `observers` in turn; undefined when there is none (observability off). */
export function combineObservers(observers: ReadonlyArray<RequestObserver | undefined>): RequestObserver | undefined {
  const list = observers.filter((o): o is RequestObserver => o !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return {
    functionStart: (routeId, req, observation) => {
      for (const o of list) o.functionStart?.(routeId, req, observation);
    },
    functionDone: (routeId, functionMs, observation, code) => {
      for (const o of list) o.functionDone?.(routeId, functionMs, observation, code);
    },
    requestDone: (record, observation) => {
      for (const o of list) o.requestDone(record, observation);
    },
  };
}

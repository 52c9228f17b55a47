/**
 * The OpenTelemetry SDK side of tracing (see tracing.ts): loaded only when the environment turns
 * tracing on, so a sidecar without it does not hold the SDK and the OTLP exporter in memory.
 *
 * Per request that calls a function: a SERVER span (door, route id, method, path, status, error
 * code), parented on the incoming `traceparent` (and its `tracestate`), and a CLIENT span for the
 * function call under it. Both are built when the request is finished, from the times the request pipeline
 * and the front measured, so nothing but two clock readings happens while the request runs.
 */
import { createTraceState, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVICE_NAME, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import type { ErrorCode } from '../errors';
import type { ClientRequest } from '../invoke/client-request';
import { traceContextOf } from '../fronts/request-log';
import { parseTraceParent } from '../invoke/trace-header';
import type { RequestObservation, RequestObserver, RequestRecord } from './request-observer';
import { DEFAULT_SERVICE_NAME, type Env, type Tracing } from './tracing';

export const ATTR_DOOR = 'aws_lambda_sidecar.door';
export const ATTR_ROUTE = 'aws_lambda_sidecar.route';
export const ATTR_ERROR_CODE = 'aws_lambda_sidecar.error_code';

/** The incoming trace context (traceparent + tracestate), or the root context when there is none. */
function incomingContext(req: ClientRequest): Context {
  const { traceparent, tracestate } = traceContextOf(req.headers);
  return contextOf(traceparent, tracestate);
}

/** The remote parent a `traceparent` names (ROOT_CONTEXT when absent or invalid). */
function contextOf(traceparent: string | undefined, tracestate: string | undefined): Context {
  const tp = traceparent === undefined ? undefined : parseTraceParent(traceparent);
  if (tp === undefined) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: tp.traceId,
    spanId: tp.spanId,
    traceFlags: tp.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
    traceState: tracestate === undefined ? undefined : createTraceState(tracestate),
  });
}

/** Epoch milliseconds with performance.now()'s resolution. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The request's server span, started back-dated by its duration (door, route, status, code). */
function startServerSpan(tracer: Tracer, parent: Context, routeId: string | undefined, r: RequestRecord, endMs: number): Span {
  const server = tracer.startSpan(`${r.method ?? 'request'} ${routeId ?? 'unrouted'}`, {
    kind: SpanKind.SERVER,
    startTime: endMs - r.durationMs,
    attributes: {
      [ATTR_DOOR]: r.door,
      ...(routeId === undefined ? {} : { [ATTR_ROUTE]: routeId }),
      ...(r.method === undefined ? {} : { [ATTR_HTTP_REQUEST_METHOD]: r.method }),
      ...(r.path === undefined ? {} : { [ATTR_URL_PATH]: r.path }),
      ...(r.status === undefined ? {} : { [ATTR_HTTP_RESPONSE_STATUS_CODE]: r.status }),
      ...(r.code === undefined ? {} : { [ATTR_ERROR_CODE]: r.code, [ATTR_ERROR_TYPE]: r.code }),
    },
  }, parent);
  if (r.code !== undefined || (r.status !== undefined && r.status >= 500)) server.setStatus({ code: SpanStatusCode.ERROR, message: r.code });
  return server;
}

class PendingSpans {
  readonly functionStartMs = epochMs();
  functionEndMs: number | undefined;
  functionCode: ErrorCode | undefined;

  constructor(private readonly tracer: Tracer, private readonly parent: Context, private readonly routeId: string) {}

  end(r: RequestRecord): void {
    const endMs = epochMs();
    const server = startServerSpan(this.tracer, this.parent, this.routeId, r, endMs);
    const client = this.tracer.startSpan(`invoke ${this.routeId}`, {
      kind: SpanKind.CLIENT,
      startTime: this.functionStartMs,
      attributes: { [ATTR_ROUTE]: this.routeId, ...(this.functionCode === undefined ? {} : { [ATTR_ERROR_CODE]: this.functionCode, [ATTR_ERROR_TYPE]: this.functionCode }) },
    }, trace.setSpan(this.parent, server));
    if (this.functionCode !== undefined) client.setStatus({ code: SpanStatusCode.ERROR, message: this.functionCode });
    client.end(this.functionEndMs ?? endMs);
    server.end(endMs);
  }
}

/** The SDK's tracer provider with the OTLP exporter, and the observer that turns requests into spans. */
export function startTracing(env: Env, serviceVersion: string | undefined): Tracing {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME !== undefined && env.OTEL_SERVICE_NAME !== '' ? env.OTEL_SERVICE_NAME : DEFAULT_SERVICE_NAME,
      ...(serviceVersion === undefined ? {} : { 'service.version': serviceVersion }),
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const tracer = provider.getTracer(DEFAULT_SERVICE_NAME, serviceVersion);
  // Spans are parented explicitly (no global context manager or propagator is installed).
  const observer: RequestObserver = {
    functionStart(routeId: string, req: ClientRequest, observation: RequestObservation): void {
      observation.span = new PendingSpans(tracer, incomingContext(req), routeId);
    },
    functionDone(_routeId: string, _functionMs: number, observation: RequestObservation, code: ErrorCode | undefined): void {
      const pending = observation.span as PendingSpans | undefined;
      if (pending === undefined) return;
      pending.functionEndMs = epochMs();
      pending.functionCode = code;
    },
    requestDone(record: RequestRecord, observation: RequestObservation | undefined): void {
      if (observation?.span !== undefined) {
        observation.span.end(record);
        return;
      }
      // No function was called (refused, passed through, unmatched): the server span alone.
      const endMs = epochMs();
      startServerSpan(tracer, contextOf(record.traceparent, record.tracestate), record.route, record, endMs).end(endMs);
    },
  };
  return { observer, shutdown: () => provider.shutdown() };
}

/**
 * W3C Trace Context (`traceparent`) read from a request, and the AWS X-Ray header derived from it,
 * so a function's X-Ray segments join the trace the proxy started.
 */
import type { HeaderList } from './client-request';

export interface TraceParent {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits: the caller's span. */
  readonly spanId: string;
  readonly sampled: boolean;
}

/** https://www.w3.org/TR/trace-context/#traceparent-header-field-values (version 00; later versions keep the first four fields). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

export function parseTraceParent(value: string): TraceParent | undefined {
  const m = TRACEPARENT.exec(value.trim());
  if (m === null || m[1] === 'ff' || (m[1] === '00' && value.trim().length !== 55)) return undefined;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined; // all-zero ids are invalid
  return { traceId: m[2], spanId: m[3], sampled: (parseInt(m[4], 16) & 1) === 1 };
}

export const TRACEPARENT_HEADER = 'traceparent';
export const XRAY_TRACE_HEADER = 'x-amzn-trace-id';

/**
 * X-Ray's `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`: the trace id split as the
 * OpenTelemetry AWS X-Ray propagator splits it (the first 8 hex digits are X-Ray's epoch field).
 */
export function xrayTraceHeader(tp: TraceParent): string {
  return `Root=1-${tp.traceId.slice(0, 8)}-${tp.traceId.slice(8)};Parent=${tp.spanId};Sampled=${tp.sampled ? 1 : 0}`;
}

/** Adds X-Amzn-Trace-Id derived from a valid `traceparent` when the request carries no X-Amzn-Trace-Id. */
export function addXrayTraceHeader(headers: HeaderList): void {
  let traceparent: string | undefined;
  for (const [name, value] of headers) {
    if (name === XRAY_TRACE_HEADER) return;
    if (name === TRACEPARENT_HEADER && traceparent === undefined) traceparent = value;
  }
  if (traceparent === undefined) return;
  const tp = parseTraceParent(traceparent);
  if (tp !== undefined) headers.push([XRAY_TRACE_HEADER, xrayTraceHeader(tp)]);
}

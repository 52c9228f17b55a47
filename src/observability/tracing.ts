/**
 * OpenTelemetry spans, off unless the standard variables turn them on: an OTLP endpoint
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and neither
 * `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`. The SDK reads the rest itself
 * (`OTEL_TRACES_SAMPLER` / `_ARG`, `OTEL_EXPORTER_OTLP_*` headers and timeout, `OTEL_BSP_*`).
 *
 * The SDK itself (tracing-sdk.ts: spans per request, the OTLP exporter) loads only then: about
 * 2 MB of RSS (measured, idle sidecar on Node 24) and their load time, which a sidecar without
 * tracing does not pay.
 */
import type { RequestObserver } from './request-observer';

export const DEFAULT_SERVICE_NAME = 'aws-lambda-sidecar';

export type Env = Readonly<Record<string, string | undefined>>;

export function tracingEnabled(env: Env): boolean {
  const endpoint = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '' || (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '';
  return endpoint && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true' && env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== 'none';
}

export interface Tracing {
  readonly observer: RequestObserver;
  /** Exports the spans still buffered; call at exit. */
  shutdown(): Promise<void>;
}

/** The tracer, or undefined when the environment does not turn tracing on (the SDK is then never loaded). */
export function createTracing(env: Env = process.env, serviceVersion?: string): Tracing | undefined {
  if (!tracingEnabled(env)) return undefined;
  return (require('./tracing-sdk') as typeof import('./tracing-sdk')).startTracing(env, serviceVersion);
}

/**
 * Prometheus metrics (prom-client), served on the HTTP listener's `/metrics`. On the request path
 * only counter and histogram updates happen; pool, route-store and in-flight gauges are read at
 * scrape time (`collect`). Label values are bounded: doors, configured route ids, error codes from
 * src/errors.ts, HTTP statuses (100-599) — never a path or a proxy-supplied name.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ERROR_CODES, type ErrorCode } from '../errors';
import type { RequestObservation, RequestObserver, RequestRecord } from './request-observer';

export const METRICS_PREFIX = 'aws_lambda_sidecar_';
export const METRICS_PATH = '/metrics';
/** Seconds: from 1 ms (the sidecar's own overhead) to Lambda's 15-minute maximum. */
export const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));
/** Label values when a request has none: passed through (no status), no route, no error. */
export const NO_LABEL = 'none';

/** A status as a label: the number for a real HTTP status, `none` when the sidecar answered nothing. */
export function statusLabel(status: number | undefined): string {
  return status !== undefined && Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : NO_LABEL;
}

export function codeLabel(code: ErrorCode | undefined): string {
  return code === undefined ? NO_LABEL : KNOWN_CODES.has(code) ? code : 'other';
}

export function routeLabel(route: string | undefined): string {
  return route ?? NO_LABEL;
}

export interface PoolState {
  readonly origin: string;
  readonly connected: number;
  readonly pending: number;
  readonly queued: number;
  readonly running: number;
}

/** What the metrics read at scrape time. */
export interface MetricsSources {
  readonly inflightRequests: () => number;
  readonly pools: () => Iterable<PoolState>;
  readonly routesLoaded: () => number;
  /** Unix time (s) of the last routes load or reload that was applied. */
  readonly lastReloadUnixS: () => number;
  /** undefined for stores that have no connection (the file store). */
  readonly storeConnected?: () => boolean;
  /** Access log lines dropped so far; undefined when the access log is off. */
  readonly accessLogDropped?: () => number;
}

export class SidecarMetrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'door' | 'route' | 'status' | 'code'>;
  private readonly requestSeconds: Histogram<'door' | 'route'>;
  private readonly functionSeconds: Histogram<'route' | 'code'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX });
    this.requests = new Counter({ name: `${METRICS_PREFIX}requests_total`, help: 'Requests finished, by door, route id, status answered (none: passed through or unheard) and error code', labelNames: ['door', 'route', 'status', 'code'], registers });
    this.requestSeconds = new Histogram({ name: `${METRICS_PREFIX}request_duration_seconds`, help: 'Time the sidecar spent on a request, from its arrival to its answer (the function call included)', labelNames: ['door', 'route'], buckets: DURATION_BUCKETS_S, registers });
    this.functionSeconds = new Histogram({ name: `${METRICS_PREFIX}function_duration_seconds`, help: 'Time of the function call alone (pool wait, Lambda, the answer read)', labelNames: ['route', 'code'], buckets: DURATION_BUCKETS_S, registers });
    const dropped = sources.accessLogDropped;
    if (dropped !== undefined) {
      new Counter({ name: `${METRICS_PREFIX}access_log_dropped_lines_total`, help: 'Access log lines dropped because the writer did not keep up (--access-log-buffer-bytes)', registers, collect() { this.reset(); this.inc(dropped()); } });
    }
    new Gauge({ name: `${METRICS_PREFIX}inflight_requests`, help: 'Function calls in flight', registers, collect() { this.set(sources.inflightRequests()); } });
    new Gauge({ name: `${METRICS_PREFIX}routes_loaded`, help: 'Routes in the table in force', registers, collect() { this.set(sources.routesLoaded()); } });
    new Gauge({ name: `${METRICS_PREFIX}routes_last_reload_timestamp_seconds`, help: 'Unix time of the last routes load or reload applied', registers, collect() { this.set(sources.lastReloadUnixS()); } });
    if (sources.storeConnected !== undefined) {
      const connected = sources.storeConnected;
      new Gauge({ name: `${METRICS_PREFIX}route_store_connected`, help: '1 while the route store (etcd) is connected, else 0', registers, collect() { this.set(connected() ? 1 : 0); } });
    }
    const poolGauge = (field: 'connected' | 'pending' | 'queued' | 'running', help: string): void => {
      new Gauge({
        name: `${METRICS_PREFIX}pool_${field}`,
        help,
        labelNames: ['origin'],
        registers,
        collect() {
          this.reset();
          for (const pool of sources.pools()) this.inc({ origin: pool.origin }, pool[field]);
        },
      });
    };
    poolGauge('connected', 'Connections open to a function endpoint (undici pool stats)');
    poolGauge('pending', 'Requests waiting for a connection of the pool');
    poolGauge('queued', 'Requests handed to the pool and not yet answered');
    poolGauge('running', 'Requests being answered on the pool\'s connections');
  }

  functionDone(routeId: string, functionMs: number, _observation: RequestObservation, code: ErrorCode | undefined): void {
    this.functionSeconds.observe({ route: routeId, code: codeLabel(code) }, functionMs / 1000);
  }

  requestDone(record: RequestRecord): void {
    const route = routeLabel(record.route);
    this.requests.inc({ door: record.door, route, status: statusLabel(record.status), code: codeLabel(record.code) });
    this.requestSeconds.observe({ door: record.door, route }, record.durationMs / 1000);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

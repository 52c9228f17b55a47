/**
 * Prometheus metrics (prom-client), served on the HTTP listener's `/metrics`. On the request path
 * only counter and histogram updates happen; pool, route-store and in-flight gauges are read at
 * scrape time (`collect`). Label values are bounded: doors, configured route ids, error codes from
 * src/errors.ts, HTTP statuses (100-599) — never a path or a proxy-supplied name.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type MetricValue } from 'prom-client';
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
  /** Fetches and failed fetches per credential source (its description: no secret, bounded by the routes). */
  readonly credentialFetches?: () => ReadonlyMap<string, { readonly fetches: number; readonly failures: number }>;
}

/**
 * A counter or histogram kept in plain arrays and turned into prom-client's exposition values at
 * scrape time. prom-client's own metrics validate and hash the label object on every update (even
 * through `labels()` children); here an update is one Map lookup on the joined label values and
 * an array increment. Series are created on first use and kept, as prom-client keeps them.
 */
class LabelledSeries {
  /** Per series: its labels and, for a histogram, bucket counts then sum then count; for a counter, [count]. */
  private readonly series = new Map<string, { labels: Record<string, string>; values: number[] }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly bounds: readonly number[] = [],
  ) {}

  readonly aggregator = 'sum' as const;

  /** `key`: the label values joined (the caller builds it once); `labels()` runs only for a new series. */
  add(key: string, labels: () => Record<string, string>, value: number): void {
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: labels(), values: new Array<number>(this.type === 'counter' ? 1 : this.bounds.length + 2).fill(0) };
      this.series.set(key, s);
    }
    if (this.type === 'counter') {
      s.values[0] += value;
      return;
    }
    const v = s.values;
    const n = this.bounds.length;
    let i = 0;
    while (i < n && value > this.bounds[i]) i++;
    if (i < n) v[i]++;
    v[n] += value;
    v[n + 1]++;
  }

  /** What prom-client's Registry reads from a metric when it renders the exposition. */
  get(): { name: string; help: string; type: string; aggregator: 'sum'; values: Array<MetricValue<string>> } {
    const values: Array<MetricValue<string>> = [];
    for (const { labels, values: v } of this.series.values()) {
      if (this.type === 'counter') {
        values.push({ labels, value: v[0] });
        continue;
      }
      const n = this.bounds.length;
      let cumulative = 0;
      for (let i = 0; i < n; i++) {
        cumulative += v[i];
        values.push({ labels: { ...labels, le: this.bounds[i] }, value: cumulative, metricName: `${this.name}_bucket` } as MetricValue<string>);
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: v[n + 1], metricName: `${this.name}_bucket` } as MetricValue<string>);
      values.push({ labels, value: v[n], metricName: `${this.name}_sum` } as MetricValue<string>);
      values.push({ labels, value: v[n + 1], metricName: `${this.name}_count` } as MetricValue<string>);
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class SidecarMetrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: LabelledSeries;
  private readonly requestSeconds: LabelledSeries;
  private readonly functionSeconds: LabelledSeries;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX });
    this.requests = new LabelledSeries(`${METRICS_PREFIX}requests_total`, 'Requests finished, by door, route id, status answered (none: passed through or unheard) and error code', 'counter');
    this.requestSeconds = new LabelledSeries(`${METRICS_PREFIX}request_duration_seconds`, 'Time the sidecar spent on a request, from its arrival to its answer (the function call included)', 'histogram', DURATION_BUCKETS_S);
    this.functionSeconds = new LabelledSeries(`${METRICS_PREFIX}function_duration_seconds`, 'Time of the function call alone (pool wait, Lambda, the answer read)', 'histogram', DURATION_BUCKETS_S);
    for (const m of [this.requests, this.requestSeconds, this.functionSeconds]) this.registry.registerMetric(m as never);
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
    const credentialCounter = (field: 'fetches' | 'failures', name: string, help: string): void => {
      const read = sources.credentialFetches;
      if (read === undefined) return;
      new Counter({
        name: `${METRICS_PREFIX}${name}`,
        help,
        labelNames: ['source'],
        registers,
        collect() {
          this.reset();
          for (const [source, counts] of read()) this.inc({ source }, counts[field]);
        },
      });
    };
    credentialCounter('fetches', 'credential_fetches_total', 'Credential fetches (IMDS, container endpoint, STS, files...) per credential source');
    credentialCounter('failures', 'credential_fetch_failures_total', 'Credential fetches that failed, per credential source');
    poolGauge('connected', 'Connections open to a function endpoint (undici pool stats)');
    poolGauge('pending', 'Requests waiting for a connection of the pool');
    poolGauge('queued', 'Requests handed to the pool and not yet answered');
    poolGauge('running', 'Requests being answered on the pool\'s connections');
  }

  functionDone(routeId: string, functionMs: number, _observation: RequestObservation, code: ErrorCode | undefined): void {
    const codeValue = codeLabel(code);
    this.functionSeconds.add(`${routeId}\n${codeValue}`, () => ({ route: routeId, code: codeValue }), functionMs / 1000);
  }

  requestDone(record: RequestRecord): void {
    const { door } = record;
    const route = routeLabel(record.route);
    const status = statusLabel(record.status);
    const code = codeLabel(record.code);
    const timingKey = `${door}\n${route}`;
    this.requests.add(`${timingKey}\n${status}\n${code}`, () => ({ door, route, status, code }), 1);
    this.requestSeconds.add(timingKey, () => ({ door, route }), record.durationMs / 1000);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

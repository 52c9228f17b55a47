/**
 * What the sidecar itself says it answered, from its Prometheus `/metrics`
 * (`aws_lambda_sidecar_requests_total{door,route,status,code}`, src/observability/metrics.ts):
 * a load tool's 2xx count says nothing about gRPC (every ext_proc answer is HTTP 200, the outcome
 * is inside the message and grpc-status), so each run is checked against the delta of this counter.
 */
import { METRICS_PATH, METRICS_PREFIX } from '../../src/observability/metrics';
import { sleep } from '../../test/e2e/support/processes';
import { httpRequest } from '../http-request';

const REQUESTS_TOTAL = `${METRICS_PREFIX}requests_total`;
const INFLIGHT = `${METRICS_PREFIX}inflight_requests`;
/** Between two reads of /metrics while waiting for the sidecar to finish what a load tool left. */
const SETTLE_INTERVAL_MS = 250;
/** The longest wait for that (a sidecar starved of CPU may hold seconds of queued requests). */
const SETTLE_MAX_MS = 15_000;
/** A request whose client left before the answer: the load tool stopping at the end of its run. */
export const CLIENT_GONE_CODE = 'ERR_CLIENT_GONE';

/** Request counts per `door|status|code`. */
export type RequestCounts = ReadonlyMap<string, number>;

export interface RequestDelta {
  /** Answered 200 with no error code. */
  readonly ok: number;
  /** Left by the client before the answer (status none, ERR_CLIENT_GONE). */
  readonly clientGone: number;
  /** Everything else: another status, another error code. */
  readonly failed: number;
  /** The non-zero series of `failed`, `status/code count`, for the report. */
  readonly failures: readonly string[];
}

function labelsOf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out.set(m[1], m[2]);
  return out;
}

/** The requests_total series of one door from the exposition text. */
export function parseRequestCounts(exposition: string, door: string): RequestCounts {
  const counts = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${REQUESTS_TOTAL}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = labelsOf(line.slice(REQUESTS_TOTAL.length + 1, close));
    if (labels.get('door') !== door) continue;
    const key = `${labels.get('status') ?? ''}|${labels.get('code') ?? ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(close + 1).trim()));
  }
  return counts;
}

export function requestDelta(before: RequestCounts, after: RequestCounts): RequestDelta {
  let ok = 0;
  let clientGone = 0;
  let failed = 0;
  const failures: string[] = [];
  for (const [key, value] of after) {
    const n = value - (before.get(key) ?? 0);
    if (n === 0) continue;
    const [status, code] = key.split('|');
    if (status === '200' && code === 'none') ok += n;
    else if (code === CLIENT_GONE_CODE) clientGone += n;
    else {
      failed += n;
      failures.push(`${status}/${code} ${n}`);
    }
  }
  return { ok, clientGone, failed, failures };
}

/** The `inflight_requests` gauge: function calls not yet settled (undefined when absent). */
export function parseInflight(exposition: string): number | undefined {
  const m = new RegExp(`^${INFLIGHT} (\\S+)$`, 'm').exec(exposition);
  return m === null ? undefined : Number(m[1]);
}

function sameCounts(a: RequestCounts, b: RequestCounts): boolean {
  return a.size === b.size && [...a].every(([key, n]) => b.get(key) === n);
}

async function scrape(httpPort: number): Promise<string> {
  const res = await httpRequest(httpPort, METRICS_PATH);
  if (res.status !== 200) throw new Error(`GET ${METRICS_PATH} on the sidecar answered ${res.status}`);
  return res.body.toString('utf8');
}

/**
 * The door's counts once the sidecar is done with what the last load left (requests a stopped
 * tool abandoned are still answered or cut): no function call in flight and the counts unchanged
 * over SETTLE_INTERVAL_MS, waiting at most SETTLE_MAX_MS.
 */
export async function settledRequestCounts(httpPort: number, door: string): Promise<RequestCounts> {
  let last = parseRequestCounts(await scrape(httpPort), door);
  for (const deadline = Date.now() + SETTLE_MAX_MS; Date.now() < deadline; ) {
    await sleep(SETTLE_INTERVAL_MS);
    const text = await scrape(httpPort);
    const now = parseRequestCounts(text, door);
    if (sameCounts(last, now) && parseInflight(text) === 0) return now;
    last = now;
  }
  return last;
}

/**
 * Whether the sidecar's count matches the load tool's. `slack`: requests the tool may have left
 * unanswered when it stopped (0 for h2load -n, which waits for every answer; wrk -d stops with up
 * to one request in flight per connection, which the sidecar then answers or sees abandoned).
 */
export function countMismatch(delta: RequestDelta, completed: number, slack: number): string | undefined {
  if (delta.failed > 0) return `the sidecar answered ${delta.failed} request(s) with an error: ${delta.failures.join(', ')}`;
  const answered = delta.ok;
  if (answered < completed || answered > completed + slack) {
    return `the sidecar answered ${answered} request(s) 200, the load tool completed ${completed}${slack > 0 ? ` (allowed: up to ${slack} more)` : ''}`;
  }
  if (delta.clientGone > slack) return `${delta.clientGone} request(s) abandoned by the client (allowed: ${slack})`;
  return undefined;
}

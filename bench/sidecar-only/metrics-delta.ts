/**
 * What the sidecar itself says it answered, from its Prometheus `/metrics`
 * (`aws_lambda_sidecar_requests_total{door,route,status,code}`, src/observability/metrics.ts):
 * a load tool's 2xx count says nothing about gRPC (every ext_proc answer is HTTP 200, the outcome
 * is inside the message and grpc-status), so each run is checked against the delta of this counter.
 */
import { METRICS_PATH, METRICS_PREFIX } from '../../src/observability/metrics';
import { httpRequest } from '../http-request';

const REQUESTS_TOTAL = `${METRICS_PREFIX}requests_total`;
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

export async function readRequestCounts(httpPort: number, door: string): Promise<RequestCounts> {
  const res = await httpRequest(httpPort, METRICS_PATH);
  if (res.status !== 200) throw new Error(`GET ${METRICS_PATH} on the sidecar answered ${res.status}`);
  return parseRequestCounts(res.body.toString('utf8'), door);
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

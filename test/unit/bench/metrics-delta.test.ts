// bench:sidecar trusts the sidecar's own request counter over the load tool's 2xx count; these are
// the rules that turn two /metrics scrapes into "passed" or "failed" (bench/sidecar-only/metrics-delta.ts).
import { countMismatch, parseInflight, parseRequestCounts, requestDelta } from '../../../bench/sidecar-only/metrics-delta';

function exposition(lines: ReadonlyArray<[door: string, status: string, code: string, value: number]>): string {
  return [
    '# HELP aws_lambda_sidecar_requests_total Requests finished',
    '# TYPE aws_lambda_sidecar_requests_total counter',
    ...lines.map(([door, status, code, value]) => `aws_lambda_sidecar_requests_total{door="${door}",route="bench-iam",status="${status}",code="${code}"} ${value}`),
    'aws_lambda_sidecar_request_duration_seconds_count{door="ext_proc",route="bench-iam"} 999',
  ].join('\n');
}

it('reads one door\'s requests_total by status and code, ignoring other doors and metrics', () => {
  const text = exposition([['ext_proc', '200', 'none', 10], ['http', '200', 'none', 7], ['ext_proc', '500', 'ERR_UPSTREAM_CONNECT', 2]]);
  expect([...parseRequestCounts(text, 'ext_proc')]).toEqual([['200|none', 10], ['500|ERR_UPSTREAM_CONNECT', 2]]);
  expect([...parseRequestCounts(text, 'http')]).toEqual([['200|none', 7]]);
});

it('counts the growth between two scrapes; a series that appears counts from 0', () => {
  const before = parseRequestCounts(exposition([['http', '200', 'none', 100]]), 'http');
  const after = parseRequestCounts(exposition([['http', '200', 'none', 1100], ['http', 'none', 'ERR_CLIENT_GONE', 3], ['http', '503', 'ERR_OVERLOADED', 4]]), 'http');
  expect(requestDelta(before, after)).toEqual({ ok: 1000, clientGone: 3, failed: 4, failures: ['503/ERR_OVERLOADED 4'] });
});

it('passes only when the sidecar answered exactly what the tool completed (plus the slack) and nothing failed', () => {
  const ok = { ok: 1000, clientGone: 0, failed: 0, failures: [] };
  expect(countMismatch(ok, 1000, 0)).toBeUndefined();
  expect(countMismatch(ok, 999, 0)).toMatch(/answered 1000 request\(s\) 200, the load tool completed 999/);
  expect(countMismatch(ok, 990, 10)).toBeUndefined();
  expect(countMismatch(ok, 989, 10)).toMatch(/allowed: up to 10 more/);
  expect(countMismatch({ ...ok, clientGone: 11 }, 1000, 10)).toMatch(/11 request\(s\) abandoned/);
  expect(countMismatch({ ok: 1000, clientGone: 0, failed: 1, failures: ['500/ERR_UPSTREAM_RESET 1'] }, 1000, 0)).toMatch(/with an error: 500\/ERR_UPSTREAM_RESET 1/);
});

it('reads the in-flight gauge the settle wait needs at 0 (absent: undefined, never settled)', () => {
  const text = ['# TYPE aws_lambda_sidecar_inflight_requests gauge', 'aws_lambda_sidecar_inflight_requests 3', 'aws_lambda_sidecar_inflight_requests_x 0'].join('\n');
  expect(parseInflight(text)).toBe(3);
  expect(parseInflight(exposition([]))).toBeUndefined();
});

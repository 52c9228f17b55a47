import { codeLabel, NO_LABEL, SidecarMetrics, statusLabel } from '../../../src/observability/metrics';
import type { ErrorCode } from '../../../src/errors';

describe('label values are bounded', () => {
  it('status: an HTTP status as itself, anything else as none', () => {
    expect(statusLabel(200)).toBe('200');
    expect(statusLabel(599)).toBe('599');
    expect(statusLabel(undefined)).toBe(NO_LABEL);
    expect(statusLabel(600)).toBe(NO_LABEL);
    expect(statusLabel(99)).toBe(NO_LABEL);
    expect(statusLabel(200.5)).toBe(NO_LABEL);
  });

  it('code: a code of src/errors.ts as itself, anything else as other', () => {
    expect(codeLabel('ERR_UPSTREAM_TIMEOUT')).toBe('ERR_UPSTREAM_TIMEOUT');
    expect(codeLabel(undefined)).toBe(NO_LABEL);
    expect(codeLabel('ECONNRESET /some/path' as ErrorCode)).toBe('other');
  });

  it('a request without a configured route is counted under route "none", never under its path', async () => {
    const metrics = new SidecarMetrics({ inflightRequests: () => 0, pools: () => [], routesLoaded: () => 0, lastReloadUnixS: () => 0 });
    const record = { door: 'http' as const, status: 404, code: undefined, durationMs: 1, requestId: 'r', method: 'GET', path: '/a/b?c', requestBytes: 0, responseBytes: 0, functionMs: undefined };
    metrics.requestDone({ ...record, route: undefined });
    metrics.requestDone({ ...record, route: undefined, status: 1000, code: 'made-up' as ErrorCode });
    const text = await metrics.text();
    expect(text).toContain('aws_lambda_sidecar_requests_total{door="http",route="none",status="404",code="none"} 1');
    expect(text).toContain('aws_lambda_sidecar_requests_total{door="http",route="none",status="none",code="other"} 1');
    expect(text).not.toContain('/a/b');
  });
});

it('histograms are cumulative per bucket, with +Inf, sum and count', async () => {
  const metrics = new SidecarMetrics({ inflightRequests: () => 0, pools: () => [], routesLoaded: () => 0, lastReloadUnixS: () => 0 });
  const observation = { functionMs: undefined, span: undefined };
  metrics.functionDone('r1', 0.5, observation, undefined); // 0.0005 s: first bucket
  metrics.functionDone('r1', 20, observation, undefined); // 0.02 s: the 0.025 bucket
  metrics.functionDone('r1', 2_000_000, observation, undefined); // above every bound
  const text = await metrics.text();
  expect(text).toContain('# TYPE aws_lambda_sidecar_function_duration_seconds histogram');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_bucket{route="r1",code="none",le="0.001"} 1');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_bucket{route="r1",code="none",le="0.01"} 1');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_bucket{route="r1",code="none",le="0.025"} 2');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_bucket{route="r1",code="none",le="900"} 2');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_bucket{route="r1",code="none",le="+Inf"} 3');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_sum{route="r1",code="none"} 2000.0205');
  expect(text).toContain('aws_lambda_sidecar_function_duration_seconds_count{route="r1",code="none"} 3');
});

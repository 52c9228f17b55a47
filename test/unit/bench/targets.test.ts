// RESULTS.md's target table (issue 13): throughput ratio per payload and the sidecar's CPU per
// request, each met or not from the runs' own numbers.
import { evaluateTargets, TARGETS } from '../../../bench/report-markdown';
import type { BenchResults, RunRecord } from '../../../bench/results';

function run(setup: string, payload: 'small' | 'large', rps: number, sidecarCpuPercent?: number): RunRecord {
  const processes = sidecarCpuPercent === undefined ? [] : [{ role: 'sidecar', pid: 1, cpuPercent: sidecarCpuPercent, cpuSeconds: 1, rssPeakMb: 100, rssAnonAtPeakMb: 60, rssEndMb: 100, hwmMb: 100 }];
  return {
    phase: 'throughput', setup, payload, connections: 64, round: 1, warmup: false, command: 'wrk',
    result: { tool: 'wrk', rps, requests: rps * 8, durationS: 8, latencyMs: { p50: 1, p90: 2, p99: 3, max: 4 }, errors: { total: 0, non2xx: 0, detail: '' } },
    usage: { windowS: 8, processes, machineBusyCores: 1, otherBusyCores: 0 },
  } as unknown as RunRecord;
}

function results(runs: RunRecord[]): BenchResults {
  return { runs, settings: { rateConnections: 64 }, setups: [{ name: 'envoy-native', included: true }, { name: 'envoy-ext_proc', included: true }] } as unknown as BenchResults;
}

const verdict = (all: ReturnType<typeof evaluateTargets>, part: string) => all.find((v) => v.name.includes(part));

it('throughput: ext_proc at half of native or more meets it, per payload', () => {
  const v = evaluateTargets(results([
    run('envoy-native', 'small', 10_000), run('envoy-ext_proc', 'small', 5_000, 50),
    run('envoy-native', 'large', 4_000), run('envoy-ext_proc', 'large', 1_999, 80),
  ]), undefined);
  expect(TARGETS.throughputRatio).toBe(0.5);
  expect(verdict(v, '(64 connections, small)')).toMatchObject({ met: true, detail: '5,000 vs 10,000 req/s = 50.0%' });
  expect(verdict(v, '(64 connections, large)')).toMatchObject({ met: false, detail: '1,999 vs 4,000 req/s = 50.0%' });
});

it('sidecar CPU per small ext_proc request: share of a core ÷ req/s, against 150 µs', () => {
  const at = (cpuPercent: number) => verdict(evaluateTargets(results([run('envoy-ext_proc', 'small', 4_000, cpuPercent)]), undefined), 'Sidecar CPU');
  // 60% of a core at 4,000 req/s = 150 µs per request; 61% = 152.5 µs.
  expect(at(60)).toMatchObject({ met: true });
  expect(at(60)?.detail).toMatch(/^150 µs \(60% of a core at 4,000 req\/s/);
  expect(at(61)).toMatchObject({ met: false });
  expect(verdict(evaluateTargets(results([run('envoy-ext_proc', 'small', 4_000)]), undefined), 'Sidecar CPU')).toMatchObject({ met: undefined });
});

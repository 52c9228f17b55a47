/**
 * Rounds → one number per cell: the median of each metric over the measured rounds (interleaving
 * spreads slow moments over every setup; the median drops the odd one), errors summed, peaks maxed.
 */
import type { LatencyMs, Phase, PayloadName, RunRecord, SetupName } from './results';
import { round } from './proc-usage';

export interface Cell {
  readonly phase: Phase;
  readonly setup: SetupName;
  readonly payload: PayloadName;
  readonly connections: number;
  readonly rounds: number;
  readonly rps: number;
  /** (max - min) / median of req/s over the rounds, %. */
  readonly spreadPercent: number;
  readonly latencyMs: LatencyMs;
  /** Errors in the measured runs and their warm-ups. */
  readonly errors: number;
  readonly warmupErrors: number;
  readonly targetRps: number | undefined;
  readonly sidecarCpuPercent: number | undefined;
  readonly sidecarRssPeakMb: number | undefined;
  readonly envoyCpuPercent: number | undefined;
  readonly functionCpuPercent: number | undefined;
  readonly loadgenCpuPercent: number | undefined;
  readonly otherBusyCores: number;
  readonly machineBusyCores: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function roleMedian(runs: readonly RunRecord[], role: string, pick: 'cpuPercent'): number | undefined {
  const values = runs.flatMap((r) => r.usage.processes.filter((p) => p.role === role).map((p) => p[pick]));
  return values.length === 0 ? undefined : round(median(values), 1);
}

function roleMax(runs: readonly RunRecord[], role: string): number | undefined {
  const values = runs.flatMap((r) => r.usage.processes.filter((p) => p.role === role).map((p) => p.rssPeakMb));
  return values.length === 0 ? undefined : Math.max(...values);
}

export function cellKey(phase: Phase, setup: SetupName, payload: PayloadName, connections: number): string {
  return `${phase}|${setup}|${payload}|${connections}`;
}

export function aggregate(runs: readonly RunRecord[]): Map<string, Cell> {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = cellKey(run.phase, run.setup, run.payload, run.connections);
    const list = groups.get(key) ?? [];
    list.push(run);
    groups.set(key, list);
  }
  const cells = new Map<string, Cell>();
  for (const [key, all] of groups) {
    const measured = all.filter((r) => !r.warmup);
    if (measured.length === 0) continue;
    const first = measured[0];
    const rpsValues = measured.map((r) => r.result.rps);
    const rps = median(rpsValues);
    const loadgen = first.result.tool;
    cells.set(key, {
      phase: first.phase,
      setup: first.setup,
      payload: first.payload,
      connections: first.connections,
      rounds: measured.length,
      rps: round(rps, 0),
      spreadPercent: rps > 0 ? round(((Math.max(...rpsValues) - Math.min(...rpsValues)) / rps) * 100, 1) : 0,
      latencyMs: {
        p50: round(median(measured.map((r) => r.result.latencyMs.p50)), 2),
        p90: round(median(measured.map((r) => r.result.latencyMs.p90)), 2),
        p99: round(median(measured.map((r) => r.result.latencyMs.p99)), 2),
        max: Math.max(...measured.map((r) => r.result.latencyMs.max)),
      },
      errors: measured.reduce((a, r) => a + r.result.errors.total, 0),
      warmupErrors: all.filter((r) => r.warmup).reduce((a, r) => a + r.result.errors.total, 0),
      targetRps: first.targetRps,
      sidecarCpuPercent: roleMedian(measured, 'sidecar', 'cpuPercent'),
      sidecarRssPeakMb: roleMax(measured, 'sidecar'),
      envoyCpuPercent: roleMedian(measured, 'envoy', 'cpuPercent') ?? roleMedian(measured, 'nginx-front', 'cpuPercent'),
      functionCpuPercent: roleMedian(measured, 'function-nginx', 'cpuPercent'),
      loadgenCpuPercent: roleMedian(measured, loadgen, 'cpuPercent'),
      otherBusyCores: round(median(measured.map((r) => r.usage.otherBusyCores)), 2),
      machineBusyCores: round(median(measured.map((r) => r.usage.machineBusyCores)), 2),
    });
  }
  return cells;
}

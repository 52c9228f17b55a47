/**
 * The shape of bench/results/<timestamp>-sidecar[-quick].json, and the medians over rounds that
 * SIDECAR-RESULTS.md shows.
 */
import { median } from '../aggregate';
import type { MachineInfo, SourceInfo } from '../machine';
import { round } from '../proc-usage';
import type { LatencyMs, PayloadName } from '../results';

/** The loads, each straight at one of the sidecar's doors. */
export const LOADS = [
  { id: 'ext_proc -c1 -m64', door: 'ext_proc', tool: 'h2load', connections: 1, streams: 64 },
  { id: 'ext_proc -c4 -m16', door: 'ext_proc', tool: 'h2load', connections: 4, streams: 16 },
  { id: 'http -c64', door: 'http', tool: 'wrk', connections: 64, streams: 1 },
] as const;
export type LoadDef = (typeof LOADS)[number];
export type LoadId = LoadDef['id'];

export interface SidecarRun {
  readonly variant: string;
  readonly load: LoadId;
  readonly payload: PayloadName;
  readonly round: number;
  readonly command: string;
  /** Requests the load tool completed (2xx). */
  readonly completed: number;
  readonly durationS: number;
  readonly rps: number;
  readonly latencyMs: LatencyMs;
  /** Sidecar CPU time (utime+stime) over the run ÷ completed requests. */
  readonly cpuUsPerRequest: number;
  /** Share of one core: 100 = one core busy. */
  readonly sidecarCpuPercent: number;
  readonly sidecarRssPeakMb: number;
  /** RssAnon at that peak: the sidecar's own memory; the rest is file-backed pages (node binary, libraries). Absent in older files. */
  readonly sidecarRssAnonMb?: number;
  readonly loadToolCpuPercent: number;
  readonly functionCpuPercent: number;
  /** Cores busy with programs other than the sidecar, the function nginx and the load tool. */
  readonly otherBusyCores: number;
  readonly machineBusyCores: number;
  /** What the sidecar's /metrics counted during the run. */
  readonly sidecarCounted: { readonly ok: number; readonly clientGone: number; readonly failed: number; readonly failures: readonly string[] };
  /** The load tool's own error count (non-2xx, socket errors). */
  readonly toolErrors: number;
  /** Why the run failed (errors, counts that disagree); undefined when it passed. */
  readonly failure?: string;
}

export interface SidecarVariantRecord {
  readonly name: string;
  readonly node: string;
  readonly nodeVersion: string;
  /** The checkout whose dist/cli.js ran (--checkout); undefined: this repository. */
  readonly checkout?: string;
  readonly extraArgs: readonly string[];
  /** Filled in when the results are written. */
  sidecarLog?: { warnings: number; errors: number; firstProblems: readonly string[] };
}

export interface SidecarBenchResults {
  readonly kind: 'sidecar-only' | 'sidecar-only-quick';
  readonly startedAt: string;
  finishedAt?: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly source: SourceInfo;
  readonly tools: Readonly<Record<'nginx' | 'wrk' | 'h2load', string>>;
  readonly settings: { readonly rounds: number; readonly durationS: number; readonly warmupS: number; readonly requestBodyBytes: number; readonly responseBytes: { readonly small: number; readonly large: number } };
  /** e.g. "sidecar on CPU 0; load tool and function nginx on CPU 1", or why not pinned. */
  readonly pinning: string;
  readonly variants: SidecarVariantRecord[];
  readonly runs: SidecarRun[];
  failure?: string;
}

export interface SidecarCell {
  readonly load: LoadId;
  readonly payload: PayloadName;
  readonly variant: string;
  readonly rounds: number;
  readonly failedRounds: number;
  readonly rps: number;
  readonly spreadPercent: number;
  readonly cpuUsPerRequest: number;
  readonly sidecarCpuPercent: number;
  readonly sidecarRssPeakMb: number;
  readonly sidecarRssAnonMb: number;
  readonly loadToolCpuPercent: number;
  readonly otherBusyCores: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** One cell per load × payload × variant, in run order: medians over rounds, RSS the max. */
export function sidecarCells(runs: readonly SidecarRun[]): SidecarCell[] {
  const groups = new Map<string, SidecarRun[]>();
  for (const r of runs) {
    const key = `${r.load}|${r.payload}|${r.variant}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((all) => {
    const med = (pick: (r: SidecarRun) => number, digits: number): number => round(median(all.map(pick)), digits);
    const rps = all.map((r) => r.rps);
    const mid = median(rps);
    return {
      load: all[0].load,
      payload: all[0].payload,
      variant: all[0].variant,
      rounds: all.length,
      failedRounds: all.filter((r) => r.failure !== undefined).length,
      rps: round(mid, 0),
      spreadPercent: mid > 0 ? round(((Math.max(...rps) - Math.min(...rps)) / mid) * 100, 1) : 0,
      cpuUsPerRequest: med((r) => r.cpuUsPerRequest, 1),
      sidecarCpuPercent: med((r) => r.sidecarCpuPercent, 1),
      sidecarRssPeakMb: Math.max(...all.map((r) => r.sidecarRssPeakMb)),
      sidecarRssAnonMb: Math.max(...all.map((r) => r.sidecarRssAnonMb ?? 0)),
      loadToolCpuPercent: med((r) => r.loadToolCpuPercent, 1),
      otherBusyCores: med((r) => r.otherBusyCores, 2),
      p50Ms: med((r) => r.latencyMs.p50, 2),
      p99Ms: med((r) => r.latencyMs.p99, 2),
    };
  });
}

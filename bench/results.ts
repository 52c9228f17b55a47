/**
 * The shape of bench/results/<timestamp>.json: every measured run, raw, plus what is needed to read
 * it (machine, versions, settings). RESULTS.md and chart.svg are rendered from this alone.
 */
import type { MachineInfo, SourceInfo } from './machine';
import type { UsageReport } from './proc-usage';
import type { Versions } from './tools';

export const SETUP_NAMES = ['direct', 'envoy-native', 'envoy-ext_proc', 'envoy-ext_authz', 'nginx-http', 'envoy-upstream'] as const;
export type SetupName = (typeof SETUP_NAMES)[number];
export const PAYLOADS = ['small', 'large'] as const;
export type PayloadName = (typeof PAYLOADS)[number];

/**
 * throughput: wrk, fixed connections, as fast as it goes. rate: h2load HTTP/1.1 at a fixed request
 * rate (latency). c1000: wrk with 1000 connections through envoy-ext_proc. h2: h2load HTTP/2 (h2c).
 */
export type Phase = 'throughput' | 'rate' | 'c1000' | 'h2';

export interface LatencyMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface ErrorCounts {
  /** Answers that were not 2xx (wrk counts >= 400 as "Non-2xx or 3xx"; h2load: failed + 3xx). */
  readonly non2xx: number;
  /** connect/read/write errors and timeouts. */
  readonly socket: number;
  readonly total: number;
  /** The tool's own words, e.g. "connect 0, read 3, write 0, timeout 0". */
  readonly detail: string;
}

export interface LoadResult {
  readonly tool: 'wrk' | 'h2load';
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly latencyMs: LatencyMs;
  readonly errors: ErrorCounts;
  /** h2load: the protocol it negotiated (h2c, http/1.1). */
  readonly protocol?: string;
}

export interface RunRecord {
  readonly phase: Phase;
  readonly setup: SetupName;
  readonly payload: PayloadName;
  readonly connections: number;
  /** h2load -m (streams per connection) for h2 runs. */
  readonly streams?: number;
  readonly round: number;
  /** A warm-up run: kept for its errors, never counted in the numbers. */
  readonly warmup: boolean;
  readonly command: string;
  /** Requests per second asked for (rate runs). */
  readonly targetRps?: number;
  readonly result: LoadResult;
  readonly usage: UsageReport;
  /** Sidecar warn/error log lines printed during this run. */
  readonly sidecarProblems?: { readonly warnings: number; readonly errors: number };
}

export interface SetupRecord {
  readonly name: SetupName;
  readonly included: boolean;
  readonly description: string;
  /** Why a setup was left out (file missing, --only). */
  readonly skippedBecause?: string;
}

export interface VerificationRecord {
  readonly setup: SetupName;
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface BenchSettings {
  readonly quick: boolean;
  readonly rounds: number;
  readonly rateRounds: number;
  readonly h2Rounds: number;
  readonly warmupS: number;
  readonly durationS: number;
  readonly rateDurationS: number;
  readonly rateWarmupS: number;
  readonly rateConnections: number;
  readonly c1000DurationS: number;
  readonly h2DurationS: number;
  readonly h2Connections: number;
  readonly h2Streams: number;
  readonly wrkThreads: number;
  readonly wrkTimeoutS: number;
  readonly connections: readonly number[];
  /** Payloads of the fixed-rate and HTTP/2 phases (both in a full run; small only in --quick). */
  readonly ratePayloads: readonly PayloadName[];
  readonly h2Payloads: readonly PayloadName[];
  readonly requestBodyBytes: number;
  readonly responseBytes: { readonly small: number; readonly large: number };
  readonly envoyConcurrency: number;
  readonly keepalivePool: number;
}

/** What every results file records about the run itself: when, how, on what, and whether it failed. */
interface ResultsHeader {
  readonly startedAt: string;
  finishedAt?: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly versions: Versions;
  readonly source: SourceInfo;
  /** Set when the run stopped early: what went wrong. */
  failure?: string;
}

export interface BenchResults extends ResultsHeader {
  readonly kind: 'full' | 'quick' | 'partial';
  readonly settings: BenchSettings;
  readonly setups: readonly SetupRecord[];
  verification: VerificationRecord[];
  /** Rate of the latency runs per payload, and what it was derived from. */
  moderateRate?: { readonly small: number; readonly large: number; readonly reference: string };
  runs: RunRecord[];
  /** Non-zero Envoy counters about ext_proc/signing/5xx at the end, per setup. */
  envoyCounters: Partial<Record<SetupName, Record<string, number>>>;
  sidecarLogs: Partial<Record<SetupName, { warnings: number; errors: number; firstProblems: readonly string[] }>>;
  /** Last lines of Envoy's (warn level) and nginx's error output, per process, when non-empty. */
  processOutputTails: Record<string, string>;
  /** Cores busy on the machine in the 2 s before the bench started anything (other programs). */
  busyCoresBeforeStart?: number;
}

export interface SoakMinute {
  readonly minute: number;
  readonly requests: number;
  readonly rps: number;
  readonly errors: number;
  readonly latencyMs: LatencyMs;
  readonly sidecarRssMb: number;
  readonly sidecarRssPeakMb: number;
  readonly sidecarCpuPercent: number;
}

export interface SoakResults extends ResultsHeader {
  readonly kind: 'soak';
  readonly minutesPlanned: number;
  targetRps: number;
  readonly rateReference: string;
  readonly connections: number;
  rssStartMb?: number;
  rssEndMb?: number;
  growthPercent?: number;
  minutes: SoakMinute[];
  totalErrors: number;
  sidecarLog?: { warnings: number; errors: number; firstProblems: readonly string[] };
}

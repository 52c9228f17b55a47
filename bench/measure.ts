/**
 * One measured (or warm-up) run against one setup: start the load generator, watch the setup's
 * processes while it runs, check nobody died, record everything.
 */
import * as path from 'node:path';
import type { LoadResult, PayloadName, Phase, RunRecord } from './results';
import { runH2load, h2loadCommandLine, H2loadRun } from './load-h2load';
import { runWrk, wrkCommandLine, WrkRun } from './load-wrk';
import { UsageReport, UsageSampler } from './proc-usage';
import type { SetupHandle } from './setups';
import type { ToolPaths } from './tools';

export type LoadSpec =
  | { readonly kind: 'wrk' }
  | { readonly kind: 'h2load'; readonly http1: boolean; readonly streams: number; readonly totalRps: number | undefined; readonly warmupS: number };

export interface RunSpec {
  readonly phase: Phase;
  readonly payload: PayloadName;
  readonly connections: number;
  readonly round: number;
  readonly warmup: boolean;
  readonly durationS: number;
  readonly load: LoadSpec;
}

export interface MeasureContext {
  readonly tools: ToolPaths;
  /** Where each run's record goes. */
  readonly results: { readonly runs: RunRecord[] };
  readonly ticksPerSecond: number;
  /** The 64 KiB request body, for large runs. */
  readonly bodyFile: string;
  readonly tempDir: string;
  readonly wrkThreads: number;
  readonly wrkTimeoutS: number;
  /** Processes every setup depends on (the function nginx). */
  readonly shared: ReadonlyArray<{ readonly name: string; running(): boolean; output(): string }>;
  /** Called after each run with a one-line summary. */
  readonly report: (record: RunRecord) => void;
}

const EMPTY_USAGE: UsageReport = { windowS: 0, processes: [], machineBusyCores: 0, otherBusyCores: 0 };
const TAIL_LINES = 40;

function assertAlive(ctx: MeasureContext, setup: SetupHandle, when: string): void {
  const deps = [...ctx.shared, ...(setup.envoy === undefined ? [] : [setup.envoy]), ...(setup.sidecar === undefined ? [] : [setup.sidecar])];
  for (const dep of deps) {
    if (dep.running()) continue;
    const tail = dep.output().split('\n').slice(-TAIL_LINES).join('\n');
    throw new Error(`${dep.name} is no longer running (${when} a ${setup.name} run); its last output:\n${tail}`);
  }
}

export async function measure(ctx: MeasureContext, setup: SetupHandle, spec: RunSpec): Promise<RunRecord> {
  assertAlive(ctx, setup, 'before');
  const url = `http://127.0.0.1:${setup.port}${setup.paths[spec.payload]}`;
  const bodyFile = spec.payload === 'large' ? ctx.bodyFile : undefined;
  const logBefore = setup.sidecar?.logSummary();
  let sampler: UsageSampler | undefined;
  let samplerTimer: NodeJS.Timeout | undefined;
  const watch = (role: string, delayS: number) => (pid: number): void => {
    const start = (): void => {
      sampler = new UsageSampler([...setup.watched, { role, pid }], ctx.ticksPerSecond);
    };
    // h2load's own warm-up is not part of the measured window: start watching after it.
    if (delayS > 0) samplerTimer = setTimeout(start, delayS * 1000);
    else start();
  };

  let command: string;
  let result: LoadResult;
  try {
    if (spec.load.kind === 'wrk') {
      const run: WrkRun = { url, connections: spec.connections, threads: ctx.wrkThreads, durationS: spec.durationS, timeoutS: ctx.wrkTimeoutS, bodyFile };
      command = wrkCommandLine(ctx.tools.wrk, run);
      result = await runWrk(ctx.tools.wrk, run, watch('wrk', 0));
    } else {
      const run: H2loadRun = {
        url,
        clients: spec.connections,
        streams: spec.load.streams,
        http1: spec.load.http1,
        totalRps: spec.load.totalRps,
        durationS: spec.durationS,
        warmupS: spec.load.warmupS,
        bodyFile,
        logFile: path.join(ctx.tempDir, `h2load-${process.hrtime.bigint()}.log`),
      };
      command = h2loadCommandLine(ctx.tools.h2load, run);
      result = await runH2load(ctx.tools.h2load, run, watch('h2load', spec.load.warmupS));
    }
  } finally {
    clearTimeout(samplerTimer);
  }
  const usage = sampler?.stop() ?? EMPTY_USAGE;
  assertAlive(ctx, setup, 'during');
  const logAfter = setup.sidecar?.logSummary();
  const record: RunRecord = {
    phase: spec.phase,
    setup: setup.name,
    payload: spec.payload,
    connections: spec.connections,
    streams: spec.load.kind === 'h2load' && !spec.load.http1 ? spec.load.streams : undefined,
    round: spec.round,
    warmup: spec.warmup,
    command,
    targetRps: spec.load.kind === 'h2load' ? spec.load.totalRps : undefined,
    result,
    usage,
    sidecarProblems:
      logBefore === undefined || logAfter === undefined
        ? undefined
        : { warnings: logAfter.warnings - logBefore.warnings, errors: logAfter.errors - logBefore.errors },
  };
  ctx.results.runs.push(record);
  ctx.report(record);
  return record;
}

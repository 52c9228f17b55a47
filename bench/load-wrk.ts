/**
 * wrk: closed-loop load at a fixed number of connections (as fast as the setup answers). Counts and
 * percentiles come from bench/wrk/report.lua's done() line; errors are cross-checked with wrk's own
 * "Non-2xx or 3xx responses" and "Socket errors" lines.
 */
import * as path from 'node:path';
import type { LoadResult } from './results';
import { REPO_ROOT } from '../test/e2e/support/processes';
import { pinned, runBounded } from './processes';
import { round } from './proc-usage';

export const WRK_SCRIPT = path.join(REPO_ROOT, 'bench', 'wrk', 'report.lua');
const RESULT_TAG = 'BENCH_WRK_JSON ';
/** Beyond the run's own duration: start-up, the last responses, printing. */
const WRK_OVERRUN_MS = 30_000;

export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly threads: number;
  readonly durationS: number;
  readonly timeoutS: number;
  /** POST this file (the 64 KiB payload); GET when undefined. */
  readonly bodyFile: string | undefined;
  /** Run wrk on these CPUs only (taskset -c). */
  readonly cpus?: string;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { max: number; p50: number; p90: number; p99: number };
}

export function wrkArgs(run: WrkRun): string[] {
  return [
    `-t${Math.min(run.threads, run.connections)}`,
    `-c${run.connections}`,
    `-d${run.durationS}s`,
    `--timeout`,
    `${run.timeoutS}s`,
    '-s',
    WRK_SCRIPT,
    run.url,
  ];
}

export function wrkCommandLine(wrkBin: string, run: WrkRun): string {
  const env = run.bodyFile === undefined ? '' : `BENCH_BODY_FILE=${run.bodyFile} `;
  return `${env}${path.basename(wrkBin)} ${wrkArgs(run).join(' ')}`;
}

/** Starts wrk; `onStarted` gets its pid (to watch its CPU). Rejects when wrk fails or prints no result. */
export async function runWrk(wrkBin: string, run: WrkRun, onStarted?: (pid: number) => void): Promise<LoadResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_BODY_FILE: run.bodyFile ?? '' };
  const [cmd, args] = pinned(wrkBin, wrkArgs(run), run.cpus);
  const started = runBounded('wrk', cmd, args, run.durationS * 1000 + WRK_OVERRUN_MS, { env });
  onStarted?.(started.pid);
  const out = await started.done;
  if (out.timedOut) throw new Error(`wrk did not finish in time (${wrkCommandLine(wrkBin, run)})\n${out.output}`);
  const tagged = out.output.split('\n').find((l) => l.startsWith(RESULT_TAG));
  if (out.code !== 0 || tagged === undefined) {
    throw new Error(`wrk failed (exit ${out.code}): ${wrkCommandLine(wrkBin, run)}\n${out.output}`);
  }
  const j = JSON.parse(tagged.slice(RESULT_TAG.length)) as WrkJson;
  // wrk's text lines: present only when non-zero.
  const non2xxLine = /Non-2xx or 3xx responses:\s*(\d+)/.exec(out.output);
  const socketLine = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out.output);
  const non2xx = Math.max(j.errors.status, non2xxLine === null ? 0 : Number(non2xxLine[1]));
  const socketFromJson = j.errors.connect + j.errors.read + j.errors.write + j.errors.timeout;
  const socketFromText = socketLine === null ? 0 : Number(socketLine[1]) + Number(socketLine[2]) + Number(socketLine[3]) + Number(socketLine[4]);
  const socket = Math.max(socketFromJson, socketFromText);
  const durationS = j.duration_us / 1e6;
  return {
    tool: 'wrk',
    requests: j.requests,
    durationS: round(durationS, 3),
    // Only 2xx answers count: a fast error is not throughput.
    rps: round(Math.max(0, j.requests - non2xx) / durationS, 1),
    latencyMs: {
      p50: round(j.latency_us.p50 / 1000, 3),
      p90: round(j.latency_us.p90 / 1000, 3),
      p99: round(j.latency_us.p99 / 1000, 3),
      max: round(j.latency_us.max / 1000, 3),
    },
    errors: {
      non2xx,
      socket,
      total: non2xx + socket,
      detail: `non-2xx ${non2xx}; socket: connect ${j.errors.connect}, read ${j.errors.read}, write ${j.errors.write}, timeout ${j.errors.timeout}`,
    },
  };
}

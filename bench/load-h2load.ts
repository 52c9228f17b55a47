/**
 * h2load, for two jobs wrk cannot do:
 * - fixed-rate HTTP/1.1 load (`--h1 --rps`): Debian's wrk has no -R (that is wrk2), so latency at a
 *   moderate rate comes from h2load with one log line per request (`--log-file`), from which we take
 *   exact percentiles ourselves;
 * - HTTP/2 (h2c with prior knowledge) with several streams per connection (`-m`).
 * h2load times each request from the moment it is written, so a request that waits for a busy
 * connection is not charged for the wait (coordinated omission); at a moderate rate the connections
 * are idle most of the time, and the achieved rate is recorded next to the target to show it held.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LatencyMs, LoadResult } from './results';
import { pinned, runBounded } from './processes';
import { round } from './proc-usage';

const H2LOAD_OVERRUN_MS = 30_000;
const FIXED_COUNT_TIME_FACTOR = 3;

export interface H2loadRun {
  readonly url: string;
  readonly clients: number;
  /** Concurrent streams per connection (-m); HTTP/1.1 runs use 1. */
  readonly streams: number;
  readonly http1: boolean;
  /** Total requests per second across all clients (split evenly); undefined = as fast as possible. */
  readonly totalRps: number | undefined;
  readonly durationS: number;
  readonly warmupS: number;
  readonly bodyFile: string | undefined;
  readonly logFile: string;
  /** Request headers sent with the body (default: JSON's content-type). */
  readonly headers?: readonly string[];
  /** A fixed number of requests (-n: h2load waits for every answer) instead of -D durationS; durationS is then the expected length. */
  readonly requests?: number;
  /** Run h2load on these CPUs only (taskset -c). */
  readonly cpus?: string;
}

export function h2loadArgs(run: H2loadRun): string[] {
  const args = [`-c${run.clients}`, `-m${run.streams}`, '-t1', run.requests === undefined ? `-D${run.durationS}` : `-n${run.requests}`];
  if (run.warmupS > 0) args.push(`--warm-up-time=${run.warmupS}`);
  if (run.http1) args.push('--h1');
  if (run.totalRps !== undefined) args.push(`--rps=${round(run.totalRps / run.clients, 4)}`);
  if (run.bodyFile !== undefined) args.push('-d', run.bodyFile);
  for (const header of run.headers ?? (run.bodyFile === undefined ? [] : ['content-type: application/json'])) args.push('-H', header);
  args.push(`--log-file=${run.logFile}`, run.url);
  return args;
}

export function h2loadCommandLine(h2loadBin: string, run: H2loadRun): string {
  const shown = h2loadArgs(run).map((a) => (a.includes(' ') ? `'${a}'` : a));
  return `${path.basename(h2loadBin)} ${shown.join(' ').replace(run.logFile, '<per-request log>')}`;
}

/** Nearest-rank percentiles of h2load's per-request log (third column: µs until the response ended). */
export function latencyFromLog(logFile: string): { latencyMs: LatencyMs; count: number } {
  const text = fs.readFileSync(logFile, 'utf8');
  const values: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const lastTab = text.lastIndexOf('\t', end);
    if (lastTab > start) {
      const us = Number(text.slice(lastTab + 1, end));
      if (Number.isFinite(us)) values.push(us);
    }
    start = end + 1;
  }
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]);
  return {
    count: sorted.length,
    latencyMs: { p50: round(at(50) / 1000, 3), p90: round(at(90) / 1000, 3), p99: round(at(99) / 1000, 3), max: round(at(100) / 1000, 3) },
  };
}

function count(text: string, pattern: RegExp): number {
  const m = pattern.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** h2load's "finished in 10.02s, ..." (or "850.5ms"), in seconds. */
export function finishedInS(text: string): number {
  const m = /finished in ([\d.]+)(ms|s),/.exec(text);
  if (m === null) throw new Error(`h2load printed no "finished in" line:\n${text}`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
}

export async function runH2load(h2loadBin: string, run: H2loadRun, onStarted?: (pid: number) => void): Promise<LoadResult> {
  // A fixed count may take longer than expected on a slow moment: give it room.
  const expectedS = run.requests === undefined ? run.durationS : run.durationS * FIXED_COUNT_TIME_FACTOR;
  const [cmd, args] = pinned(h2loadBin, h2loadArgs(run), run.cpus);
  const started = runBounded('h2load', cmd, args, (expectedS + run.warmupS) * 1000 + H2LOAD_OVERRUN_MS);
  onStarted?.(started.pid);
  const out = await started.done;
  try {
    const text = out.output;
    if (out.timedOut || out.code !== 0 || !/^requests:/m.test(text)) {
      throw new Error(`h2load failed (exit ${out.code}${out.timedOut ? ', timed out' : ''}): ${h2loadCommandLine(h2loadBin, run)}\n${text}`);
    }
    const succeeded = count(text, /(\d+) succeeded/);
    const done = count(text, /requests: \d+ total, \d+ started, (\d+) done/);
    const failed = count(text, /(\d+) failed/);
    const errored = count(text, /(\d+) errored/);
    const timeout = count(text, /(\d+) timeout/);
    const s3xx = count(text, /(\d+) 3xx/);
    const s4xx = count(text, /(\d+) 4xx/);
    const s5xx = count(text, /(\d+) 5xx/);
    const non2xx = s3xx + s4xx + s5xx;
    const socket = errored + timeout;
    const { latencyMs } = latencyFromLog(run.logFile);
    const durationS = run.requests === undefined ? run.durationS : finishedInS(text);
    return {
      tool: 'h2load',
      requests: done,
      durationS,
      // Only 2xx answers count (h2load's own req/s counts every finished request).
      rps: round(Math.max(0, succeeded - s3xx) / durationS, 1),
      latencyMs,
      // h2load counts 4xx/5xx and broken streams as "failed"; take whichever view is larger.
      errors: {
        non2xx,
        socket,
        total: Math.max(failed + s3xx + timeout, non2xx + socket),
        detail: `failed ${failed}, errored ${errored}, timeout ${timeout}; status 3xx ${s3xx}, 4xx ${s4xx}, 5xx ${s5xx}`,
      },
      protocol: /Application protocol: (\S+)/.exec(text)?.[1],
    };
  } finally {
    fs.rmSync(run.logFile, { force: true });
  }
}

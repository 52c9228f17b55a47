/**
 * A small micro-benchmark runner: each case is timed in batches sized during a warm-up (so one
 * batch lasts about BATCH_MS and the JIT has settled), over several rounds; the median round is
 * reported. Every result goes into a sink the optimiser cannot drop.
 */
import { median } from '../aggregate';

const WARMUP_MS = 300;
const BATCH_MS = 200;
export const DEFAULT_MICRO_ROUNDS = 7;

export interface MicroCase {
  readonly name: string;
  /** What one operation is, in the table. */
  readonly what: string;
  /** One operation; may return a promise (awaited, and its await is part of the cost). */
  readonly op: () => unknown;
}

export interface MicroResult {
  readonly name: string;
  readonly what: string;
  readonly nsPerOp: number;
  readonly opsPerS: number;
  /** (max - min) / median of the rounds' ns/op, %. */
  readonly spreadPercent: number;
  readonly opsPerRound: number;
}

/** Keeps results alive so the work is not optimised away. */
let sink: unknown;
export function blackhole(): unknown {
  return sink;
}

async function timeBatch(op: () => unknown, n: number, async: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  if (async) for (let i = 0; i < n; i++) sink = await op();
  else for (let i = 0; i < n; i++) sink = op();
  return Number(process.hrtime.bigint() - start);
}

export async function runCase(c: MicroCase, rounds: number): Promise<MicroResult> {
  const async = c.op() instanceof Promise;
  // Warm-up: double the batch until it takes long enough to time, keep going until WARMUP_MS.
  let n = 1;
  let spent = 0;
  let nsPerOp = 0;
  while (spent < WARMUP_MS * 1e6) {
    const ns = await timeBatch(c.op, n, async);
    spent += ns;
    nsPerOp = ns / n;
    if (ns < BATCH_MS * 1e6 / 4) n *= 2;
  }
  const perRound = Math.max(1, Math.round((BATCH_MS * 1e6) / nsPerOp));
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) samples.push((await timeBatch(c.op, perRound, async)) / perRound);
  const mid = median(samples);
  return {
    name: c.name,
    what: c.what,
    nsPerOp: Math.round(mid),
    opsPerS: Math.round(1e9 / mid),
    spreadPercent: Math.round(((Math.max(...samples) - Math.min(...samples)) / mid) * 1000) / 10,
    opsPerRound: perRound,
  };
}

export function microTable(results: readonly MicroResult[]): string {
  const lines = ['| case | one op | ns/op | ops/s | spread |', '| --- | --- | --- | --- | --- |'];
  for (const r of results) lines.push(`| ${r.name} | ${r.what} | ${r.nsPerOp.toLocaleString('en-US')} | ${r.opsPerS.toLocaleString('en-US')} | ${r.spreadPercent}% |`);
  return lines.join('\n');
}

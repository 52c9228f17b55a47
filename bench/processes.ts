/**
 * How the bench starts processes: through the e2e harness (test/e2e/support/processes.ts: its own
 * process group per child, a watchdog, everything killed when the bench ends, fails or is
 * interrupted), with what load generation needs on top.
 */
import { spawnManaged, type ManagedProcess, type SpawnOptions } from '../test/e2e/support/processes';

/**
 * Every bench process keeps the bench alive while it runs, may open as many sockets as the hard
 * limit allows (wrk, Envoy and nginx at thousands of connections), and gets 3 s between SIGTERM
 * and SIGKILL.
 */
export const BENCH_SPAWN: SpawnOptions = { ref: true, raiseOpenFilesLimit: true, stopTimeoutMs: 3_000 };

export function spawnBench(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  return spawnManaged(name, cmd, args, { ...BENCH_SPAWN, ...opts });
}

export interface BoundedRun {
  readonly pid: number;
  /** Resolves when the command ends (killed after timeoutMs); never rejects on a non-zero exit. */
  readonly done: Promise<{ code: number | null; output: string; timedOut: boolean }>;
}

/**
 * `cmd args` run on the given CPUs only (`taskset -c <cpus>`, which execs it: same pid), or as it
 * is when `cpus` is undefined. Keeps a load generator off the core the measured process runs on.
 */
export function pinned(cmd: string, args: readonly string[], cpus: string | undefined): [string, string[]] {
  return cpus === undefined ? [cmd, [...args]] : ['taskset', ['-c', cpus, cmd, ...args]];
}

/** Starts a command that must end by itself within timeoutMs (else it is killed). */
export function runBounded(name: string, cmd: string, args: readonly string[], timeoutMs: number, opts: SpawnOptions = {}): BoundedRun {
  const proc = spawnBench(name, cmd, args, opts);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void proc.stop();
  }, timeoutMs);
  const done = proc.exited.then((code) => {
    clearTimeout(timer);
    return { code, output: proc.output(), timedOut };
  });
  return { pid: proc.pid, done };
}

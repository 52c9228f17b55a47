/**
 * What the numbers were measured on: CPU, memory, load, and which source tree the sidecar was built
 * from (read-only git queries: the bench never changes the repository's state).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { REPO_ROOT } from '../test/e2e/support/processes';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryMb: number;
  readonly kernel: string;
  readonly loadAvgStart: readonly number[];
  loadAvgEnd?: readonly number[];
}

export interface SourceInfo {
  readonly commit: string;
  /** Files under src/ that differ from the commit when the bench started (the sidecar ran this tree). */
  readonly srcChanges: number;
}

function nproc(): number {
  try {
    const n = Number(execFileSync('nproc', { encoding: 'utf8', timeout: 5_000 }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // fall through
  }
  return os.availableParallelism();
}

export function machineInfo(): MachineInfo {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const meminfo = fs.readFileSync('/proc/meminfo', 'utf8');
  const memKb = Number(/^MemTotal:\s*(\d+)\s*kB/m.exec(meminfo)?.[1] ?? '0');
  return {
    nproc: nproc(),
    cpuModel: model,
    memoryMb: Math.round(memKb / 1024),
    kernel: `${os.type()} ${os.release()}`,
    loadAvgStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

/** The commit a checkout (default: this one) is at, and how many files under its src/ differ from it. */
export function sourceInfo(dir: string = REPO_ROOT): SourceInfo {
  const git = (args: string[]): string =>
    execFileSync('git', ['--no-optional-locks', ...args], { cwd: dir, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const commit = git(['rev-parse', '--short', 'HEAD']).trim();
    const changes = git(['status', '--porcelain', '--', 'src']).split('\n').filter((l) => l.trim() !== '').length;
    return { commit, srcChanges: changes };
  } catch {
    return { commit: 'unknown', srcChanges: -1 };
  }
}

/** Ticks per second of /proc/<pid>/stat times (USER_HZ). */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // fall through
  }
  return 100;
}

/**
 * CPU and memory of the processes in a run, from /proc: utime+stime deltas (/proc/<pid>/stat) for
 * CPU, VmRSS sampled every SAMPLE_INTERVAL_MS for the peak, VmHWM (the kernel's own lifetime peak)
 * at the end; plus the whole machine's busy time (/proc/stat), so CPU used by anything else on the
 * box during a run is visible instead of silently skewing the numbers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

const SAMPLE_INTERVAL_MS = 100;

export interface WatchedProcess {
  /** e.g. "sidecar", "envoy", "nginx", "wrk". A master's children (nginx workers) are summed in. */
  readonly role: string;
  readonly pid: number;
}

export interface ProcessUsage {
  readonly role: string;
  readonly pid: number;
  /** Share of one core over the window: 100 = one core fully busy. */
  readonly cpuPercent: number;
  readonly cpuSeconds: number;
  /** Highest VmRSS seen (sum over the process and its children), MB. */
  readonly rssPeakMb: number;
  /**
   * RssAnon when VmRSS peaked, MB: the process's own memory (heap, buffers). The rest of VmRSS is
   * RssFile + RssShmem: pages of the node binary and libraries, shared and reclaimable. Absent in
   * result files written before it was recorded.
   */
  readonly rssAnonAtPeakMb?: number;
  /** VmRSS at the end of the window, MB. */
  readonly rssEndMb: number;
  /** VmHWM at the end: the process's peak RSS since it started (main process only), MB. */
  readonly hwmMb: number;
}

export interface UsageReport {
  readonly windowS: number;
  readonly processes: readonly ProcessUsage[];
  /** Whole machine, in cores (2 = both cores of a 2-core box busy). */
  readonly machineBusyCores: number;
  /** machineBusyCores minus every watched process: other programs' load during the window. */
  readonly otherBusyCores: number;
}

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

function readMachineCpu(): CpuTimes {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest times are already in user/nice)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** utime + stime in ticks, or undefined once the process is gone. */
function readTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces or parentheses: fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(status);
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** A process and, recursively, its children (nginx master + workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 64; i++) out.push(...childrenOf(out[i]));
  return out;
}

interface Tracked {
  readonly watched: WatchedProcess;
  readonly pids: readonly number[];
  readonly ticksAtStart: number;
  rssPeakKb: number;
  rssAnonAtPeakKb: number;
  rssLastKb: number;
  /** CPU ticks at the latest sample where every pid was still readable. */
  ticksLast: number;
}

export class UsageSampler {
  private readonly tracked: Tracked[];
  private readonly machineAtStart: CpuTimes;
  private readonly startedAt = process.hrtime.bigint();
  private readonly timer: NodeJS.Timeout;

  constructor(watched: readonly WatchedProcess[], private readonly ticksPerSecond: number) {
    this.machineAtStart = readMachineCpu();
    this.tracked = watched.map((w) => {
      const pids = processTree(w.pid);
      const ticks = sum(pids.map((p) => readTicks(p) ?? 0));
      return { watched: w, pids, ticksAtStart: ticks, ticksLast: ticks, rssPeakKb: 0, rssAnonAtPeakKb: 0, rssLastKb: 0 };
    });
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    for (const t of this.tracked) {
      const ticks = t.pids.map(readTicks);
      // A process that already exited (a load generator at its very end) keeps its last reading.
      if (ticks.every((v) => v !== undefined)) t.ticksLast = sum(ticks as number[]);
      const rss = sum(t.pids.map((p) => readStatusKb(p, 'VmRSS') ?? 0));
      if (rss === 0) continue; // gone (the load generator at its very end)
      t.rssLastKb = rss;
      if (rss > t.rssPeakKb) {
        t.rssPeakKb = rss;
        t.rssAnonAtPeakKb = sum(t.pids.map((p) => readStatusKb(p, 'RssAnon') ?? 0));
      }
    }
  }

  stop(): UsageReport {
    clearInterval(this.timer);
    this.sample();
    const windowS = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const machine = readMachineCpu();
    const processes = this.tracked.map((t): ProcessUsage => {
      const ticks = t.ticksLast - t.ticksAtStart;
      const cpuSeconds = Math.max(0, ticks) / this.ticksPerSecond;
      return {
        role: t.watched.role,
        pid: t.watched.pid,
        cpuSeconds: round(cpuSeconds, 2),
        cpuPercent: round((cpuSeconds / windowS) * 100, 1),
        rssPeakMb: round(t.rssPeakKb / 1024, 1),
        rssAnonAtPeakMb: round(t.rssAnonAtPeakKb / 1024, 1),
        rssEndMb: round(t.rssLastKb / 1024, 1),
        hwmMb: round((readStatusKb(t.watched.pid, 'VmHWM') ?? 0) / 1024, 1),
      };
    });
    const busyTicks = machine.busy - this.machineAtStart.busy;
    const totalTicks = machine.total - this.machineAtStart.total;
    const cores = os.cpus().length;
    const machineBusyCores = totalTicks > 0 ? (busyTicks / totalTicks) * cores : 0;
    const ours = sum(processes.map((p) => p.cpuPercent / 100));
    return {
      windowS: round(windowS, 2),
      processes,
      machineBusyCores: round(machineBusyCores, 2),
      otherBusyCores: round(Math.max(0, machineBusyCores - ours), 2),
    };
  }
}

/** One RSS reading in MB (0 when the process is gone). */
export function rssMb(pid: number): number {
  return round((readStatusKb(pid, 'VmRSS') ?? 0) / 1024, 1);
}

function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Every process the bench starts goes through here: each runs in its own process group (so nginx
 * workers die with their master), is remembered until it exits, and is killed when the bench ends,
 * fails, or is interrupted (Ctrl-C, SIGTERM). A tiny /bin/sh watchdog per child covers the one case
 * the bench cannot handle itself: being SIGKILLed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const OUTPUT_LIMIT_CHARS = 256 * 1024;
const STOP_GRACE_MS = 3_000;
// After 'exit', stdio may stay open if a grandchild inherited it: do not wait for 'close' forever.
const CLOSE_AFTER_EXIT_GRACE_MS = 300;

const KILL_GROUP_WHEN_PARENT_GONE =
  'while kill -0 "$1" 2>/dev/null; do kill -0 -"$2" 2>/dev/null || exit 0; sleep 1; done; kill -9 -"$2" 2>/dev/null';
/** Raise the soft open-files limit to the hard one, then become the real command (same pid). */
const EXEC_WITH_FD_LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** stdout + stderr so far (the newest 256 KiB). */
  output(): string;
  running(): boolean;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** SIGTERM the group, SIGKILL it after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Each complete stdout line, as it arrives. */
  readonly onStdoutLine?: (line: string) => void;
}

// Invariant: holds exactly the children started and not yet seen exiting.
const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function armWatchdog(pid: number): void {
  const watchdog = spawn('/bin/sh', ['-c', KILL_GROUP_WHEN_PARENT_GONE, 'bench-watchdog', String(process.pid), String(pid)], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
}

export function spawnManaged(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  const child = spawn('/bin/sh', ['-c', EXEC_WITH_FD_LIMIT, name, cmd, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const pid = child.pid;
  live.add(child);
  armWatchdog(pid);

  // Invariant: `captured` holds at most OUTPUT_LIMIT_CHARS characters, the newest whole lines.
  let captured = '';
  const append = (text: string): void => {
    captured += text;
    if (captured.length > OUTPUT_LIMIT_CHARS) {
      captured = captured.slice(-OUTPUT_LIMIT_CHARS);
      captured = captured.slice(captured.indexOf('\n') + 1); // no half line at the start
    }
  };
  // Invariant: `pending` is the stdout text after the last newline seen.
  let pending = '';
  const onLine = opts.onStdoutLine;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    append(chunk);
    if (onLine === undefined) return;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', append);
  child.on('error', (err) => append(`\n[${name}: ${err.message}]\n`));

  let isRunning = true;
  const exited = new Promise<number | null>((resolve) => {
    let settled = false;
    let code: number | null = null;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (pending !== '' && onLine !== undefined) onLine(pending);
      pending = '';
      resolve(code);
    };
    child.once('exit', (exitCode, signal) => {
      isRunning = false;
      code = exitCode;
      if (signal !== null) append(`\n[${name} ended by ${signal}]\n`);
      live.delete(child);
      killGroup(child, 'SIGKILL'); // leftovers of the group, e.g. nginx workers
      setTimeout(settle, CLOSE_AFTER_EXIT_GRACE_MS).unref();
    });
    child.once('close', settle);
    child.once('error', () => {
      if (child.exitCode === null && child.signalCode === null) {
        isRunning = false;
        live.delete(child);
        settle();
      }
    });
  });

  const stop = async (): Promise<void> => {
    if (!isRunning) {
      await exited;
      return;
    }
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  return { name, pid, output: () => captured, running: () => isRunning, exited, stop };
}

export interface BoundedRun {
  readonly pid: number;
  /** Resolves when the command ends (killed after timeoutMs); never rejects on a non-zero exit. */
  readonly done: Promise<{ code: number | null; output: string; timedOut: boolean }>;
}

/** Starts a command that must end by itself within timeoutMs (else it is killed). */
export function runBounded(name: string, cmd: string, args: readonly string[], timeoutMs: number, opts: SpawnOptions = {}): BoundedRun {
  const proc = spawnManaged(name, cmd, args, opts);
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

/** Kills every process still running: SIGTERM to each group, SIGKILL to what is left after a grace period. */
export async function stopEverything(): Promise<void> {
  const children = [...live];
  if (children.length === 0) return;
  for (const child of children) killGroup(child, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (live.size > 0 && Date.now() < deadline) await sleep(50);
  for (const child of live) killGroup(child, 'SIGKILL');
}

process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

/** A port that was free on 127.0.0.1 a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `ready` every 100 ms until it is true; throws after timeoutMs or when `alive` turns false. */
export async function waitUntil(what: string, ready: () => Promise<boolean>, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`${what}: the process exited before it was ready`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
}

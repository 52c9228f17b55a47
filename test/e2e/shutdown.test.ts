/**
 * Stopping: the built CLI with a stdout nobody reads any more, and the demo (`npm start`) with its
 * children.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliNodeFlags } from '../../src/cli-node-flags';
import { freePort, REPO_ROOT, requireBinary, sleep, waitFor } from './support/processes';

const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const DRAIN_TIMEOUT_MS = 1_000;
/** The drain bound, the bounded log flush (LOG_FLUSH_TIMEOUT_MS) and slack for a loaded machine. */
const EXIT_WITHIN_MS = DRAIN_TIMEOUT_MS + 1_000 + 3_000;
/** Enough warn lines (~200 bytes each) to fill a pipe (64 KiB) and Node's read buffer several times. */
const FAILING_REQUESTS = 1_600;
const CONCURRENCY = 16;

const started: ChildProcess[] = [];
afterAll(() => {
  // The whole group: a demo orphaned by its shell is still in it.
  for (const child of started) {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function exitedWithin(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still running'), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function get(port: number, urlPath: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

function tempFile(name: string, text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-shutdown-')), name);
  fs.writeFileSync(file, text);
  return file;
}

describe('the CLI whose stdout reader is gone', () => {
  it('keeps serving, and SIGTERM still stops it within the drain bound', async () => {
    const port = await freePort();
    // Every request to this route fails (nothing listens on port 1) and logs one warn line.
    const routes = tempFile('routes.yaml', 'routes:\n  - id: dead\n    uri: /dead\n    plugins: { aws-lambda: { function_uri: "http://127.0.0.1:1/fn" } }\n');
    const child = spawn(process.execPath, [...cliNodeFlags(CLI), CLI, '--config', routes, '--grpc-listen', 'off', '--http-listen', `127.0.0.1:${port}`, '--drain-timeout-ms', String(DRAIN_TIMEOUT_MS)], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    started.push(child);
    // Nobody reads: the pipe fills, then its reader goes away with lines still queued.
    child.stdout!.pause();
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    await waitFor('the sidecar to answer /healthz', () => get(port, '/healthz', agent).then((s) => s === 200), 15_000, 100);
    const statuses = await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      const seen: number[] = [];
      for (let i = 0; i < FAILING_REQUESTS / CONCURRENCY; i++) seen.push(await get(port, '/dead', agent));
      return seen;
    }));
    expect(new Set(statuses.flat())).toEqual(new Set([502]));
    child.stdout!.destroy();
    await sleep(200);
    expect(await get(port, '/dead', agent)).toBe(502);
    expect(await get(port, '/healthz', agent)).toBe(200);
    agent.destroy();

    child.kill('SIGTERM');
    expect(await exitedWithin(child, EXIT_WITHIN_MS)).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('the demo (npm start)', () => {
  beforeAll(() => {
    // npm test builds dist/ only; the demo runs from build/ (npm run build:tools).
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.tools.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }, 120_000);

  async function demoEnv(): Promise<NodeJS.ProcessEnv> {
    const names = ['DEMO_API_KEY_PORT', 'DEMO_IAM_PORT', 'DEMO_UPSTREAM_PORT', 'DEMO_HTTP_PORT', 'DEMO_GRPC_PORT', 'DEMO_ENVOY_PORT', 'DEMO_ENVOY_ADMIN_PORT'];
    // The demo starts the `envoy` on PATH: put the suites' Envoy (SIDECAR_TEST_ENVOY under .ci/with) first.
    const envoyDir = path.dirname(requireBinary('envoy'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${envoyDir}${path.delimiter}${process.env.PATH ?? ''}` };
    for (const name of names) env[name] = String(await freePort());
    return env;
  }

  /** Pids of the processes whose parent is `pid`. */
  function childrenOf(pid: number): number[] {
    return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        // Fields after the ")" closing the command name: state, ppid, ...
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Starts `args` detached (its own process group, killed in afterAll) and resolves once the demo is up. */
  async function startUp(cmd: string, args: readonly string[]): Promise<ChildProcess> {
    const child = spawn(cmd, args, { env: await demoEnv(), cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    started.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    await waitFor(`the demo to be up (output so far: ${output})`, () => output.includes('demo is up'), 30_000, 50);
    return child;
  }

  const demoJs = path.join(REPO_ROOT, 'build', 'demo', 'run-demo.js');

  it('on SIGTERM, stops the sidecar and Envoy and waits for them before it exits', async () => {
    const demo = await startUp(process.execPath, [demoJs]);
    const demoChildren = childrenOf(demo.pid!);
    // The sidecar, and Envoy (the e2e machine has it).
    expect(demoChildren.length).toBe(2);
    const exited = new Promise<number[]>((resolve) => demo.once('exit', () => resolve(demoChildren.filter(alive))));
    demo.kill('SIGTERM');
    expect(await exited).toEqual([]);
  }, 60_000);

  it('stops when the shell that started it dies (npm start: SIGTERM reaches npm and sh, not the demo)', async () => {
    // `; true` keeps sh from exec-ing node, as with npm's `sh -c "npm run build && ... && node ..."`.
    const shell = await startUp('/bin/sh', ['-c', `"${process.execPath}" "${demoJs}"; true`]);
    const [demoPid] = childrenOf(shell.pid!);
    const demoChildren = childrenOf(demoPid);
    expect(demoChildren.length).toBe(2);
    shell.kill('SIGTERM');
    await waitFor('the demo and its children to exit', () => !alive(demoPid) && demoChildren.every((pid) => !alive(pid)), 15_000, 50);
  }, 60_000);
});

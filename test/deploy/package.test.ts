/**
 * `npm pack` makes a package that works: a copy of the package's sources (no dist/) is packed, so
 * `prepack` must build dist/; the tarball is installed with production dependencies only into an
 * empty project; `npx aws-lambda-sidecar --config routes.yaml` then starts and answers /healthz, and
 * the installed bin exits 0 on SIGTERM. Dependencies come from npm's cache when it has them (`npm ci` filled it).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, spawnManaged, waitFor, type ManagedProcess } from '../e2e/support/processes';

const execFileAsync = promisify(execFile);
const PACK_AND_INSTALL_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 15_000;
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[]; bin: Record<string, string> };
/** What the build needs besides the shipped folders. */
const BUILD_OUTPUT = 'dist';
const BUILD_INPUTS = ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src'];

interface PackResult { filename: string; files: Array<{ path: string; mode: number }> }

/** npm next to the node running the tests, without the npm_* settings of the `npm test` around us. */
function npmTool(name: 'npm' | 'npx'): string {
  const beside = path.join(path.dirname(process.execPath), name);
  return existsSync(beside) ? beside : name;
}
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

async function npm(args: readonly string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(npmTool('npm'), [...args], { cwd, env: npmEnv, timeout: PACK_AND_INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const failure = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${failure.message}\n${failure.stderr ?? ''}`);
  }
}

describe('npm pack', () => {
  let dir: string;
  let packed: PackResult;
  let project: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sidecar-pack-'));
    const source = path.join(dir, 'source');
    // Everything the package ships except dist/, the build output: `prepack` has to make it.
    for (const entry of [...BUILD_INPUTS, ...pkg.files.filter((f) => f !== BUILD_OUTPUT)]) cpSync(path.join(REPO_ROOT, entry), path.join(source, entry), { recursive: true });
    expect(existsSync(path.join(source, BUILD_OUTPUT))).toBe(false);
    // The build's dev dependencies (TypeScript), without copying them.
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(source, 'node_modules'));
    packed = (JSON.parse(await npm(['pack', '--json', '--pack-destination', dir], source)) as PackResult[])[0];

    project = path.join(dir, 'project');
    mkdirSync(project);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-the-sidecar', private: true }));
    await npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, packed.filename)], project);
  }, PACK_AND_INSTALL_TIMEOUT_MS);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("ships what package.json's files names, all of which exist, and the built dist/", () => {
    for (const entry of pkg.files) expect([entry, existsSync(path.join(REPO_ROOT, entry))]).toEqual([entry, true]);
    const topLevel = new Set(packed.files.map((f) => f.path.split('/')[0]));
    expect([...topLevel].sort()).toEqual([...pkg.files, 'README.md', 'package.json'].sort());
    for (const needed of ['dist/cli.js', 'dist/server.js', 'proto/grpc/health/v1/health.proto', 'envoy/envoy.yaml', 'nginx/aws-lambda.conf', 'deploy/kubernetes/deployment.yaml']) {
      expect(packed.files.map((f) => f.path)).toContain(needed);
    }
    expect(packed.files.some((f) => f.path.endsWith('.ts'))).toBe(false);
  });

  it('installs an executable bin that keeps the V8 flags of its shebang', () => {
    const bin = pkg.bin[pkg.name];
    expect(packed.files.find((f) => f.path === bin)?.mode).toBe(0o755);
    const installed = path.join(project, 'node_modules', pkg.name, bin);
    expect(statSync(installed).mode & 0o111).toBe(0o111);
    const shebang = readFileSync(path.join(REPO_ROOT, 'src', 'cli.ts'), 'utf8').split('\n', 1)[0];
    expect(readFileSync(installed, 'utf8').split('\n', 1)[0]).toBe(shebang);
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node --/);
    const installedPkg = JSON.parse(readFileSync(path.join(project, 'node_modules', pkg.name, 'package.json'), 'utf8')) as { version: string };
    expect(installedPkg.version).toBe(pkg.version);
  });

  /** Starts the installed command in the project; resolves once it logs its HTTP address. */
  async function startInstalled(cmd: string, args: readonly string[]): Promise<{ proc: ManagedProcess; httpAddress: string }> {
    let httpAddress: string | undefined;
    const proc = spawnManaged(path.basename(cmd), cmd, [...args, '--config', 'routes.yaml', '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], {
      cwd: project,
      env: npmEnv,
      onStdoutLine: (line) => {
        const match = line.includes('"msg":"listening"') ? /"httpAddress":"([^"]+)"/.exec(line) : null;
        if (match !== null) httpAddress = match[1];
      },
    });
    try {
      const { value } = await waitFor('the "listening" line', () => httpAddress ?? (proc.running() ? undefined : `exited:\n${proc.output()}`), START_TIMEOUT_MS);
      expect(proc.running()).toBe(true);
      return { proc, httpAddress: value };
    } catch (err) {
      await proc.stop('SIGKILL');
      throw err;
    }
  }

  it('runs with `npx aws-lambda-sidecar --config routes.yaml` and answers /healthz 200', async () => {
    writeFileSync(
      path.join(project, 'routes.yaml'),
      ['routes:', '  - id: "1"', '    uri: /aws', '    plugins:', '      aws-lambda:', '        function_uri: https://example.execute-api.us-east-1.amazonaws.com/default/fn', ''].join('\n'),
    );
    const { proc, httpAddress } = await startInstalled(npmTool('npx'), ['--no-install', pkg.name]);
    try {
      const res = await fetch(`http://${httpAddress}/healthz`);
      expect(res.status).toBe(200);
      // SIGTERM to the process group, as a terminal's Ctrl-C or `kill -- -<pgid>` sends it: npm
      // itself dies of the signal (it does not forward it), the sidecar drains and stops.
      await proc.stop('SIGTERM', START_TIMEOUT_MS);
      // The sidecar's stdout is npx's pipe, gone with npx: its "stopped" line may never arrive.
      // That it stopped shows in its listener closing (the next test checks the exit code).
      await waitFor('the sidecar to stop listening', async () => {
        try {
          await fetch(`http://${httpAddress}/healthz`);
          return undefined;
        } catch {
          return true;
        }
      }, START_TIMEOUT_MS);
    } finally {
      await proc.stop('SIGKILL');
    }
  });

  it('exits 0 on SIGTERM, started as the installed bin', async () => {
    const { proc, httpAddress } = await startInstalled(path.join(project, 'node_modules', '.bin', pkg.name), []);
    try {
      expect((await fetch(`http://${httpAddress}/healthz`)).status).toBe(200);
      expect(await proc.stop('SIGTERM', START_TIMEOUT_MS)).toBe(0);
      expect(proc.output()).toContain('"msg":"stopped"');
    } finally {
      await proc.stop('SIGKILL');
    }
  });
});

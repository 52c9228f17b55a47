/**
 * The Dockerfile cannot be built here (no registry for base images): it is linted with hadolint and
 * checked against what it must agree with (the CLI's heap flags, package.json, the listeners).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cliNodeFlags } from '../../src/cli-node-flags';
import { REPO_ROOT } from '../e2e/support/processes';
import { runTool } from './deploy-tools';

const DOCKERFILE = path.join(REPO_ROOT, 'Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const lastFrom = instructions.map((line) => line.startsWith('FROM ')).lastIndexOf(true);
const runtime = instructions.slice(lastFrom);

function jsonArgs(instruction: string, stage: readonly string[]): string[] {
  const line = stage.find((l) => l.startsWith(`${instruction} `));
  if (line === undefined) throw new Error(`no ${instruction} in the runtime stage`);
  return JSON.parse(line.slice(instruction.length + 1)) as string[];
}

function env(name: string): string | undefined {
  const match = new RegExp(`\\b${name}=(\\S+)`).exec(runtime.filter((l) => l.startsWith('ENV ')).join(' '));
  return match?.[1];
}

describe('Dockerfile', () => {
  it('passes hadolint without a finding', () => {
    const run = runTool('hadolint', ['--no-color', DOCKERFILE]);
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('runs the CLI with the heap flags of its shebang', () => {
    const flags = cliNodeFlags(path.join(REPO_ROOT, 'src', 'cli.ts'));
    expect(flags.length).toBeGreaterThan(0);
    expect(jsonArgs('ENTRYPOINT', runtime)).toEqual(['node', ...flags, '/app/dist/cli.js']);
  });

  it('builds on Node 24 and labels the image with the package version', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24\.\d+\.\d+-bookworm-slim$/m);
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(runtime).toContain(`ARG VERSION=${version}`);
    for (const label of ['title', 'description', 'version', 'licenses', 'base.name']) expect(runtime.join('\n')).toContain(`org.opencontainers.image.${label}=`);
  });

  it('listens on all interfaces, exposes those ports and runs as a numeric non-root user', () => {
    const grpc = env('SIDECAR_GRPC_LISTEN');
    const http = env('SIDECAR_HTTP_LISTEN');
    expect(grpc).toBe('0.0.0.0:50051');
    expect(http).toBe('0.0.0.0:8080');
    expect(runtime).toContain('EXPOSE 50051 8080');
    expect(runtime).toContain('USER 1000:1000');
    expect(runtime.some((l) => /^USER (0|root)\b/.test(l))).toBe(false);
    expect(runtime.join('\n')).toMatch(/^HEALTHCHECK .*\/healthz/m);
  });

  it('ships only the production dependencies, dist/ and proto/ in the runtime stage', () => {
    const copies = runtime.filter((l) => l.startsWith('COPY '));
    expect(copies).toEqual([
      'COPY package.json ./',
      'COPY --from=prod-deps /src/node_modules ./node_modules',
      'COPY --from=build /src/dist ./dist',
      'COPY proto ./proto',
    ]);
    expect(instructions).toContain('RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
  });
});

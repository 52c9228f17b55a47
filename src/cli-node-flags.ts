/**
 * The Node flags the sidecar runs with: those of dist/cli.js's shebang (`#!/usr/bin/env -S node
 * <flags>`). The installed `aws-lambda-sidecar` command gets them from the shebang; tools that run
 * `node dist/cli.js` (tests, bench, demo) pass them explicitly, so every way of starting it agrees.
 */
import { readFileSync } from 'node:fs';

export function cliNodeFlags(cliPath: string): string[] {
  const first = readFileSync(cliPath, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S node((?: --\S+)*)\s*$/.exec(first);
  return m === null ? [] : m[1].trim().split(/\s+/).filter((f) => f !== '');
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cliNodeFlags } from '../../src/cli-node-flags';

describe('cliNodeFlags', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withFirstLine = (line: string): string => {
    const file = path.join(dir, `${Math.random()}.js`);
    writeFileSync(file, `${line}\nconsole.log(1);\n`);
    return file;
  };

  it('reads the V8 flags of the sidecar\'s own shebang (src/cli.ts)', () => {
    expect(cliNodeFlags(path.resolve(__dirname, '../../src/cli.ts'))).toEqual(['--max-semi-space-size=4', '--max-old-space-size=256']);
  });

  it('gives no flags for a plain node shebang or none', () => {
    expect(cliNodeFlags(withFirstLine('#!/usr/bin/env node'))).toEqual([]);
    expect(cliNodeFlags(withFirstLine("'use strict';"))).toEqual([]);
  });
});

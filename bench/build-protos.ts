/**
 * tsconfig.tools.json compiles src/ into build/src/, and src/fronts/grpc-definitions.ts looks for
 * the .proto files two levels above itself: build/proto from there (dist/ ships next to proto/).
 * Bench scripts that load the gRPC definitions link build/proto to the repository's proto/ first;
 * under ts-jest (bench/ next to proto/) there is nothing to do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../test/e2e/support/processes';

export function linkBuildProtos(): void {
  const expected = path.resolve(__dirname, '..', 'proto');
  if (fs.existsSync(expected)) return;
  try {
    fs.symlinkSync(path.join(REPO_ROOT, 'proto'), expected, 'dir');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

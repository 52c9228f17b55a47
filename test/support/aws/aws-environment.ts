/**
 * Runs a test with exactly the AWS environment it names: every `AWS_*` variable of the process is
 * removed first (a developer's own profile or keys must not make a test pass), the shared files
 * point at paths that do not exist unless the test gives its own, IMDS is disabled unless the test
 * points it at a stand-in (so nothing ever tries 169.254.169.254), and the original environment is
 * restored afterwards. Tests in one jest file run one after another, so this is safe there.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** An environment value that is a file: written to the test's temp directory, the variable set to its path. */
export interface FileContents {
  readonly fileContents: string;
}

export async function withAwsEnvironment<T>(env: Readonly<Record<string, string | FileContents>>, run: (dir: string) => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  const dir = mkdtempSync(path.join(tmpdir(), 'aws-env-'));
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
  process.env.AWS_CONFIG_FILE = path.join(dir, 'no-config');
  if (!('AWS_EC2_METADATA_SERVICE_ENDPOINT' in env)) process.env.AWS_EC2_METADATA_DISABLED = 'true';
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string') {
      process.env[name] = value;
    } else {
      const file = path.join(dir, name.toLowerCase());
      writeFileSync(file, value.fileContents);
      process.env[name] = file;
    }
  }
  try {
    return await run(dir);
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    rmSync(dir, { recursive: true, force: true });
  }
}

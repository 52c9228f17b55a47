/**
 * `aws-lambda-sidecar --check`: validates the routes of the --config file or the --store (file or
 * etcd) and lists every problem, one per line, without starting anything. Exit code 0 when the
 * routes are valid, 1 when they are not or cannot be read, 2 for a bad --store.
 */
import { readFileSync } from 'node:fs';
import { ERROR_CODES, SidecarError, sidecarError } from '../errors';
import { parseRoutesDocument } from './routes-file';
import { RouteConfig, RouteValidationError, problemText } from './route-schema';
import { routeFromEtcdValue } from './stores/etcd-value';

export interface CheckResult {
  /** `file:<path>` or `etcd://...`. */
  readonly source: string;
  readonly routes: number;
  /** One line each: `route "<id>": <field>: <what is wrong>`, or why nothing could be read. */
  readonly problems: readonly string[];
}

/** Each problem of a thrown validation error, or the error's message. */
function problemsOf(err: unknown): string[] {
  const found = (err as Partial<RouteValidationError>).problems;
  return found === undefined ? [(err as Error).message] : found.map(problemText);
}

export function checkFile(file: string): CheckResult {
  const source = `file:${file}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { source, routes: 0, problems: [`cannot read routes file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  try {
    return { source, routes: parseRoutesDocument(text, file).length, problems: [] };
  } catch (err) {
    return { source, routes: 0, problems: problemsOf(err) };
  }
}

/**
 * Reads every key under the prefix and validates each value as the etcd store does (the id is the
 * key's last segment). The store skips an invalid value with a log line; here it is a problem.
 */
export async function checkEtcd(spec: string): Promise<CheckResult> {
  // Loaded only when used, as in store-spec.ts: the etcd client brings its own gRPC stack.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DEFAULT_ETCD_CALL_TIMEOUT_MS, parseEtcdSpec } = require('./stores/etcd-store') as typeof import('./stores/etcd-store');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Etcd3 } = require('etcd3') as typeof import('etcd3');
  const { hosts, prefix } = parseEtcdSpec(spec);
  const source = `etcd://${hosts.join(',')}${prefix}`;
  const client = new Etcd3({
    hosts: hosts.map((h) => `http://${h}`),
    dialTimeout: DEFAULT_ETCD_CALL_TIMEOUT_MS,
    defaultCallOptions: () => ({ deadline: Date.now() + DEFAULT_ETCD_CALL_TIMEOUT_MS }),
  });
  try {
    let kvs;
    try {
      kvs = (await client.getAll().prefix(`${prefix}/`).exec()).kvs;
    } catch (err) {
      return { source, routes: 0, problems: [`cannot read routes from ${source}: ${(err as Error).message}`] };
    }
    const problems: string[] = [];
    const routes: RouteConfig[] = [];
    for (const kv of kvs) {
      const key = kv.key.toString();
      const id = key.slice(prefix.length + 1);
      if (id === '' || id.includes('/')) continue; // not a route key: the store ignores it too
      try {
        routes.push(routeFromEtcdValue(kv.value.toString(), id, key));
      } catch (err) {
        problems.push(...problemsOf(err));
      }
    }
    return { source, routes: routes.length, problems };
  } finally {
    client.close();
  }
}

/**
 * Runs the check for the CLI's store options and prints it: every problem on `err`, one per line,
 * then a summary; a warning when there is no route. Returns the exit code.
 */
export async function runCheck(storeSpec: string | undefined, configPath: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let result: CheckResult;
  try {
    if (storeSpec?.startsWith('etcd://') === true) result = await checkEtcd(storeSpec);
    else {
      const file = storeSpec?.startsWith('file:') === true ? storeSpec.slice('file:'.length) : configPath;
      if (storeSpec !== undefined && !storeSpec.startsWith('file:')) throw sidecarError(ERROR_CODES.CLI_INVALID, `--store: expected file:<path> or etcd://host:port/prefix, got "${storeSpec}"`);
      if (file === undefined || file === '') throw sidecarError(ERROR_CODES.CLI_INVALID, '--check needs --config <routes file> or --store');
      result = checkFile(file);
    }
  } catch (e) {
    err.write(`aws-lambda-sidecar --check: ${(e as Error).message}\n`);
    return (e as SidecarError).code === ERROR_CODES.CLI_INVALID ? 2 : 1;
  }
  for (const line of result.problems) err.write(`${line}\n`);
  if (result.problems.length > 0) {
    err.write(`aws-lambda-sidecar --check: ${result.source}: ${result.problems.length} problem(s)\n`);
    return 1;
  }
  if (result.routes === 0) err.write(`aws-lambda-sidecar --check: warning: ${result.source} holds no route\n`);
  out.write(`aws-lambda-sidecar --check: ${result.source}: ${result.routes} route(s), valid\n`);
  return 0;
}

/**
 * `aws-lambda-sidecar --check` through the built CLI (dist/cli.js): a routes file with six mistakes
 * gets all six listed in one run, one per line on stderr, exit 1, nothing started; a valid file
 * exits 0; a file without routes exits 0 with a warning. The etcd form reads a real etcd.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { cliNodeFlags } from '../../src/cli-node-flags';
import { etcdArgs, freePort, REPO_ROOT, requireBinary, spawnManaged, stopAll, waitFor, type ManagedProcess } from './support/processes';

const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const CHECK_TIMEOUT_MS = 15_000;
const ETCD_READY_TIMEOUT_MS = 15_000;
const PREFIX = '/check-test/routes';
const SUMMARY = 'aws-lambda-sidecar --check: ';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr lines that are problems (not the summary or a warning). */
  problems: string[];
}

function check(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...cliNodeFlags(CLI), CLI, '--check', ...args], { cwd: REPO_ROOT, timeout: CHECK_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      if (err !== null && code === null) {
        reject(new Error(`--check did not exit by itself: ${err.message}\n${stdout}${stderr}`));
        return;
      }
      resolve({ code, stdout, stderr, problems: stderr.split('\n').filter((l) => l !== '' && !l.startsWith(SUMMARY)) });
    });
  });
}

let dir: string;
function writeRoutes(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-e2e-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const SIX_MISTAKES = `routes:
  - id: orders
    uri: /orders
    plugins:
      aws-lambda:
        function_uri: https://abc.execute-api.us-east-1.amazonaws.com/default/orders
        timeout: 50
        authorization:
          apikey: |
            pasted-key-with-a-newline
  - uri: /no-id
    plugins: {}
  - id: users
    uri: /users/:id
    methods: [GET, FETCH]
    plugins:
      aws-lambda:
        function_uri: ftp://example.com/fn
`;

describe('--check --config <file>', () => {
  it('lists all six mistakes of a file in one run, one per line, exit 1, starting nothing', async () => {
    const file = writeRoutes('six.yaml', SIX_MISTAKES);
    const run = await check('--config', file);
    expect(run.code).toBe(1);
    expect(run.problems).toEqual([
      'route "orders": plugins.aws-lambda.authorization.apikey: must not contain control characters (a line break, a tab...): check for a trailing newline',
      'route "orders": plugins.aws-lambda.timeout: must be >= 100 (got 50)',
      `${file}: routes[1]: id: is required`,
      'route "users": methods[1]: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE (got "FETCH")',
      'route "users": uri: parameter segments such as ":name" are not supported; use a trailing "*" (got "/users/:id")',
      'route "users": plugins.aws-lambda.function_uri: must use https or http (got "ftp")',
    ]);
    expect(run.stderr).toContain(`${SUMMARY}file:${file}: 6 problem(s)`);
    expect(run.stderr).not.toContain('pasted-key');
    // Nothing was started: no log line at all (a start logs "listening" or "refusing to start").
    expect(run.stdout).toBe('');
  });

  it('a valid file: exit 0, nothing on stderr', async () => {
    const run = await check('--config', path.join(REPO_ROOT, 'demo', 'routes.demo.yaml'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('3 route(s), valid');
  });

  it('also as --store file:<path>', async () => {
    const run = await check('--store', `file:${writeRoutes('store.yaml', SIX_MISTAKES)}`);
    expect(run.code).toBe(1);
    expect(run.problems).toHaveLength(6);
  });

  it.each([
    ['an empty file', ''],
    ['routes: with nothing', 'routes:\n'],
  ])('%s: exit 0 with a warning', async (_label, text) => {
    const file = writeRoutes('empty.yaml', text);
    const run = await check('--config', file);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`${SUMMARY}warning: file:${file} holds no route\n`);
  });

  it('a missing file or broken YAML: exit 1 saying so', async () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(await check('--config', missing)).toMatchObject({ code: 1, problems: [`cannot read routes file ${missing}: ENOENT`] });
    const broken = writeRoutes('broken.yaml', 'routes:\n  - id: "a\n');
    const run = await check('--config', broken);
    expect(run.code).toBe(1);
    expect(run.problems).toHaveLength(1);
    expect(run.problems[0]).toMatch(/not valid YAML or JSON/);
  });
});

describe('--check --store etcd://...', () => {
  let etcd: ManagedProcess | undefined;
  let clientPort: number;
  let dataDir: string;
  let client: Etcd3;

  beforeAll(async () => {
    const etcdBin = requireBinary('etcd', 'apt-get install etcd-server');
    clientPort = await freePort();
    const peerPort = await freePort();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-etcd-'));
    etcd = spawnManaged('etcd', etcdBin, etcdArgs(dataDir, clientPort, peerPort));
    client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}` });
    await waitFor('etcd to take a write', async () => {
      await client.put('/check-test/ready').value('1');
      return true;
    }, ETCD_READY_TIMEOUT_MS, 100);
  }, ETCD_READY_TIMEOUT_MS + 5000);

  afterAll(async () => {
    client?.close();
    await stopAll(etcd);
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const store = (prefix: string): string => `etcd://127.0.0.1:${clientPort}${prefix}`;
  const route = (extra: Record<string, unknown>): string => JSON.stringify({ uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h.example.com/fn', ...extra } } });

  it('lists every invalid value under the prefix (which the store would skip), exit 1', async () => {
    await client.put(`${PREFIX}/good`).value(route({}));
    await client.put(`${PREFIX}/bad`).value(route({ timeout: 99, authorization: { apikey: 'key\n' } }));
    await client.put(`${PREFIX}/broken`).value('{"uri": ');
    await client.put(`${PREFIX}/..`).value(route({}));
    const run = await check('--store', store(PREFIX));
    expect(run.code).toBe(1);
    expect(run.problems).toEqual(expect.arrayContaining([
      'route "bad": plugins.aws-lambda.authorization.apikey: must not contain control characters (a line break, a tab...): check for a trailing newline',
      'route "bad": plugins.aws-lambda.timeout: must be >= 100 (got 99)',
      expect.stringMatching(new RegExp(`^${PREFIX}/broken: not valid JSON: `)),
      'route "..": id: must be 1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "." (not "." or "..") (got "..")',
    ]));
    expect(run.problems).toHaveLength(4);
    expect(run.stderr).toContain(`${SUMMARY}${store(PREFIX)}: 4 problem(s)`);
    expect(run.stdout).toBe('');
  });

  it('valid values only: exit 0', async () => {
    const prefix = '/check-test/valid';
    await client.put(`${prefix}/one`).value(route({}));
    await client.put(`${prefix}/2`).value(JSON.stringify({ id: 2, uris: ['/x', '/y/*'], plugins: {} }));
    const run = await check('--store', store(prefix));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('2 route(s), valid');
  });

  it('an empty prefix: exit 0 with a warning', async () => {
    const run = await check('--store', store('/check-test/nothing-here'));
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`${SUMMARY}warning: ${store('/check-test/nothing-here')} holds no route\n`);
  });

  it('etcd unreachable: exit 1 saying so', async () => {
    const run = await check('--store', `etcd://127.0.0.1:${await freePort()}${PREFIX}`);
    expect(run.code).toBe(1);
    expect(run.problems[0]).toMatch(/^cannot read routes from etcd:\/\/127\.0\.0\.1:\d+\/check-test\/routes: /);
  });
});

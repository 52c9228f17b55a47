/**
 * FileRouteStore against a real file in a temp dir: hot reload (in-place edits and editor-style
 * rename), bad edits refused once with a log line naming the route and field, Admin-API-style
 * writes (atomic rewrite, mode kept, serialised), and write failures that change nothing.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { validateRoute, type RouteConfig } from '../../../src/config/route-schema';
import { parseRoutesDocument } from '../../../src/config/routes-file';
import { FileRouteStore } from '../../../src/config/stores/file-store';

const POLL_INTERVAL_MS = 50;
/** Long enough for several polls plus the store's settle delay: a change would have shown by then. */
const QUIET_PERIOD_MS = 8 * POLL_INTERVAL_MS + 100;
const RELOAD_DEADLINE_MS = 1000;

interface RouteSpec {
  id: string;
  uri: string;
  fn?: string;
  timeout?: number;
}

function routesYaml(routes: RouteSpec[]): string {
  const lines = ['# routes under test', 'routes:'];
  for (const r of routes) {
    lines.push(
      `  - id: "${r.id}"`,
      `    uri: ${r.uri}`,
      '    plugins:',
      '      aws-lambda:',
      `        function_uri: ${r.fn ?? 'https://example.execute-api.us-east-1.amazonaws.com/default/fn'}`,
      '        authorization:',
      `          apikey: secret-${r.id}`,
    );
    if (r.timeout !== undefined) lines.push(`        timeout: ${r.timeout}`);
  }
  return `${lines.join('\n')}\n`;
}

function route(id: string, uri: string, extra: Record<string, unknown> = {}): RouteConfig {
  return validateRoute({ id, uri, plugins: { 'aws-lambda': { function_uri: `https://fn-${id}.example.com/default/x`, authorization: { apikey: `key-${id}` } } }, ...extra });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return Date.now() - started;
}

function ids(routes: readonly RouteConfig[]): string[] {
  return routes.map((r) => r.id);
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'file-store-test-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Harness {
  dir: string;
  file: string;
  store: FileRouteStore;
  /** Every route set handed to onChange, in order. */
  changes: Array<readonly RouteConfig[]>;
  logs: Array<Record<string, unknown>>;
  errorLogs(): Array<Record<string, unknown>>;
}

const open: FileRouteStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

let dirCounter = 0;
async function startStore(initial: string, opts: { mode?: number; pollIntervalMs?: number } = {}): Promise<Harness> {
  const dir = join(root, `case-${dirCounter++}`);
  mkdirSync(dir);
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, initial);
  if (opts.mode !== undefined) chmodSync(file, opts.mode);
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const store = new FileRouteStore(file, log, opts.pollIntervalMs ?? POLL_INTERVAL_MS);
  open.push(store);
  const changes: Array<readonly RouteConfig[]> = [];
  await store.start((routes) => changes.push(routes));
  return { dir, file, store, changes, logs, errorLogs: () => logs.filter((l) => (l.level as number) >= 50) };
}

describe('FileRouteStore hot reload', () => {
  it('applies an in-place edit through onChange within 1 s', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]));
    expect(ids(h.store.routes())).toEqual(['1']);
    // Let the first stat poll record the initial state, as a running sidecar would have.
    await sleep(2 * POLL_INTERVAL_MS);

    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/aws2' }]));
    const latencyMs = await waitFor('onChange after an edit', () => h.changes.length > 0, RELOAD_DEADLINE_MS);

    expect(h.changes).toHaveLength(1);
    expect(ids(h.changes[0])).toEqual(['1', '2']);
    expect(h.changes[0][1].uri).toBe('/aws2');
    expect(h.store.routes()).toBe(h.changes[0]);
    expect(h.errorLogs()).toEqual([]);
    console.log(`file store reload latency (in-place edit, poll ${POLL_INTERVAL_MS} ms): ${latencyMs} ms`);
  });

  it('sees an editor-style replace (write a temp file, rename it over the original)', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]));
    await sleep(2 * POLL_INTERVAL_MS);

    const tmp = join(h.dir, '.routes.yaml.swp');
    writeFileSync(tmp, routesYaml([{ id: '1', uri: '/aws', fn: 'https://other.example.com/default/fn' }]));
    renameSync(tmp, h.file);
    await waitFor('onChange after a rename', () => h.changes.length > 0, RELOAD_DEADLINE_MS);

    expect(h.changes).toHaveLength(1);
    expect(h.store.routes()[0].plugins['aws-lambda']?.function_uri).toBe('https://other.example.com/default/fn');
  });

  it('refuses bad YAML: keeps the old routes, no onChange, one error line (not one per poll)', async () => {
    const good = routesYaml([{ id: '1', uri: '/aws' }]);
    const h = await startStore(good);
    const before = h.store.routes();
    await sleep(2 * POLL_INTERVAL_MS);

    writeFileSync(h.file, 'routes:\n  - id: "1"\n    uri: [unclosed\n');
    await waitFor('the refusal log line', () => h.errorLogs().length > 0, RELOAD_DEADLINE_MS);
    // Several more polls, and a touch that changes the mtime but not the content.
    await sleep(QUIET_PERIOD_MS);
    const now = new Date();
    utimesSync(h.file, now, new Date(now.getTime() + 5000));
    await sleep(QUIET_PERIOD_MS);

    expect(h.changes).toEqual([]);
    expect(h.store.routes()).toBe(before);
    expect(h.errorLogs()).toHaveLength(1);
    expect(String(h.errorLogs()[0].msg)).toMatch(/keeping the last good routes/);
    expect(String(h.errorLogs()[0].msg)).toMatch(/not valid YAML/);
    expect(h.errorLogs()[0].code).toBe('ERR_CONFIG_UNREADABLE');
  });

  it('refuses an invalid field with one line naming the route id, the field and the reason; a fix then applies', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/aws2' }]));
    const before = h.store.routes();
    await sleep(2 * POLL_INTERVAL_MS);

    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/aws2', timeout: 50 }]));
    await waitFor('the refusal log line', () => h.errorLogs().length > 0, RELOAD_DEADLINE_MS);
    await sleep(QUIET_PERIOD_MS);

    expect(h.changes).toEqual([]);
    expect(h.store.routes()).toBe(before);
    expect(h.errorLogs()).toHaveLength(1);
    const line = h.errorLogs()[0];
    expect(line.code).toBe('ERR_CONFIG_INVALID');
    expect(String(line.msg)).toContain('route "2"');
    expect(String(line.msg)).toContain('plugins.aws-lambda.timeout');
    expect(String(line.msg)).toContain('must be >= 100 (got 50)');
    // Never a secret in a log line.
    expect(JSON.stringify(h.logs)).not.toContain('secret-');

    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/aws2', timeout: 500 }]));
    await waitFor('onChange after the fix', () => h.changes.length > 0, RELOAD_DEADLINE_MS);
    expect(h.changes).toHaveLength(1);
    expect(h.store.routes()[1].plugins['aws-lambda']?.timeout).toBe(500);
    expect(h.errorLogs()).toHaveLength(1);
  });
});

describe('FileRouteStore writes (Admin API)', () => {
  it.each(['600', '640', '664'])('put() creates then replaces, rewriting the file atomically with its mode (0%s) kept', async (octal) => {
    const mode = parseInt(octal, 8);
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]), { mode });

    expect(await h.store.put(route('2', '/aws2'))).toEqual({ created: true });
    expect(ids(h.store.routes())).toEqual(['1', '2']);
    expect(h.changes).toHaveLength(1);
    // (Compared with the inode just before a write: inode numbers of deleted files get reused.)
    const inodeBefore = statSync(h.file).ino;
    expect(await h.store.put(route('2', '/aws2-changed'))).toEqual({ created: false });
    expect(ids(h.store.routes())).toEqual(['1', '2']);
    expect(h.store.routes()[1].uri).toBe('/aws2-changed');
    expect(h.changes).toHaveLength(2);

    const text = readFileSync(h.file, 'utf8');
    expect(parseRoutesDocument(text, h.file)).toEqual(h.store.routes());
    // Replaced by rename, not rewritten in place; nothing left behind.
    expect(statSync(h.file).ino).not.toBe(inodeBefore);
    expect(readdirSync(h.dir)).toEqual(['routes.yaml']);
    expect((statSync(h.file).mode & 0o777).toString(8)).toBe(octal);

    // The watcher sees our own write but must not report it a second time.
    await sleep(QUIET_PERIOD_MS);
    expect(h.changes).toHaveLength(2);
    expect(h.errorLogs()).toEqual([]);
  });

  it('remove() deletes a route (true) and reports a missing one (false)', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/aws2' }]));
    expect(await h.store.remove('1')).toBe(true);
    expect(ids(h.store.routes())).toEqual(['2']);
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file))).toEqual(['2']);
    const text = readFileSync(h.file, 'utf8');

    expect(await h.store.remove('1')).toBe(false);
    expect(await h.store.remove('nope')).toBe(false);
    expect(ids(h.store.routes())).toEqual(['2']);
    expect(readFileSync(h.file, 'utf8')).toBe(text);
    expect(h.changes).toHaveLength(1);
  });

  it('serialises concurrent puts: 10 in parallel, all 10 present', async () => {
    const h = await startStore('');
    const ten = Array.from({ length: 10 }, (_, i) => route(`r${i}`, `/r${i}`));
    const results = await Promise.all(ten.map((r) => h.store.put(r)));

    expect(results).toEqual(ten.map(() => ({ created: true })));
    expect(ids(h.store.routes()).sort()).toEqual(ten.map((r) => r.id).sort());
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file)).sort()).toEqual(ten.map((r) => r.id).sort());
    await sleep(QUIET_PERIOD_MS);
    expect(ids(h.store.routes())).toHaveLength(10);
    expect(h.errorLogs()).toEqual([]);
  });

  // chmod does not stop root, so both tricks make the filesystem itself refuse, for root too.
  const unwritable: Array<[string, (h: Harness) => () => void]> = [
    [
      'the directory is replaced by a plain file (ENOTDIR on the temp file)',
      (h) => {
        const moved = `${h.dir}.moved`;
        renameSync(h.dir, moved);
        writeFileSync(h.dir, 'not a directory');
        return () => {
          rmSync(h.dir);
          renameSync(moved, h.dir);
        };
      },
    ],
    [
      'the routes file is replaced by a directory (the rename fails with EISDIR)',
      (h) => {
        const moved = join(h.dir, 'routes.yaml.moved');
        renameSync(h.file, moved);
        mkdirSync(join(h.file, 'sub'), { recursive: true });
        return () => {
          rmSync(h.file, { recursive: true });
          renameSync(moved, h.file);
        };
      },
    ],
  ];

  it.each(unwritable)('rejects a write it cannot make with ERR_STORE_WRITE_FAILED and changes nothing: %s', async (_name, breakIt) => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]));
    const before = h.store.routes();
    const text = readFileSync(h.file, 'utf8');
    const restore = breakIt(h);
    try {
      const put = await h.store.put(route('2', '/aws2')).then(
        () => undefined,
        (err: unknown) => err as { code?: string; message: string },
      );
      expect(put?.code).toBe('ERR_STORE_WRITE_FAILED');
      expect(put?.message).toContain(h.file);
      const removed = await h.store.remove('1').then(
        () => undefined,
        (err: unknown) => err as { code?: string },
      );
      expect(removed?.code).toBe('ERR_STORE_WRITE_FAILED');
      expect(h.store.routes()).toBe(before);
      expect(h.changes).toEqual([]);
    } finally {
      restore();
    }
    expect(readFileSync(h.file, 'utf8')).toBe(text);
    // No temp file left behind.
    expect(readdirSync(h.dir)).toEqual(['routes.yaml']);
    // Once the file is back (same content), nothing is reloaded or reported as changed.
    await sleep(QUIET_PERIOD_MS);
    expect(h.changes).toEqual([]);
    expect(h.store.routes()).toBe(before);
    // And writes work again.
    expect(await h.store.put(route('2', '/aws2'))).toEqual({ created: true });
  });
});

describe('FileRouteStore writes racing a hand edit', () => {
  /** A poll slower than the test: the store can learn of the edit only when it writes. */
  const UNSEEN_POLL_MS = 60_000;

  it('an edit the poll has not seen yet is reloaded before the write, and both are kept (put and remove)', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]), { pollIntervalMs: UNSEEN_POLL_MS });
    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: 'hand', uri: '/hand' }]));

    expect(await h.store.put(route('admin', '/admin'))).toEqual({ created: true });
    expect(ids(h.store.routes())).toEqual(['1', 'hand', 'admin']);
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file))).toEqual(['1', 'hand', 'admin']);
    expect(h.logs.some((l) => String(l.msg).includes('reloaded before an Admin API write'))).toBe(true);

    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: 'hand', uri: '/hand' }, { id: 'hand2', uri: '/hand2' }]));
    expect(await h.store.remove('1')).toBe(true);
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file))).toEqual(['hand', 'hand2']);
    expect(ids(h.store.routes())).toEqual(['hand', 'hand2']);
  });

  it('an edit made between the write\'s read and its rename is not overwritten: the change is made again on top of it', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]), { pollIntervalMs: UNSEEN_POLL_MS });
    let builds = 0;
    const result = await h.store.update('admin', () => {
      builds++;
      // Stands for an editor saving while the store is writing.
      if (builds === 1) writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: 'hand', uri: '/hand' }]));
      return route('admin', '/admin');
    });
    expect(result.created).toBe(true);
    expect(builds).toBe(2);
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file))).toEqual(['1', 'hand', 'admin']);
    expect(readdirSync(h.dir)).toEqual(['routes.yaml']);
  });

  it('an invalid edit refuses the write with ERR_STORE_CONFLICT (409): the edit stays on disk, nothing is applied', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]), { pollIntervalMs: UNSEEN_POLL_MS });
    const before = h.store.routes();
    const halfDone = `${routesYaml([{ id: '1', uri: '/aws' }])}  - id: "2"\n    uri: /two\n    plugins: { aws-lambda: { timeout: 50 } }\n`;
    writeFileSync(h.file, halfDone);

    const err = await h.store.put(route('admin', '/admin')).then(
      () => undefined,
      (e: unknown) => e as { code?: string; status?: number; message: string },
    );
    expect(err?.code).toBe('ERR_STORE_CONFLICT');
    expect(err?.status).toBe(409);
    expect(err?.message).toContain(h.file);
    expect(err?.message).toContain('nothing written');
    expect(readFileSync(h.file, 'utf8')).toBe(halfDone);
    expect(h.store.routes()).toBe(before);
    expect(h.changes).toEqual([]);

    // Once the edit is fixed, writes go through on top of it.
    writeFileSync(h.file, routesYaml([{ id: '1', uri: '/aws' }, { id: '2', uri: '/two' }]));
    expect(await h.store.put(route('admin', '/admin'))).toEqual({ created: true });
    expect(ids(parseRoutesDocument(readFileSync(h.file, 'utf8'), h.file))).toEqual(['1', '2', 'admin']);
  });

  it('an invalid edit the poll already refused still refuses the write (it is not dropped by the rewrite)', async () => {
    const h = await startStore(routesYaml([{ id: '1', uri: '/aws' }]));
    await sleep(2 * POLL_INTERVAL_MS);
    writeFileSync(h.file, 'routes:\n  - id: "1"\n    uri: [unclosed\n');
    await waitFor('the refusal log line', () => h.errorLogs().length > 0, RELOAD_DEADLINE_MS);
    const err = await h.store.remove('1').then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe('ERR_STORE_CONFLICT');
    expect(readFileSync(h.file, 'utf8')).toContain('[unclosed');
  });
});

describe('FileRouteStore temp files', () => {
  it('removes at start the temp files (secrets inside) a killed sidecar left, and keeps a live writer\'s and other files', async () => {
    const dir = join(root, `case-${dirCounter++}`);
    mkdirSync(dir);
    const file = join(dir, 'routes.yaml');
    writeFileSync(file, routesYaml([{ id: '1', uri: '/aws' }]));
    // A pid that cannot exist (above Linux's pid_max), ours (a restarted container gets the same
    // pid), and one of a live process (our parent: another sidecar writing right now).
    const deadPid = 2 ** 31 - 2;
    const stale = [`.routes.yaml.${deadPid}.1700000000000.sidecar-tmp`, `.routes.yaml.${process.pid}.1700000000001.sidecar-tmp`, `.routes.yaml.${deadPid}.1700000000002.tmp`];
    const kept = [`.routes.yaml.${process.ppid}.1700000000003.sidecar-tmp`, '.routes.yaml.swp', 'other.yaml', '.other.yaml.1.2.sidecar-tmp'];
    for (const name of [...stale, ...kept]) writeFileSync(join(dir, name), 'routes:\n  - apikey: secret-left-behind\n', { mode: 0o600 });

    const logs: Array<Record<string, unknown>> = [];
    const store = new FileRouteStore(file, pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }), POLL_INTERVAL_MS);
    open.push(store);
    await store.start(() => undefined);

    expect(readdirSync(dir).sort()).toEqual(['routes.yaml', ...kept].sort());
    expect(logs.filter((l) => String(l.msg).includes('removed a temp file')).map((l) => l.file).sort()).toEqual(stale.map((n) => join(dir, n)).sort());
    expect(JSON.stringify(logs)).not.toContain('secret-left-behind');
  });
});

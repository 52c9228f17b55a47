/**
 * `file:<path>`: routes from a YAML/JSON file, re-read when it changes (polled, so editors that
 * replace the file by rename are seen too). A bad edit is refused with a log line and the last good
 * routes keep serving. Admin API writes rewrite the file atomically (temp file + rename); comments
 * in the file are lost on such a write (documented in README). A hand edit the poll has not seen
 * yet is never overwritten: each write first compares the file with what it last read.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync, rmSync, statSync, unwatchFile, watchFile } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import { ConfigError, ERROR_CODES } from '../../errors';
import { DEFAULT_MAX_ROUTES_FILE_BYTES, parseRoutesDocument } from '../routes-file';
import type { RouteConfig } from '../route-schema';
import { RouteBuilder, RouteStore, SerialQueue } from './route-store';

/** How often the file's stat is polled; edits apply within this plus the settle delay. */
export const DEFAULT_POLL_INTERVAL_MS = 250;
/** Wait after a change before reading, so a half-written file is not read mid-write. */
const SETTLE_MS = 50;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The temp file a write renames over the routes file: `.<name>.<pid>.<ms>.sidecar-tmp`. */
function tempFileName(file: string, stamp: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${stamp}.sidecar-tmp`);
}

/** The pid that wrote a temp file of `file`, or undefined when `name` is not one. */
function tempFileWriter(file: string, name: string): number | undefined {
  const prefix = `.${path.basename(file)}.`;
  if (!name.startsWith(prefix)) return undefined;
  // `.tmp`: the suffix earlier builds used; their leftovers are just as stale.
  const m = /^(\d+)\.\d+\.(?:sidecar-)?tmp$/.exec(name.slice(prefix.length));
  return m === null ? undefined : Number(m[1]);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Rewrites in a row that found the file edited between their read and their rename. */
const MAX_WRITE_ATTEMPTS = 3;

/** What a write does to the current routes: the routes to write (undefined: none) and its result. */
type RoutesChange<T> = (routes: readonly RouteConfig[]) => { next: readonly RouteConfig[] | undefined; result: T };

export class FileRouteStore implements RouteStore {
  readonly description: string;
  private current: readonly RouteConfig[] = [];
  /** Hash of the file content the current routes came from (or that we last wrote). */
  private currentHash = '';
  /** Hash of a refused version of the file, so it is reported once, not at every poll. */
  private refusedHash = '';
  private onChange: ((routes: readonly RouteConfig[]) => void) | undefined;
  private readonly writes = new SerialQueue();
  private settleTimer: NodeJS.Timeout | undefined;
  /** Makes temp file names unique within this process (with the pid, across processes). */
  private tempStamp = Date.now();
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly log?: Logger,
    private readonly pollIntervalMs = DEFAULT_POLL_INTERVAL_MS,
    private readonly maxFileBytes = DEFAULT_MAX_ROUTES_FILE_BYTES,
  ) {
    this.description = `file:${file}`;
  }

  async start(onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]> {
    this.removeStaleTempFiles();
    const text = this.read();
    this.current = parseRoutesDocument(text, this.file, this.maxFileBytes);
    this.currentHash = sha256(text);
    this.onChange = onChange;
    watchFile(this.file, { interval: this.pollIntervalMs, persistent: false }, () => this.scheduleReload());
    return this.current;
  }

  routes(): readonly RouteConfig[] {
    return this.current;
  }

  /**
   * A sidecar killed mid-write (kill -9, OOM, power loss) leaves its temp file, which holds the
   * routes' secrets. Removed at start; a temp file of a live process other than us is another
   * sidecar's write in progress and is left alone.
   */
  private removeStaleTempFiles(): void {
    let names: string[];
    try {
      names = readdirSync(path.dirname(this.file));
    } catch {
      return; // the read that follows reports an unreadable file or directory
    }
    for (const name of names) {
      const pid = tempFileWriter(this.file, name);
      if (pid === undefined || (pid !== process.pid && processAlive(pid))) continue;
      const stale = path.join(path.dirname(this.file), name);
      try {
        rmSync(stale, { force: true });
        this.log?.warn({ store: this.description, file: stale }, 'removed a temp file left by an interrupted routes file write');
      } catch (err) {
        this.log?.error({ store: this.description, file: stale }, `cannot remove a temp file left by an interrupted write (it may hold secrets): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }

  private read(): string {
    try {
      return readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read routes file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ERROR_CODES.CONFIG_UNREADABLE);
    }
  }

  private scheduleReload(): void {
    if (this.closed) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      // Writes of our own are applied when made; wait for them so we never read a stale file.
      void this.writes.run(async () => this.reload());
    }, SETTLE_MS);
  }

  private reload(): void {
    if (this.closed) return;
    let text: string;
    try {
      text = this.read();
    } catch (err) {
      this.log?.error({ code: (err as ConfigError).code, store: this.description }, `routes file not reloaded, keeping the last good routes: ${(err as Error).message}`);
      return;
    }
    const hash = sha256(text);
    if (hash === this.currentHash || hash === this.refusedHash) return;
    let routes: readonly RouteConfig[];
    try {
      routes = parseRoutesDocument(text, this.file);
    } catch (err) {
      this.refusedHash = hash;
      this.log?.error({ code: (err as ConfigError).code, store: this.description }, `routes file change refused, keeping the last good routes: ${(err as Error).message}`);
      return;
    }
    this.apply(routes, hash);
  }

  /**
   * Before a write: the file may have been edited by hand since we read it, and the poll may not
   * have seen it yet. A valid edit is applied first (the write then goes on top of it); an invalid
   * one refuses the write, since rewriting the file would silently throw the edit away.
   */
  private syncWithDisk(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot write routes file ${this.file}: reading it first failed with ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ERROR_CODES.STORE_WRITE_FAILED);
    }
    const hash = sha256(text);
    if (hash === this.currentHash) return;
    let routes: readonly RouteConfig[];
    try {
      routes = parseRoutesDocument(text, this.file, this.maxFileBytes);
    } catch (err) {
      throw new ConfigError(
        `routes file ${this.file} was edited since it was last loaded and the edit is not valid, so writing it would lose the edit; ` +
          `nothing written: fix or revert the file, then retry (${(err as Error).message})`,
        ERROR_CODES.STORE_CONFLICT,
      );
    }
    this.log?.info({ store: this.description, routes: routes.length }, 'routes file edited on disk: reloaded before an Admin API write');
    this.apply(routes, hash);
  }

  /** True when the file still holds what the current routes came from. */
  private diskUnchanged(): boolean {
    try {
      return sha256(readFileSync(this.file, 'utf8')) === this.currentHash;
    } catch {
      return false;
    }
  }

  /**
   * One Admin write: sync with the file, compute the change on the routes in force, write it. If
   * the file changes between our read and our rename, the change is computed again on top of it.
   */
  private async rewrite<T>(change: RoutesChange<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.syncWithDisk();
      const { next, result } = change(this.current);
      if (next === undefined || (await this.writeAtomically(next))) return result;
      if (attempt === MAX_WRITE_ATTEMPTS) {
        throw new ConfigError(`routes file ${this.file} kept changing while it was being written (${attempt} attempts); nothing written: retry`, ERROR_CODES.STORE_CONFLICT);
      }
    }
  }

  private apply(routes: readonly RouteConfig[], hash: string): void {
    this.current = routes;
    this.currentHash = hash;
    this.onChange?.(routes);
  }

  /** Writes `routes` unless the file changed since it was read (then false, nothing written). */
  private async writeAtomically(routes: readonly RouteConfig[]): Promise<boolean> {
    // `id` first, so the rewritten file reads like a hand-written one.
    const text = toYaml({ routes: routes.map(({ id, ...rest }) => ({ id, ...rest })) }, { lineWidth: 0 });
    const tmp = tempFileName(this.file, this.tempStamp++);
    try {
      // Private until renamed (it holds secrets), and created here ('wx'), so never an existing
      // file with looser permissions; then the old file's mode, which the umask would otherwise
      // have filtered.
      await fsp.writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
      await fsp.chmod(tmp, statMode(this.file));
      // Last look before replacing it: an edit made since our read would be lost by the rename.
      // (A window of one rename remains: POSIX has no compare-and-rename.)
      if (!this.diskUnchanged()) {
        await fsp.rm(tmp, { force: true });
        return false;
      }
      await fsp.rename(tmp, this.file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw new ConfigError(`cannot write routes file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ERROR_CODES.STORE_WRITE_FAILED);
    }
    this.apply(routes, sha256(text));
    return true;
  }

  update(id: string, build: RouteBuilder): Promise<{ created: boolean; route: RouteConfig }> {
    return this.writes.run(() =>
      this.rewrite((current) => {
        const i = current.findIndex((r) => r.id === id);
        const route = build(i === -1 ? undefined : current[i]);
        const next = [...current];
        if (i === -1) next.push(route);
        else next[i] = route;
        return { next: Object.freeze(next), result: { created: i === -1, route } };
      }),
    );
  }

  /** Creates or replaces `route` (update() with no read). */
  async put(route: RouteConfig): Promise<{ created: boolean }> {
    const { created } = await this.update(route.id, () => route);
    return { created };
  }

  remove(id: string): Promise<boolean> {
    return this.writes.run(() =>
      this.rewrite((current) => {
        const next = current.filter((r) => r.id !== id);
        return next.length === current.length ? { next: undefined, result: false } : { next: Object.freeze(next), result: true };
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.settleTimer);
    unwatchFile(this.file);
  }
}

/** Keep the file's permission bits (it holds secrets: often 0600). */
function statMode(file: string): number {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    return 0o600;
  }
}

/**
 * `file:<path>`: routes from a YAML/JSON file, re-read when it changes (polled, so editors that
 * replace the file by rename are seen too). A bad edit is refused with a log line and the last good
 * routes keep serving. Admin API writes rewrite the file atomically (temp file + rename); comments
 * in the file are lost on such a write (documented in README).
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync, statSync, unwatchFile, watchFile } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import { ConfigError, ERROR_CODES } from '../../errors';
import { DEFAULT_MAX_ROUTES_FILE_BYTES, parseRoutesDocument } from '../routes-file';
import type { RouteConfig } from '../route-schema';
import { RouteStore, SerialQueue } from './route-store';

/** How often the file's stat is polled; edits apply within this plus the settle delay. */
export const DEFAULT_POLL_INTERVAL_MS = 250;
/** Wait after a change before reading, so a half-written file is not read mid-write. */
const SETTLE_MS = 50;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class FileRouteStore implements RouteStore {
  readonly description: string;
  private current: readonly RouteConfig[] = [];
  /** Hash of the file content the current routes came from (or that we last wrote). */
  private currentHash = '';
  private onChange: ((routes: readonly RouteConfig[]) => void) | undefined;
  private readonly writes = new SerialQueue();
  private settleTimer: NodeJS.Timeout | undefined;
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
    if (hash === this.currentHash) return;
    let routes: readonly RouteConfig[];
    try {
      routes = parseRoutesDocument(text, this.file, this.maxFileBytes);
    } catch (err) {
      this.currentHash = hash; // report a bad version once, not at every poll
      this.log?.error({ code: (err as ConfigError).code, store: this.description }, `routes file change refused, keeping the last good routes: ${(err as Error).message}`);
      return;
    }
    this.apply(routes, hash);
  }

  private apply(routes: readonly RouteConfig[], hash: string): void {
    this.current = routes;
    this.currentHash = hash;
    this.onChange?.(routes);
  }

  private async writeAtomically(routes: readonly RouteConfig[]): Promise<void> {
    // `id` first, so the rewritten file reads like a hand-written one.
    const text = toYaml({ routes: routes.map(({ id, ...rest }) => ({ id, ...rest })) }, { lineWidth: 0 });
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.${Date.now()}.tmp`);
    try {
      // Private until renamed (it holds secrets); then the old file's mode, which the umask
      // would otherwise have filtered.
      await fsp.writeFile(tmp, text, { mode: 0o600 });
      await fsp.chmod(tmp, statMode(this.file));
      await fsp.rename(tmp, this.file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw new ConfigError(`cannot write routes file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ERROR_CODES.STORE_WRITE_FAILED);
    }
    this.apply(routes, sha256(text));
  }

  put(route: RouteConfig): Promise<{ created: boolean }> {
    return this.writes.run(async () => {
      const i = this.current.findIndex((r) => r.id === route.id);
      const next = [...this.current];
      if (i === -1) next.push(route);
      else next[i] = route;
      await this.writeAtomically(Object.freeze(next));
      return { created: i === -1 };
    });
  }

  remove(id: string): Promise<boolean> {
    return this.writes.run(async () => {
      const next = this.current.filter((r) => r.id !== id);
      if (next.length === this.current.length) return false;
      await this.writeAtomically(Object.freeze(next));
      return true;
    });
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

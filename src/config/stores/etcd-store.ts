/**
 * `etcd://host:port[,host:port...]/prefix`: routes in etcd v3, one key per route id
 * (`<prefix>/<id>`, value: the route's JSON, as APISIX stores them under /apisix/routes).
 * Every sidecar watches the prefix, so a change made once reaches the whole fleet. While etcd is
 * unreachable the last known routes keep serving; the outage and the recovery are logged once
 * each, and on reconnect the whole prefix is read again.
 */
import { ExponentialBackoff, IBackoff, isBrokenCircuitError, noop } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { ConfigError, ERROR_CODES, sidecarError } from '../../errors';
import type { RouteConfig } from '../route-schema';
import { RouteBuilder, RouteStore, SerialQueue } from './route-store';
import { splitHostPort } from '../network-address';
import { routeFromEtcdValue } from './etcd-value';
import { DEFAULT_ETCD_CALL_TIMEOUT_MS } from './store-spec';

export const DEFAULT_ETCD_PREFIX = '/aws-lambda-sidecar/routes';
/**
 * Bound on each etcd call (reads and Admin API writes), made once: no client retries, so an Admin
 * write is answered within it. A write that timed out had been sent and may still be applied.
 */
export { DEFAULT_ETCD_CALL_TIMEOUT_MS };
const WATCH_BACKOFF = { initialDelay: 100, maxDelay: 2000 };
/** Compare-and-put attempts of one write that find the key changed by another sidecar. */
const MAX_WRITE_ATTEMPTS = 10;
/** Upper bound of the random pause before attempt n + 1 (times n), so contending sidecars drift apart. */
const WRITE_RETRY_JITTER_MS = 10;

export interface EtcdStoreOptions {
  /** Bound on each etcd call; DEFAULT_ETCD_CALL_TIMEOUT_MS when absent. */
  readonly callTimeoutMs?: number;
}

export interface EtcdSpec {
  readonly hosts: readonly string[];
  readonly prefix: string;
}

/** Parses `etcd://h1:2379,h2:2379/prefix`. */
export function parseEtcdSpec(spec: string): EtcdSpec {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(spec);
  if (m === null) throw new ConfigError(`--store: expected etcd://host:port[,host:port...]/prefix, got "${spec}"`, ERROR_CODES.CLI_INVALID);
  const hosts = m[1].split(',').map((h) => h.trim()).filter((h) => h !== '');
  for (const h of hosts) {
    if (splitHostPort(h) === undefined) {
      throw new ConfigError(`--store: etcd endpoint "${h}" is not host:port`, ERROR_CODES.CLI_INVALID);
    }
  }
  const prefix = (m[2] ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
  return { hosts, prefix: prefix === '' ? DEFAULT_ETCD_PREFIX : prefix };
}

interface Held {
  readonly route: RouteConfig;
  readonly json: string;
  readonly createRevision: number;
}

export class EtcdRouteStore implements RouteStore {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly byId = new Map<string, Held>();
  /**
   * The mod revision of every key under the prefix as this node last saw it, valid routes or not:
   * what a write compares against, so it never overwrites a change this node has not seen.
   */
  private readonly modRevisions = new Map<string, number>();
  private ordered: readonly RouteConfig[] = [];
  private watcher: Watcher | undefined;
  private onChange: ((routes: readonly RouteConfig[]) => void) | undefined;
  private readonly writes = new SerialQueue();
  /** True between a 'disconnected' and the next successful resync: we log each transition once. */
  private down = false;
  private closed = false;
  /** Bumped for every watcher created or retired: events of an older watcher are ignored. */
  private watchGeneration = 0;
  /** True while a resync (full read, then a new watcher) is under way or waiting to retry. */
  private resyncing = false;
  private resyncRetry: NodeJS.Timeout | undefined;
  /** The etcd history routes were last read from: a lower revision or another cluster id means it restarted. */
  private history: { revision: number; clusterId: string } | undefined;

  private readonly callTimeoutMs: number;

  constructor(private readonly spec: EtcdSpec, private readonly log?: Logger, opts: EtcdStoreOptions = {}) {
    this.description = `etcd://${spec.hosts.join(',')}${spec.prefix}`;
    const callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_ETCD_CALL_TIMEOUT_MS;
    this.callTimeoutMs = callTimeoutMs;
    this.client = new Etcd3({
      hosts: spec.hosts.map((h) => `http://${h}`),
      dialTimeout: callTimeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      // etcd3 calls .next() on this to get its first delay (as on a cockatiel 3 factory), but its
      // typings still name the cockatiel 2 shape; the default backoff climbs to 30 s, too slow
      // for "a change reaches every node within 1 s" after an outage.
      faultHandling: {
        watchBackoff: new ExponentialBackoff(WATCH_BACKOFF) as unknown as IBackoff<unknown>,
        // etcd3's defaults retry each call 3 times (an Admin write then took 9 s to fail, and
        // each attempt could still apply later) and open a per-host breaker; one attempt keeps
        // the bound and the answer truthful, and the watch and resync do their own retrying.
        global: noop,
        host: () => noop,
      },
    });
  }

  private key(id: string): string {
    return `${this.spec.prefix}/${id}`;
  }

  private idOf(key: string): string | undefined {
    const prefix = `${this.spec.prefix}/`;
    if (!key.startsWith(prefix)) return undefined;
    const id = key.slice(prefix.length);
    return id === '' || id.includes('/') ? undefined : id;
  }

  /** Validates one stored value; invalid ones are logged and skipped, not fatal for the fleet. */
  private decode(kv: IKeyValue): Held | undefined {
    const key = kv.key.toString();
    const id = this.idOf(key);
    if (id === undefined) return undefined;
    const json = kv.value.toString();
    try {
      return { route: routeFromEtcdValue(json, id, key), json, createRevision: Number(kv.create_revision) };
    } catch (err) {
      this.log?.error({ key, store: this.description }, `etcd route ignored: ${(err as Error).message}`);
      return undefined;
    }
  }

  private publish(): void {
    this.ordered = Object.freeze([...this.byId.values()].sort((a, b) => a.createRevision - b.createRevision).map((h) => h.route));
    this.onChange?.(this.ordered);
  }

  /** Reads the whole prefix; returns the revision and cluster it was read at. */
  private async loadAll(): Promise<{ revision: number; clusterId: string }> {
    const res = await this.client.getAll().prefix(`${this.spec.prefix}/`).exec();
    this.byId.clear();
    this.modRevisions.clear();
    for (const kv of res.kvs) this.hold(kv);
    return { revision: Number(res.header.revision), clusterId: String(res.header.cluster_id) };
  }

  /** Watches the prefix from just after `revision`; the watcher replaces any earlier one. */
  private async watchFrom(revision: number): Promise<void> {
    const generation = ++this.watchGeneration;
    const watcher = await this.client.watch().prefix(`${this.spec.prefix}/`).startRevision(String(revision + 1)).create();
    const current = (): boolean => generation === this.watchGeneration && !this.closed;
    if (!current()) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    watcher.on('put', (kv) => current() && this.onPut(kv));
    watcher.on('delete', (kv) => current() && this.onDelete(kv));
    watcher.on('data', (res) => {
      if (current() && this.history !== undefined) this.history = { ...this.history, revision: Math.max(this.history.revision, Number(res.header.revision)) };
    });
    watcher.on('disconnected', () => current() && this.onDisconnected());
    watcher.on('connected', () => current() && this.resync());
    // etcd cancelled the watch (its start revision was compacted away, for one): it sends nothing more.
    watcher.on('error', (err) => {
      if (!current()) return;
      this.log?.warn({ store: this.description, err: err.message }, 'etcd watch cancelled: reading the routes again');
      this.resync();
    });
  }

  /**
   * After a reconnect, or a cancelled watch: read everything again and watch from the revision of
   * that read, with a new watcher. etcd3's watcher resumes from the revision it last saw, which
   * means nothing once etcd's history has restarted (data wiped, or restored from an older
   * snapshot: revisions start again lower, so the old position lies in the future and every new
   * change would be missed) or was compacted past it. The old watcher is retired first, so none
   * of its events can land after the read.
   */
  private resync(): void {
    if (this.closed || this.resyncing) return;
    this.resyncing = true;
    this.watchGeneration++;
    const retired = this.watcher;
    this.watcher = undefined;
    void retired?.cancel().catch(() => undefined);
    const attempt = async (): Promise<void> => {
      // In the write queue, so a write's bookkeeping never interleaves with the read.
      const read = await this.writes.run(() => this.loadAll());
      const before = this.history;
      this.history = read;
      if (before !== undefined && (read.revision < before.revision || read.clusterId !== before.clusterId)) {
        this.log?.warn(
          { store: this.description, revisionBefore: before.revision, revision: read.revision, clusterChanged: read.clusterId !== before.clusterId },
          "etcd's history restarted (data wiped or restored): routes read again, watching from the new revision",
        );
      }
      this.publish();
      await this.watchFrom(read.revision);
    };
    const run = (): void => {
      attempt().then(
        () => {
          this.resyncing = false;
          if (this.down) this.log?.info({ store: this.description, routes: this.byId.size }, 'etcd reachable again: routes resynchronised');
          this.down = false;
        },
        (err: unknown) => {
          if (this.closed) return;
          this.log?.debug({ store: this.description, err: (err as Error).message }, 'etcd resync failed, retrying');
          this.resyncRetry = setTimeout(run, WATCH_BACKOFF.maxDelay);
        },
      );
    };
    run();
  }

  async start(onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]> {
    try {
      this.history = await this.loadAll();
    } catch (err) {
      await this.client.close();
      throw sidecarError(ERROR_CODES.STORE_UNAVAILABLE, `cannot read routes from ${this.description}: ${(err as Error).message}`, err);
    }
    this.ordered = Object.freeze([...this.byId.values()].sort((a, b) => a.createRevision - b.createRevision).map((h) => h.route));
    await this.watchFrom(this.history.revision);
    this.onChange = onChange;
    return this.ordered;
  }

  /** Records a stored key-value; true when the routes in force changed. */
  private hold(kv: IKeyValue): boolean {
    const id = this.idOf(kv.key.toString());
    if (id === undefined) return false;
    this.modRevisions.set(id, Number(kv.mod_revision));
    const held = this.decode(kv);
    if (held === undefined) return this.byId.delete(id);
    if (this.byId.get(id)?.json === held.json) return false; // our own write, already applied
    this.byId.set(id, held);
    return true;
  }

  private forget(id: string): boolean {
    this.modRevisions.delete(id);
    return this.byId.delete(id);
  }

  private onPut(kv: IKeyValue): void {
    if (this.hold(kv)) this.publish();
  }

  private onDelete(kv: IKeyValue): void {
    const id = this.idOf(kv.key.toString());
    if (id !== undefined && this.forget(id)) this.publish();
  }

  connected(): boolean {
    return !this.down && !this.closed;
  }

  private onDisconnected(): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.log?.warn({ store: this.description }, 'etcd unreachable: serving the last known routes, retrying');
  }

  routes(): readonly RouteConfig[] {
    return this.ordered;
  }

  update(id: string, build: RouteBuilder): Promise<{ created: boolean; route: RouteConfig }> {
    return this.writes.run(async () => {
      const key = this.key(id);
      for (let attempt = 1; ; attempt++) {
        const seen = this.modRevisions.get(id);
        const before = this.byId.get(id);
        const route = build(before?.route);
        const json = JSON.stringify(route);
        let txn;
        try {
          // Compare-and-put: applied only if the key is still as this node last saw it, so a
          // read-modify-write never overwrites what another sidecar wrote meanwhile.
          const guard = seen === undefined ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Mod', '==', seen);
          txn = await guard.then(this.client.put(key).value(json)).commit();
        } catch (err) {
          throw this.writeError('write', id, err);
        }
        if (txn.succeeded) {
          const revision = Number(txn.header.revision);
          this.modRevisions.set(id, revision);
          // The key's create revision, exactly as the other nodes see it in their watch event, so
          // every node orders routes the same way.
          const createRevision = seen === undefined ? revision : (before?.createRevision ?? (await this.createRevisionOf(key, revision)));
          this.byId.set(id, { route, json, createRevision });
          this.publish();
          return { created: seen === undefined, route };
        }
        if (attempt === MAX_WRITE_ATTEMPTS) {
          throw sidecarError(ERROR_CODES.STORE_CONFLICT, `route "${id}" kept changing in ${this.description} while it was being written (${attempt} attempts); nothing written: retry`);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * WRITE_RETRY_JITTER_MS * attempt));
        await this.reread(id);
      }
    });
  }

  /** Another sidecar changed the key since this node saw it: read it now (the watch may lag). */
  private async reread(id: string): Promise<void> {
    let res;
    try {
      res = await this.client.get(this.key(id)).exec();
    } catch (err) {
      throw sidecarError(ERROR_CODES.STORE_WRITE_FAILED, `cannot write route "${id}" to ${this.description}, nothing applied: it changed meanwhile and reading it again failed: ${(err as Error).message}`, err);
    }
    const kv = res.kvs[0];
    if (kv === undefined ? this.forget(id) : this.hold(kv)) this.publish();
  }

  /** The create revision of a key this node holds no valid route for (it held an invalid value). */
  private async createRevisionOf(key: string, fallback: number): Promise<number> {
    const kv = (await this.client.get(key).exec().catch(() => undefined))?.kvs[0];
    return kv === undefined ? fallback : Number(kv.create_revision);
  }

  remove(id: string): Promise<boolean> {
    return this.writes.run(async () => {
      let deleted: number;
      try {
        deleted = Number((await this.client.delete().key(this.key(id)).exec()).deleted);
      } catch (err) {
        throw this.writeError('delete', id, err);
      }
      if (this.forget(id)) this.publish();
      return deleted > 0;
    });
  }

  /**
   * Says what a failed write did. Only a call that never left this process (no connection to
   * etcd) certainly did nothing; a call that was sent and not answered in time (etcd paused,
   * overloaded, or the connection cut mid-call) may be applied whenever etcd reads it, and then
   * reaches every node, this one included, through the watch.
   */
  private writeError(action: 'write' | 'delete', id: string, err: unknown): Error {
    const message = (err as Error).message;
    // grpc-js's wording for a call that never got a transport: refused at once ("No connection
    // established") or timed out before a connection was ready ("Waiting for LB pick").
    const notSent =
      isBrokenCircuitError(err) ||
      (err instanceof GRPCUnavailableError && message.includes('No connection established')) ||
      (err instanceof GRPCDeadlineExceededError && message.includes('Waiting for LB pick'));
    if (notSent || !(err instanceof GRPCDeadlineExceededError || err instanceof GRPCUnavailableError)) {
      const where = action === 'write' ? 'to' : 'from';
      return sidecarError(ERROR_CODES.STORE_WRITE_FAILED, `cannot ${action} route "${id}" ${where} ${this.description}, nothing applied: ${message}`, err);
    }
    const reason = err instanceof GRPCDeadlineExceededError ? `no answer within ${this.callTimeoutMs} ms` : message;
    return sidecarError(
      ERROR_CODES.STORE_WRITE_UNCERTAIN,
      `etcd did not confirm the ${action} of route "${id}" (${this.description}: ${reason}): ` +
        'the request was sent and may still be applied; read the route back to see the outcome',
      err,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resyncRetry);
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}

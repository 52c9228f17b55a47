/**
 * `etcd://host:port[,host:port...]/prefix`: routes in etcd v3, one key per route id
 * (`<prefix>/<id>`, value: the route's JSON, as APISIX stores them under /apisix/routes).
 * Every sidecar watches the prefix, so a change made once reaches the whole fleet. While etcd is
 * unreachable the last known routes keep serving; the outage and the recovery are logged once
 * each, and on reconnect the whole prefix is read again.
 */
import { ExponentialBackoff, IBackoff } from 'cockatiel';
import { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { ConfigError, ERROR_CODES, sidecarError } from '../../errors';
import { RouteConfig, validateRoute } from '../route-schema';
import { RouteBuilder, RouteStore, SerialQueue } from './route-store';

export const DEFAULT_ETCD_PREFIX = '/aws-lambda-sidecar/routes';
/** Bound on each etcd call (reads and Admin API writes); a write past it is reported as failed. */
export const ETCD_CALL_TIMEOUT_MS = 3000;
const WATCH_BACKOFF = { initialDelay: 100, maxDelay: 2000 };

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
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(h)) {
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
  private ordered: readonly RouteConfig[] = [];
  private watcher: Watcher | undefined;
  private onChange: ((routes: readonly RouteConfig[]) => void) | undefined;
  private readonly writes = new SerialQueue();
  /** True between a 'disconnected' and the next successful resync: we log each transition once. */
  private down = false;
  private closed = false;

  constructor(private readonly spec: EtcdSpec, private readonly log?: Logger) {
    this.description = `etcd://${spec.hosts.join(',')}${spec.prefix}`;
    this.client = new Etcd3({
      hosts: spec.hosts.map((h) => `http://${h}`),
      dialTimeout: ETCD_CALL_TIMEOUT_MS,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
      // etcd3 calls .next() on this to get its first delay (as on a cockatiel 3 factory), but its
      // typings still name the cockatiel 2 shape; the default backoff climbs to 30 s, too slow
      // for "a change reaches every node within 1 s" after an outage.
      faultHandling: { watchBackoff: new ExponentialBackoff(WATCH_BACKOFF) as unknown as IBackoff<unknown> },
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
      const raw: unknown = JSON.parse(json);
      const obj = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { id, ...(raw as object) } : raw;
      const route = validateRoute(obj, id);
      if (route.id !== id) throw new ConfigError(`route "${id}": id: does not match its etcd key ${key}`);
      return { route, json, createRevision: Number(kv.create_revision) };
    } catch (err) {
      this.log?.error({ key, store: this.description }, `etcd route ignored: ${(err as Error).message}`);
      return undefined;
    }
  }

  private publish(): void {
    this.ordered = Object.freeze([...this.byId.values()].sort((a, b) => a.createRevision - b.createRevision).map((h) => h.route));
    this.onChange?.(this.ordered);
  }

  /** Reads the whole prefix; returns the revision it was read at. */
  private async loadAll(): Promise<number> {
    const res = await this.client.getAll().prefix(`${this.spec.prefix}/`).exec();
    this.byId.clear();
    for (const kv of res.kvs) {
      const held = this.decode(kv);
      if (held !== undefined) this.byId.set(held.route.id, held);
    }
    return Number(res.header.revision);
  }

  async start(onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]> {
    let revision: number;
    try {
      revision = await this.loadAll();
    } catch (err) {
      await this.client.close();
      throw sidecarError(ERROR_CODES.STORE_UNAVAILABLE, `cannot read routes from ${this.description}: ${(err as Error).message}`, err);
    }
    this.ordered = Object.freeze([...this.byId.values()].sort((a, b) => a.createRevision - b.createRevision).map((h) => h.route));
    this.watcher = await this.client.watch().prefix(`${this.spec.prefix}/`).startRevision(String(revision + 1)).create();
    this.watcher.on('put', (kv) => this.onPut(kv));
    this.watcher.on('delete', (kv) => this.onDelete(kv));
    this.watcher.on('disconnected', () => this.onDisconnected());
    this.watcher.on('connected', () => this.onConnected());
    this.watcher.on('error', (err) => this.log?.warn({ store: this.description, err: err.message }, 'etcd watch error'));
    this.onChange = onChange;
    return this.ordered;
  }

  private onPut(kv: IKeyValue): void {
    const held = this.decode(kv);
    if (held === undefined) return;
    if (this.byId.get(held.route.id)?.json === held.json) return; // our own write, already applied
    this.byId.set(held.route.id, held);
    this.publish();
  }

  private onDelete(kv: IKeyValue): void {
    const id = this.idOf(kv.key.toString());
    if (id !== undefined && this.byId.delete(id)) this.publish();
  }

  private onDisconnected(): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.log?.warn({ store: this.description }, 'etcd unreachable: serving the last known routes, retrying');
  }

  private onConnected(): void {
    if (!this.down || this.closed) return;
    // Changes may have been made (or compacted away) meanwhile: read everything again.
    void this.loadAll().then(
      () => {
        this.down = false;
        this.log?.info({ store: this.description, routes: this.byId.size }, 'etcd reachable again: routes resynchronised');
        this.publish();
      },
      (err: unknown) => this.log?.warn({ store: this.description, err: (err as Error).message }, 'etcd resync failed, will retry on the next reconnect'),
    );
  }

  routes(): readonly RouteConfig[] {
    return this.ordered;
  }

  update(id: string, build: RouteBuilder): Promise<{ created: boolean; route: RouteConfig }> {
    return this.writes.run(async () => {
      const route = build(this.byId.get(id)?.route);
      const json = JSON.stringify(route);
      let prev;
      try {
        prev = await this.client.put(this.key(route.id)).value(json).getPrevious();
      } catch (err) {
        throw sidecarError(ERROR_CODES.STORE_WRITE_FAILED, `cannot write route "${route.id}" to ${this.description}: ${(err as Error).message}`, err);
      }
      // getPrevious() resolves to {...prev_kv, header} even when there was no previous value.
      const created = prev.key === undefined;
      // The key's create revision, exactly as the other nodes see it in their watch event, so every
      // node orders routes the same way.
      const createRevision = Number(created ? prev.header.revision : prev.create_revision);
      this.byId.set(route.id, { route, json, createRevision });
      this.publish();
      return { created, route };
    });
  }

  remove(id: string): Promise<boolean> {
    return this.writes.run(async () => {
      let deleted: number;
      try {
        deleted = Number((await this.client.delete().key(this.key(id)).exec()).deleted);
      } catch (err) {
        throw sidecarError(ERROR_CODES.STORE_WRITE_FAILED, `cannot delete route "${id}" from ${this.description}: ${(err as Error).message}`, err);
      }
      if (this.byId.delete(id)) this.publish();
      return deleted > 0;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}

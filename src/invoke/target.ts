/**
 * A route's invoke target, built once when routes load, never per request: parsed URL, Host header,
 * credentials, limits, and a pooled undici dispatcher. Pools are shared between routes with the same
 * origin and connection settings, and survive route reloads that keep them (reference counted).
 */
import { Pool } from 'undici';
import type { LambdaPluginConfig, RouteConfig } from '../config/route-schema';
import type { SigV4Credentials, SigV4Scope } from '../aws/sigv4';
import { RouteValidationError } from '../config/route-schema';
import { ConnectionGate } from './connection-gate';
import { refusalSafeClient } from './refusal-safe-client';

/** Largest function answer we relay; API Gateway's own limit is 10 MB, Lambda's 6 MB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface LambdaTarget {
  readonly routeId: string;
  readonly origin: string;
  /** Percent-encoded path of function_uri ('/' when empty). */
  readonly basePath: string;
  /** Host header for the function (function_uri's host, with a non-default port). */
  readonly hostHeader: string;
  readonly apiKey: string | undefined;
  readonly iam: { readonly scope: SigV4Scope; readonly credentials: SigV4Credentials } | undefined;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly keepalive: boolean;
  /** Largest answer relayed (the pool's maxResponseSize). */
  readonly maxResponseBytes: number;
  readonly dispatcher: Pool;
  /** Shared with every target of the same pool: admits at most keepalive_pool requests into it. */
  readonly gate: ConnectionGate;
}

interface PoolEntry {
  readonly pool: Pool;
  readonly gate: ConnectionGate;
  refs: number;
}

function poolKey(origin: string, c: LambdaPluginConfig): string {
  return [origin, c.ssl_verify, c.keepalive, c.keepalive_pool, c.keepalive_timeout, c.timeout].join('|');
}

/** Owns the undici pools; `acquire` at route load, `release` when a route table is retired. */
export class DispatcherRegistry {
  private readonly pools = new Map<string, PoolEntry>();

  constructor(readonly maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES) {}

  acquire(origin: string, c: LambdaPluginConfig): { readonly pool: Pool; readonly gate: ConnectionGate } {
    const key = poolKey(origin, c);
    let entry = this.pools.get(key);
    if (entry === undefined) {
      const pool = new Pool(origin, {
        // keepalive_pool: the most connections kept open to this endpoint.
        connections: c.keepalive_pool,
        keepAliveTimeout: c.keepalive_timeout,
        keepAliveMaxTimeout: Math.max(c.keepalive_timeout, 1000),
        // APISIX's `timeout` applies to each socket operation (connect, send, read): so do we.
        headersTimeout: c.timeout,
        bodyTimeout: c.timeout,
        connectTimeout: c.timeout,
        maxResponseSize: this.maxResponseBytes,
        connect: { rejectUnauthorized: c.ssl_verify },
        factory: refusalSafeClient,
      });
      entry = { pool, gate: new ConnectionGate(c.keepalive_pool), refs: 0 };
      this.pools.set(key, entry);
    }
    entry.refs++;
    return entry;
  }

  /** Drops one reference; the pool closes (after its in-flight requests) when none remain. */
  release(pool: Pool): void {
    for (const [key, entry] of this.pools) {
      if (entry.pool !== pool) continue;
      if (--entry.refs === 0) {
        this.pools.delete(key);
        pool.close().catch(() => undefined);
      }
      return;
    }
  }

  get size(): number {
    return this.pools.size;
  }

  /** Each pool's origin and undici stats, read at metrics scrape time. */
  *poolStates(): IterableIterator<{ origin: string; connected: number; pending: number; queued: number; running: number }> {
    for (const [key, { pool }] of this.pools) {
      const { connected, pending, queued, running } = pool.stats;
      yield { origin: key.slice(0, key.indexOf('|')), connected, pending, queued, running };
    }
  }

  async closeAll(): Promise<void> {
    const pools = [...this.pools.values()].map((e) => e.pool);
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }
}

/** What an HTTP/1.1 header value may hold (RFC 9110 field-value; undici refuses anything else). */
const INVALID_HEADER_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Config values we put into request headers (x-api-key, x-amz-security-token, and the access key
 * inside Authorization; the schema's patterns already hold region and service) must be valid header values, or every request of the
 * route would be refused: check them once, here, naming the route and field (never the value).
 */
function checkHeaderValues(route: RouteConfig, c: LambdaPluginConfig): void {
  const iam = c.authorization?.iam;
  const fields: Array<[field: string, value: string | undefined]> = [
    ['authorization.apikey', c.authorization?.apikey],
    ['authorization.iam.accesskey', iam?.accesskey],
    ['authorization.iam.session_token', iam?.session_token],
  ];
  for (const [field, value] of fields) {
    if (value !== undefined && INVALID_HEADER_VALUE_CHAR.test(value)) {
      throw new RouteValidationError([{ route: `route "${route.id}"`, field: `plugins.aws-lambda.${field}`, reason: 'contains a control character (a trailing newline?); it is sent in a header, so remove it' }]);
    }
  }
}

/** Builds the target of a route with an enabled aws-lambda plugin; null for pass-through routes. */
export function createTarget(route: RouteConfig, registry: DispatcherRegistry): LambdaTarget | null {
  const c = route.plugins['aws-lambda'];
  if (c === undefined || c._meta?.disable === true) return null;
  checkHeaderValues(route, c);
  const url = new URL(c.function_uri);
  const iam = c.authorization?.iam;
  const { pool, gate } = registry.acquire(url.origin, c);
  return Object.freeze({
    routeId: route.id,
    origin: url.origin,
    basePath: url.pathname === '' ? '/' : url.pathname,
    hostHeader: url.host,
    apiKey: c.authorization?.apikey,
    iam: iam === undefined ? undefined : {
      scope: { region: iam.aws_region, service: iam.service },
      credentials: { accessKeyId: iam.accesskey, secretAccessKey: iam.secret_key, sessionToken: iam.session_token },
    },
    timeoutMs: c.timeout,
    maxBodyBytes: c.max_req_body_size,
    keepalive: c.keepalive,
    maxResponseBytes: registry.maxResponseBytes,
    dispatcher: pool,
    gate,
  });
}

/**
 * A route's invoke target, built once when routes load, never per request: parsed URL, Host header,
 * credentials, limits, and a pooled undici dispatcher. Pools are shared between routes with the same
 * origin and connection settings, and survive route reloads that keep them (reference counted).
 */
import type { Logger } from 'pino';
import { Pool } from 'undici';
import type { LambdaPluginConfig, RouteConfig } from '../config/route-schema';
import type { CredentialLease, CredentialRegistry } from '../aws/credential-registry';
import type { CredentialSource } from '../aws/credential-source';
import { resolveIamCredentials } from '../aws/iam-credential-spec';
import type { SigV4Scope } from '../aws/sigv4';
import { RouteValidationError } from '../config/route-schema';
import { ERROR_CODES, type SidecarError, sidecarError } from '../errors';
import { ConnectionGate } from './connection-gate';
import { invoke, type InvokeBounds } from './invoke';
import { createLambdaInvokeTarget } from './lambda/lambda-invoke-target';
import type { ClientRequest, LambdaResponse } from './client-request';
import { refusalSafeClient } from './refusal-safe-client';
import type { RouteTarget } from './route-target';

/** Largest function answer we relay; API Gateway's own limit is 10 MB, Lambda's 6 MB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** The HTTP target (API Gateway, function URL, any URL): `invoke.ts` sends the request on. */
export interface LambdaTarget {
  readonly kind: 'http';
  readonly routeId: string;
  readonly origin: string;
  /** Percent-encoded path of function_uri ('/' when empty). */
  readonly basePath: string;
  /** Host header for the function (function_uri's host, with a non-default port). */
  readonly hostHeader: string;
  readonly apiKey: string | undefined;
  /** The signing scope and the route's lease on its shared credential source (released with the route table). */
  readonly iam: { readonly scope: SigV4Scope; readonly source: CredentialSource; readonly lease: CredentialLease } | undefined;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly keepalive: boolean;
  /** Largest answer relayed (the pool's maxResponseSize). */
  readonly maxResponseBytes: number;
  readonly dispatcher: Pool;
  /** Shared with every target of the same pool: admits at most keepalive_pool requests into it. */
  readonly gate: ConnectionGate;
  invoke(req: ClientRequest, rest: string | undefined, signal?: AbortSignal, bounds?: InvokeBounds): Promise<LambdaResponse>;
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

/**
 * The one `max_req_body_size` check. `bytes`: what the request says or holds (a declared
 * content-length lets a front refuse before it reads or buffers a body); undefined passes.
 */
export function bodySizeError(target: Pick<LambdaTarget, 'maxBodyBytes'>, bytes: number | undefined): SidecarError | undefined {
  return bytes !== undefined && bytes > target.maxBodyBytes
    ? sidecarError(ERROR_CODES.BODY_TOO_LARGE, `request body exceeds max_req_body_size (${target.maxBodyBytes} bytes)`)
    : undefined;
}

/** The connection settings and pool every target kind has, taken from the registry (release `dispatcher`). */
export function acquirePooled(registry: DispatcherRegistry, origin: string, c: LambdaPluginConfig): Pick<LambdaTarget, 'timeoutMs' | 'maxBodyBytes' | 'keepalive' | 'maxResponseBytes' | 'dispatcher' | 'gate'> {
  const { pool, gate } = registry.acquire(origin, c);
  return { timeoutMs: c.timeout, maxBodyBytes: c.max_req_body_size, keepalive: c.keepalive, maxResponseBytes: registry.maxResponseBytes, dispatcher: pool, gate };
}

/**
 * Builds the target of a route with an enabled aws-lambda plugin; null for pass-through routes.
 * `function_name` makes a Lambda Invoke target, `function_uri` an HTTP one (the schema wants one).
 */
export function createTarget(route: RouteConfig, registry: DispatcherRegistry, credentials: CredentialRegistry, log?: Logger): RouteTarget | null {
  const c = route.plugins['aws-lambda'];
  if (c === undefined || c._meta?.disable === true) return null;
  checkHeaderValues(route, c);
  if (c.function_name !== undefined) return createLambdaInvokeTarget(route, c, registry, credentials, log);
  const url = new URL(c.function_uri as string);
  const iam = c.authorization?.iam;
  // Everything that can refuse the route comes before the pool is taken.
  const signing = iam === undefined ? undefined : resolveIamCredentials(route.id, iam);
  return Object.freeze({
    kind: 'http',
    routeId: route.id,
    origin: url.origin,
    basePath: url.pathname === '' ? '/' : url.pathname,
    hostHeader: url.host,
    apiKey: c.authorization?.apikey,
    iam: iam === undefined || signing === undefined ? undefined : leaseFor(signing.region, iam.service, credentials.acquire(signing.spec, route.id)),
    ...acquirePooled(registry, url.origin, c),
    invoke(this: LambdaTarget, req: ClientRequest, rest: string | undefined, signal?: AbortSignal, bounds?: InvokeBounds): Promise<LambdaResponse> {
      return invoke(this, rest, req, signal, bounds);
    },
  });
}

function leaseFor(region: string, service: string, lease: CredentialLease): NonNullable<LambdaTarget['iam']> {
  return Object.freeze({ scope: Object.freeze({ region, service }), source: lease.source, lease });
}

/** Gives back what `createTarget` took: the pool and the credential lease (either kind). */
export function releaseTarget(target: RouteTarget, registry: DispatcherRegistry): void {
  registry.release(target.dispatcher);
  target.iam?.lease.release();
}

/**
 * Wiring: a route store feeds a live route table (targets and pools built at load); the fronts
 * (ext_proc + health on the gRPC listener, the HTTP front) call the pipeline. `close()` drains.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { RouteConfig } from './config/route-schema';
import type { RouteStore } from './config/stores/route-store';
import { formatAddress, parseListenAddress } from './config/network-address';
import { ConfigError, ERROR_CODES, SidecarError } from './errors';
import { extAuthzHandlers } from './fronts/ext-authz/ext-authz-service';
import { createAdminApi } from './fronts/admin/admin-api';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, extProcHandlers } from './fronts/ext-proc/ext-proc-service';
import { DEFAULT_MAX_GRPC_CALLS, GrpcCallLimit } from './fronts/grpc-call-limit';
import { loadGrpcDefinitions } from './fronts/grpc-definitions';
import { createGrpcListener, DEFAULT_GRPC_SERVER, type GrpcListener, type GrpcServerName } from './fronts/grpc/grpc-listener';
import { healthHandlers, HealthState } from './fronts/health';
import { createHttpFront, DEFAULT_TRUSTED_PROXIES, HttpFront } from './fronts/http/http-front';
import { RequestPipeline, TargetTable } from './request-pipeline';
import { CredentialRegistry } from './aws/credential-registry';
import type { CredentialTimings } from './aws/credential-source';
import type { RouteTarget } from './invoke/route-target';
import { createTarget, DispatcherRegistry, releaseTarget } from './invoke/target';
import type { AccessLog } from './observability/access-log';
import { SidecarMetrics } from './observability/metrics';
import { combineObservers, type RequestObserver } from './observability/request-observer';
import { LiveRoutes } from './routing/live-routes';
import { RouteTable } from './routing/route-table';

export const DEFAULT_GRPC_LISTEN = '127.0.0.1:50051';
export const DEFAULT_HTTP_LISTEN = '127.0.0.1:8080';
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Metrics cost a few counter updates per request (README "Observability"): on unless turned off. */
export const DEFAULT_METRICS = true;
/**
 * After the drain timeout cut the requests still in flight: how long their 503s get to reach the
 * proxies (the connections then close gracefully, or are closed).
 */
export const DRAIN_ANSWER_GRACE_MS = 500;
/**
 * Most routes in force. Measured with the CLI's 256 MB heap: a loaded route costs about 1.7 KB
 * (validated object, table entry, invoke target; README "Limits"), so 10,000 routes hold about
 * 17 MB and a reload, which holds the old and the new table at once, stays well inside the heap.
 */
export const DEFAULT_MAX_ROUTES = 10_000;
/** Above the largest body Envoy may buffer (max_req_body_size defaults to 64 MiB) plus framing. */
export const DEFAULT_MAX_GRPC_MESSAGE_BYTES = 80 * 1024 * 1024;


export interface SidecarOptions {
  readonly store: RouteStore;
  /** `host:port` or `[v6]:port`; undefined disables the listener. */
  readonly grpcListen: string | undefined;
  readonly httpListen: string | undefined;
  readonly adminListen?: string;
  readonly adminKey?: string;
  readonly trustedProxies?: readonly string[];
  readonly drainTimeoutMs?: number;
  /** Routes refused above this count: at start (ERR_CONFIG_INVALID), on a reload (kept the last good ones). */
  readonly maxRoutes?: number;
  readonly maxGrpcMessageBytes?: number;
  /** Which server runs the gRPC listener (default DEFAULT_GRPC_SERVER; fronts/grpc/grpc-listener.ts). */
  readonly grpcServer?: GrpcServerName;
  /** Requests in flight at once, all fronts together; above it 503 ERR_OVERLOADED (default DEFAULT_MAX_INFLIGHT_REQUESTS). */
  readonly maxInflightRequests?: number;
  /** Function-answer bytes buffered at once, across requests; above it 503 ERR_RESPONSE_BUDGET (default DEFAULT_MAX_BUFFERED_RESPONSE_BYTES). */
  readonly maxBufferedResponseBytes?: number;
  /** How long an ext_proc stream may wait for Envoy's next message (DEFAULT_STREAM_IDLE_TIMEOUT_MS). */
  readonly streamIdleTimeoutMs?: number;
  /** Open ext_proc streams plus ext_authz calls in flight, at most (DEFAULT_MAX_GRPC_CALLS). */
  readonly maxGrpcCalls?: number;
  /** HTTP front: how long a client may pause while sending a request (DEFAULT_REQUEST_IDLE_TIMEOUT_MS). */
  readonly requestIdleTimeoutMs?: number;
  /** Credential refresh, retry and fetch-timeout bounds; the DEFAULT_* of aws/credential-source.ts when absent. */
  readonly credentialTimings?: Partial<CredentialTimings>;
  /** Prometheus metrics on the HTTP listener's /metrics (default true, DEFAULT_METRICS). */
  readonly metrics?: boolean;
  /** One JSON line per request (--access-log); undefined: off. */
  readonly accessLog?: AccessLog;
  /** Spans (src/observability/tracing.ts); undefined: off. */
  readonly tracer?: RequestObserver;

  readonly logger: Logger;
}

export interface RunningSidecar {
  readonly grpcAddress: string | undefined;
  readonly httpAddress: string | undefined;
  readonly adminAddress: string | undefined;
  readonly routes: TargetTable;
  /** Stops accepting, lets in-flight requests finish (bounded by drainTimeoutMs), closes pools. */
  close(): Promise<void>;
}

export { parseListenAddress } from './config/network-address';

/** Builds every route's target; if one is refused, gives back what the others took and throws. */
function buildTable(routes: readonly RouteConfig[], registry: DispatcherRegistry, credentials: CredentialRegistry, log?: Logger): RouteTable<RouteTarget | null> {
  const built: RouteTarget[] = [];
  try {
    return new RouteTable(routes, (route) => {
      const target = createTarget(route, registry, credentials, log);
      if (target !== null) built.push(target);
      return target;
    });
  } catch (err) {
    for (const target of built) releaseTarget(target, registry);
    throw err;
  }
}

function releaseTable(table: RouteTable<RouteTarget | null>, registry: DispatcherRegistry): void {
  for (const entry of table.entries()) if (entry.payload !== null) releaseTarget(entry.payload, registry);
}

function listenHttp(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting; resolves once every connection has closed (in-flight requests answered). */
function closeHttp(server: http.Server | undefined): Promise<void> {
  if (server === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Resolves after `ms`, or never when `ms` is Infinity; `clear` frees the timer. */
function timeout(ms: number): { readonly passed: Promise<true>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  return { passed, clear: () => clearTimeout(timer) };
}

/** Resolves with true when `p` settles within `ms`, false otherwise. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  const t = timeout(ms);
  try {
    return await Promise.race([p.then(() => true, () => true), t.passed.then(() => false)]);
  } finally {
    t.clear();
  }
}

export async function startSidecar(opts: SidecarOptions): Promise<RunningSidecar> {
  const log = opts.logger;
  const registry = new DispatcherRegistry();
  const credentials = new CredentialRegistry({ logger: log, timings: opts.credentialTimings });
  let live: TargetTable | undefined;
  let routesAppliedAtMs = Date.now();
  const maxRoutes = opts.maxRoutes ?? DEFAULT_MAX_ROUTES;
  const overLimit = (count: number): string | undefined =>
    count > maxRoutes ? `${count} routes is above the limit of ${maxRoutes} (--max-routes)` : undefined;
  const initial = await opts.store.start((routes) => {
    if (live === undefined) return; // stores report changes only after start resolves
    const refusal = overLimit(routes.length);
    if (refusal !== undefined) {
      log.error({ code: ERROR_CODES.CONFIG_INVALID, routes: routes.length, maxRoutes, store: opts.store.description }, `routes change refused, keeping the last good routes: ${refusal}`);
      return;
    }
    let table: RouteTable<RouteTarget | null>;
    try {
      table = buildTable(routes, registry, credentials, log);
    } catch (err) {
      log.error({ code: (err as SidecarError).code, store: opts.store.description }, `routes update refused, keeping the last good routes: ${(err as Error).message}`);
      return;
    }
    live.replace(table);
    routesAppliedAtMs = Date.now();
    log.info({ routes: routes.length, store: opts.store.description, version: live.version }, 'routes updated');
  });
  const refusal = overLimit(initial.length);
  if (refusal !== undefined) {
    await opts.store.close();
    throw new ConfigError(`${opts.store.description}: ${refusal}`);
  }
  live = new LiveRoutes(buildTable(initial, registry, credentials, log), (old) => releaseTable(old, registry));
  routesAppliedAtMs = Date.now();
  log.info({ routes: initial.length, store: opts.store.description }, 'routes loaded');
  const routesInForce = live;
  const store = opts.store;
  const metrics = (opts.metrics ?? DEFAULT_METRICS) ? new SidecarMetrics({
    inflightRequests: () => pipeline.inflightRequests,
    pools: () => registry.poolStates(),
    routesLoaded: () => {
      const lease = routesInForce.lease();
      lease.release();
      return lease.table.size;
    },
    lastReloadUnixS: () => routesAppliedAtMs / 1000,
    storeConnected: store.connected === undefined ? undefined : () => store.connected?.() === true,
    accessLogDropped: opts.accessLog === undefined ? undefined : () => opts.accessLog?.droppedLines ?? 0,
    credentialFetches: () => credentials.fetchCounts(),
  }) : undefined;
  const pipeline: RequestPipeline = new RequestPipeline(live, {
    observer: combineObservers([metrics, opts.tracer, opts.accessLog]),
    logger: log,
    maxInflightRequests: opts.maxInflightRequests,
    maxBufferedResponseBytes: opts.maxBufferedResponseBytes,
  });
  const routes: TargetTable = live;
  const health = new HealthState();

  /** What start-up took beyond the listeners: the store, the pools, the credential sources. */
  const releaseAll = async (): Promise<void> => {
    await opts.store.close();
    await registry.closeAll();
    credentials.close();
  };
  let grpcServer: GrpcListener | undefined;
  let grpcAddress: string | undefined;
  let httpFront: HttpFront | undefined;
  let httpAddress: string | undefined;
  let adminServer: http.Server | undefined;
  let adminAddress: string | undefined;
  try {
    if (opts.grpcListen !== undefined) {
      const { host, port } = parseListenAddress(opts.grpcListen, '--grpc-listen');
      grpcServer = createGrpcListener(opts.grpcServer ?? DEFAULT_GRPC_SERVER, { maxMessageBytes: opts.maxGrpcMessageBytes ?? DEFAULT_MAX_GRPC_MESSAGE_BYTES, log });
      const defs = loadGrpcDefinitions();
      const limit = new GrpcCallLimit(opts.maxGrpcCalls ?? DEFAULT_MAX_GRPC_CALLS);
      grpcServer.addService(defs.externalProcessor, extProcHandlers(pipeline, log, { idleTimeoutMs: opts.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS, limit }));
      grpcServer.addService(defs.authorization, extAuthzHandlers(pipeline, log, limit));
      grpcServer.addService(defs.health, healthHandlers(health));
      const bound = await grpcServer.bind(host, port);
      grpcAddress = formatAddress(host, bound);
    }
    if (opts.httpListen !== undefined) {
      const { host, port } = parseListenAddress(opts.httpListen, '--http-listen');
      httpFront = createHttpFront(pipeline, log, {
        trustedProxies: opts.trustedProxies ?? DEFAULT_TRUSTED_PROXIES,
        isReady: () => health.isServing,
        requestIdleTimeoutMs: opts.requestIdleTimeoutMs,
        metrics,
      });
      httpAddress = formatAddress(host, await listenHttp(httpFront.server, host, port));
    }
    if (opts.adminListen !== undefined) {
      const { host, port } = parseListenAddress(opts.adminListen, '--admin-listen');
      adminServer = createAdminApi(opts.store, log, { adminKey: opts.adminKey });
      adminAddress = formatAddress(host, await listenHttp(adminServer, host, port));
    }
  } catch (err) {
    grpcServer?.forceShutdown();
    httpFront?.server.close();
    adminServer?.close();
    await releaseAll();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      health.setServing(false);
      const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      log.info({ drainTimeoutMs }, 'draining');
      const server = grpcServer;
      const grpcDone = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      // The HTTP front keeps answering /healthz (503) until its in-flight requests end; its own
      // bound lies past the cut below, so the requests it holds get their 503 first.
      const httpDone = httpFront === undefined ? Promise.resolve() : httpFront.drain(drainTimeoutMs + DRAIN_ANSWER_GRACE_MS);
      const allClosed = Promise.all([grpcDone, httpDone, closeHttp(adminServer)]);
      if (!(await settlesWithin(allClosed, drainTimeoutMs))) {
        // Upstream calls must not hold the exit past the drain timeout: cut them, so every client
        // still waiting gets a 503 ERR_DRAINING from its front (which logs it), then close.
        log.warn({ drainTimeoutMs, inflightRequests: pipeline.inflightRequests }, 'drain timeout: answering the requests still in flight with ERR_DRAINING');
        pipeline.cutInflight();
        await settlesWithin(pipeline.settled().then(() => allClosed), DRAIN_ANSWER_GRACE_MS);
        server?.forceShutdown();
        httpFront?.server.closeAllConnections();
        adminServer?.closeAllConnections();
      }
      await releaseAll();
      log.info('stopped');
    })();
    return closing;
  };

  log.info({ grpcAddress, httpAddress, adminAddress }, 'listening');
  return { grpcAddress, httpAddress, adminAddress, routes, close };
}

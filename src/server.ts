/**
 * Wiring: a route store feeds a live route table (targets and pools built at load); the fronts
 * (ext_proc + health on the gRPC listener, the HTTP front) call the gateway. `close()` drains.
 */
import * as grpc from '@grpc/grpc-js';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { RouteConfig } from './config/route-schema';
import type { RouteStore } from './config/stores/route-store';
import { ERROR_CODES, sidecarError } from './errors';
import { extAuthzHandlers } from './fronts/ext-authz/ext-authz-service';
import { createAdminApi } from './fronts/admin/admin-api';
import { extProcHandlers } from './fronts/ext-proc/ext-proc-service';
import { loadGrpcDefinitions } from './fronts/grpc-definitions';
import { healthHandlers, HealthState } from './fronts/health';
import { createHttpFront, DEFAULT_TRUSTED_PROXIES } from './fronts/http/http-front';
import { Gateway, TargetTable } from './gateway';
import { CredentialRegistry } from './aws/credential-registry';
import type { CredentialTimings } from './aws/credential-source';
import { createTarget, DispatcherRegistry, LambdaTarget, releaseTarget } from './invoke/target';
import { LiveRoutes } from './routing/live-routes';
import { RouteTable } from './routing/route-table';

export const DEFAULT_GRPC_LISTEN = '127.0.0.1:50051';
export const DEFAULT_HTTP_LISTEN = '127.0.0.1:8080';
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** Above the largest body Envoy may buffer (max_req_body_size defaults to 64 MiB) plus framing. */
export const DEFAULT_MAX_GRPC_MESSAGE_BYTES = 80 * 1024 * 1024;

/**
 * HTTP/2 receive windows of the gRPC listener. Node's defaults are 64 KiB per stream and per
 * connection, so a BUFFERED body larger than that waits for WINDOW_UPDATEs from our busy event loop
 * before the message completes. Measured (64 KiB POSTs, wrk -c64 through Envoy): 1,022 → 1,723
 * req/s at the same sidecar CPU with these values.
 */
export const GRPC_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const GRPC_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * grpc-js exposes no option for the windows, so we set them through two of its internals (pinned
 * version, covered by test/unit/server.test.ts): the options it passes to http2.createServer at
 * bind time, and the http2 servers it created, whose sessions then widen their connection window.
 * If the internals move, we log once and keep Node's defaults.
 */
interface GrpcServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server, unknown>;
}

function widenStreamWindow(server: grpc.Server, log: Logger): void {
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions === undefined) {
    log.warn('grpc-js internals changed: HTTP/2 stream window left at its default');
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: GRPC_STREAM_WINDOW_BYTES };
}

function widenConnectionWindow(server: grpc.Server, log: Logger): void {
  const servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (servers === undefined) {
    log.warn('grpc-js internals changed: HTTP/2 connection window left at its default');
    return;
  }
  for (const h2 of servers.keys()) {
    h2.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(GRPC_CONNECTION_WINDOW_BYTES);
      } catch {
        // The session closed before we could: nothing to widen.
      }
    });
  }
}

export interface SidecarOptions {
  readonly store: RouteStore;
  /** `host:port` or `[v6]:port`; undefined disables the listener. */
  readonly grpcListen: string | undefined;
  readonly httpListen: string | undefined;
  readonly adminListen?: string;
  readonly adminKey?: string;
  readonly trustedProxies?: readonly string[];
  readonly drainTimeoutMs?: number;
  readonly maxGrpcMessageBytes?: number;
  /** Credential refresh, retry and fetch-timeout bounds; the DEFAULT_* of aws/credential-source.ts when absent. */
  readonly credentialTimings?: Partial<CredentialTimings>;

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

/** Splits `host:port` / `[v6]:port`; throws ERR_CLI_INVALID naming the flag. */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw sidecarError(ERROR_CODES.CLI_INVALID, `${flag}: expected host:port (e.g. 127.0.0.1:50051 or [::1]:50051), got "${value}"`);
  }
  return { host: m[1] ?? m[2], port };
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function buildTable(routes: readonly RouteConfig[], registry: DispatcherRegistry, credentials: CredentialRegistry): RouteTable<LambdaTarget | null> {
  return new RouteTable(routes, (route) => createTarget(route, registry, credentials));
}

function releaseTable(table: RouteTable<LambdaTarget | null>, registry: DispatcherRegistry): void {
  for (const entry of table.entries()) if (entry.payload !== null) releaseTarget(entry.payload, registry);
}

function bindGrpc(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
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

/** Stops accepting, waits for in-flight requests, then cuts what is left after `drainTimeoutMs`. */
function closeHttp(server: http.Server | undefined, drainTimeoutMs: number): Promise<void> {
  if (server === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, drainTimeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startSidecar(opts: SidecarOptions): Promise<RunningSidecar> {
  const log = opts.logger;
  const registry = new DispatcherRegistry();
  const credentials = new CredentialRegistry({ logger: log, timings: opts.credentialTimings });
  let live: TargetTable | undefined;
  const initial = await opts.store.start((routes) => {
    if (live === undefined) return; // stores report changes only after start resolves
    live.replace(buildTable(routes, registry, credentials));
    log.info({ routes: routes.length, store: opts.store.description, version: live.version }, 'routes updated');
  });
  live = new LiveRoutes(buildTable(initial, registry, credentials), (old) => releaseTable(old, registry));
  log.info({ routes: initial.length, store: opts.store.description }, 'routes loaded');
  const gateway = new Gateway(live);
  const routes: TargetTable = live;
  const health = new HealthState();

  let grpcServer: grpc.Server | undefined;
  let grpcAddress: string | undefined;
  let httpServer: http.Server | undefined;
  let httpAddress: string | undefined;
  let adminServer: http.Server | undefined;
  let adminAddress: string | undefined;
  try {
    if (opts.grpcListen !== undefined) {
      const { host, port } = parseListenAddress(opts.grpcListen, '--grpc-listen');
      const maxMessage = opts.maxGrpcMessageBytes ?? DEFAULT_MAX_GRPC_MESSAGE_BYTES;
      grpcServer = new grpc.Server({
        'grpc.max_receive_message_length': maxMessage,
        'grpc.max_send_message_length': maxMessage,
        // Envoy keeps its HTTP/2 connection to us alive with pings: do not punish it for them.
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.http2.min_ping_interval_without_data_ms': 1000,
        // channelz bookkeeping costs on every call and nobody reads it here.
        'grpc.enable_channelz': 0,
      });
      const defs = loadGrpcDefinitions();
      widenStreamWindow(grpcServer, log);
      grpcServer.addService(defs.externalProcessor, extProcHandlers(gateway, log));
      grpcServer.addService(defs.authorization, extAuthzHandlers(gateway, log));
      grpcServer.addService(defs.health, healthHandlers(health));
      const bound = await bindGrpc(grpcServer, formatAddress(host, port));
      widenConnectionWindow(grpcServer, log);
      grpcAddress = formatAddress(host, bound);
    }
    if (opts.httpListen !== undefined) {
      const { host, port } = parseListenAddress(opts.httpListen, '--http-listen');
      httpServer = createHttpFront(gateway, log, {
        trustedProxies: opts.trustedProxies ?? DEFAULT_TRUSTED_PROXIES,
        isReady: () => health.isServing,
      });
      httpAddress = formatAddress(host, await listenHttp(httpServer, host, port));
    }
    if (opts.adminListen !== undefined) {
      const { host, port } = parseListenAddress(opts.adminListen, '--admin-listen');
      adminServer = createAdminApi(opts.store, log, { adminKey: opts.adminKey });
      adminAddress = formatAddress(host, await listenHttp(adminServer, host, port));
    }
  } catch (err) {
    grpcServer?.forceShutdown();
    httpServer?.close();
    adminServer?.close();
    await opts.store.close();
    await registry.closeAll();
    credentials.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      health.setServing(false);
      const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      log.info({ drainTimeoutMs }, 'draining');
      const grpcDone = grpcServer === undefined ? Promise.resolve() : new Promise<void>((resolve) => {
        const server = grpcServer as grpc.Server;
        const timer = setTimeout(() => {
          log.warn('drain timeout: cancelling the gRPC streams still open');
          server.forceShutdown();
          resolve();
        }, drainTimeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await Promise.all([grpcDone, closeHttp(httpServer, drainTimeoutMs), closeHttp(adminServer, drainTimeoutMs)]);
      await opts.store.close();
      await registry.closeAll();
      credentials.close();
      log.info('stopped');
    })();
    return closing;
  };

  log.info({ grpcAddress, httpAddress, adminAddress }, 'listening');
  return { grpcAddress, httpAddress, adminAddress, routes, close };
}

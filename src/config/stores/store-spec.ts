/**
 * `--store` values → a RouteStore: `file:<path>` (default: the --config file) or
 * `etcd://host:port[,host:port...]/prefix`.
 */
import type { Logger } from 'pino';
import { ConfigError, ERROR_CODES } from '../../errors';
import { FileRouteStore } from './file-store';
import type { RouteStore } from './route-store';

/** Bound on each etcd call (here, not in etcd-store.ts, so the CLI reads it without loading etcd3). */
export const DEFAULT_ETCD_CALL_TIMEOUT_MS = 3000;

export interface StoreOptions {
  /** etcd store: bound on each etcd call (DEFAULT_ETCD_CALL_TIMEOUT_MS). */
  readonly etcdCallTimeoutMs?: number;
  /** File store: largest routes file parsed (DEFAULT_MAX_ROUTES_FILE_BYTES). */
  readonly maxRoutesFileBytes?: number;
}

export function createStore(spec: string | undefined, configPath: string | undefined, log: Logger, opts: StoreOptions = {}): RouteStore {
  if (spec === undefined || spec === '') {
    if (configPath === undefined) throw new ConfigError('--config <routes file> or --store is required', ERROR_CODES.CLI_INVALID);
    return new FileRouteStore(configPath, log, undefined, opts.maxRoutesFileBytes);
  }
  if (spec.startsWith('file:')) {
    const file = spec.slice('file:'.length);
    if (file === '') throw new ConfigError('--store file: needs a path (file:/etc/sidecar/routes.yaml)', ERROR_CODES.CLI_INVALID);
    return new FileRouteStore(file, log, undefined, opts.maxRoutesFileBytes);
  }
  if (spec.startsWith('etcd://')) {
    // Loaded only when used: the etcd client brings its own gRPC stack and protos (memory).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { EtcdRouteStore, parseEtcdSpec } = require('./etcd-store') as typeof import('./etcd-store');
    return new EtcdRouteStore(parseEtcdSpec(spec), log, { callTimeoutMs: opts.etcdCallTimeoutMs });
  }
  throw new ConfigError(`--store: expected file:<path> or etcd://host:port/prefix, got "${spec}"`, ERROR_CODES.CLI_INVALID);
}

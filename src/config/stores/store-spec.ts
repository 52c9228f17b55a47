/**
 * `--store` values → a RouteStore: `file:<path>` (default: the --config file) or
 * `etcd://host:port[,host:port...]/prefix`.
 */
import type { Logger } from 'pino';
import { ConfigError, ERROR_CODES } from '../../errors';
import { EtcdRouteStore, parseEtcdSpec } from './etcd-store';
import { FileRouteStore } from './file-store';
import type { RouteStore } from './route-store';

export function createStore(spec: string | undefined, configPath: string | undefined, log: Logger): RouteStore {
  if (spec === undefined || spec === '') {
    if (configPath === undefined) throw new ConfigError('--config <routes file> or --store is required', ERROR_CODES.CLI_INVALID);
    return new FileRouteStore(configPath, log);
  }
  if (spec.startsWith('file:')) {
    const file = spec.slice('file:'.length);
    if (file === '') throw new ConfigError('--store file: needs a path (file:/etc/sidecar/routes.yaml)', ERROR_CODES.CLI_INVALID);
    return new FileRouteStore(file, log);
  }
  if (spec.startsWith('etcd://')) return new EtcdRouteStore(parseEtcdSpec(spec), log);
  throw new ConfigError(`--store: expected file:<path> or etcd://host:port/prefix, got "${spec}"`, ERROR_CODES.CLI_INVALID);
}

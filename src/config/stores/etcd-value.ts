/**
 * One etcd value → a validated route, as the etcd store reads it (APISIX's layout: the key's last
 * segment is the id, the value the route's JSON, with or without its id).
 */
import { ConfigError, ERROR_CODES } from '../../errors';
import { RouteConfig, validateRoute } from '../route-schema';

/** Throws a ConfigError (every problem of the route, or why the value is not JSON). */
export function routeFromEtcdValue(json: string, id: string, key: string): RouteConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new ConfigError(`${key}: not valid JSON: ${(err as Error).message}`, ERROR_CODES.CONFIG_INVALID);
  }
  const route = validateRoute(typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { id, ...raw } : raw, id);
  if (route.id !== id) throw new ConfigError(`route "${id}": id: does not match its etcd key ${key}`);
  return route;
}

/**
 * Where routes live. The server asks a store for the routes once at start and then hears of every
 * accepted change; a store never hands over routes that failed validation.
 */
import type { RouteConfig } from '../route-schema';

export interface RouteStore {
  /** For log lines: `file:/etc/routes.yaml`, `etcd://...`. */
  readonly description: string;
  /**
   * Loads the current routes (rejecting with a ConfigError when they are invalid) and starts
   * watching; `onChange` receives every later valid route set.
   */
  start(onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]>;
  close(): Promise<void>;
}

/**
 * Where routes live. The server asks a store for the routes once at start and then hears of every
 * accepted change; a store never hands over routes that failed validation. The Admin API writes
 * through the same interface, whatever the store.
 */
import type { RouteConfig } from '../route-schema';

/** Computes the route to store from the one stored now (inside the write queue). */
export type RouteBuilder = (existing: RouteConfig | undefined) => RouteConfig;

export interface RouteStore {
  /** For log lines: `file:/etc/routes.yaml`, `etcd://...`. */
  readonly description: string;
  /**
   * Loads the current routes (rejecting with a ConfigError when they are invalid) and starts
   * watching; `onChange` receives every later valid route set, never before start resolves.
   */
  start(onChange: (routes: readonly RouteConfig[]) => void): Promise<readonly RouteConfig[]>;
  /** The routes in force, in match order (file order; creation order for etcd). */
  routes(): readonly RouteConfig[];
  /**
   * Creates or replaces one route: a read-modify-write run in the store's write queue, so no other
   * write of this store can land between the read and the write. `build` receives the route stored
   * under `id` (undefined when none) and returns the validated route to store; when it throws,
   * nothing is written and the error is the result. Resolves once the change is durable and live
   * on this node; rejects (nothing applied) when it cannot be stored.
   */
  update(id: string, build: RouteBuilder): Promise<{ created: boolean; route: RouteConfig }>;
  /** Deletes a route; false when there was none with that id. */
  remove(id: string): Promise<boolean>;
  close(): Promise<void>;
  /** Stores with a connection (etcd): whether it is up now, for the metrics. */
  connected?(): boolean;
}

/** Runs async tasks one after another (writes must not interleave). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * The route table in force, swapped atomically on reload. A request leases the table it matched
 * on; a replaced table is retired (its pools released) only when its last lease ends, so in-flight
 * requests finish on the routes they started with.
 */
import type { RouteTable } from './route-table';

interface Slot<T> {
  readonly table: RouteTable<T>;
  /** Leases not yet ended; the slot is retired when it is replaced and this drops to 0. */
  leases: number;
  replaced: boolean;
}

export interface RouteLease<T> {
  readonly table: RouteTable<T>;
  /** Ends the lease; idempotent. */
  release(): void;
}

export class LiveRoutes<T> {
  private slot: Slot<T>;
  version = 1;

  constructor(table: RouteTable<T>, private readonly retire: (table: RouteTable<T>) => void) {
    this.slot = { table, leases: 0, replaced: false };
  }

  get current(): RouteTable<T> {
    return this.slot.table;
  }

  lease(): RouteLease<T> {
    const slot = this.slot;
    slot.leases++;
    let released = false;
    return {
      table: slot.table,
      release: () => {
        if (released) return;
        released = true;
        if (--slot.leases === 0 && slot.replaced) this.retire(slot.table);
      },
    };
  }

  replace(table: RouteTable<T>): void {
    const old = this.slot;
    this.slot = { table, leases: 0, replaced: false };
    this.version++;
    old.replaced = true;
    if (old.leases === 0) this.retire(old.table);
  }
}

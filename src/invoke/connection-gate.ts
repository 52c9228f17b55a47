/**
 * Admits at most `slots` requests at a time into one undici Pool (its `connections`); the rest wait
 * here, in arrival order. undici's Pool queue cannot give a request back: one whose client left
 * while it waited was still sent to the function later, and held a connection the next request
 * waited for (issue 8 item 3). Here a request that is given up simply leaves the queue.
 */
export type GateEntry = () => void;

export class ConnectionGate {
  /** Requests admitted and not yet finished; at most `slots`. */
  private admitted = 0;
  /** Entries waiting for a slot, oldest first (a Set: O(1) removal from the middle). */
  private readonly waiting = new Set<GateEntry>();

  constructor(private readonly slots: number) {}

  /** Runs `entry` now when a slot is free, else later when one frees (unless withdrawn). */
  enter(entry: GateEntry): void {
    if (this.admitted < this.slots) {
      this.admitted++;
      entry();
    } else {
      this.waiting.add(entry);
    }
  }

  /** Takes back an entry that is still waiting; false when it has started (or is about to). */
  withdraw(entry: GateEntry): boolean {
    return this.waiting.delete(entry);
  }

  /** An admitted request finished: its slot passes to the oldest waiting entry. */
  leave(): void {
    if (this.waiting.size === 0) {
      this.admitted--;
      return;
    }
    const next = this.waiting.values().next().value as GateEntry;
    this.waiting.delete(next);
    // Not from inside undici's callback that called us (and no recursion when the next is refused
    // synchronously too): start it on the next microtask. The slot is already its own.
    queueMicrotask(next);
  }

  get waitingCount(): number {
    return this.waiting.size;
  }
}

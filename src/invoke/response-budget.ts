/**
 * One byte budget for the function answers the sidecar holds across all requests, taken as each
 * chunk arrives (undici's onData) and given back when the request is finished. Without it 16
 * concurrent 30 MB answers took RSS to 819 MB (issue 8 item 4); Buffers live outside the V8 heap,
 * so the --max-old-space-size flag does not bound them.
 */
export class ResponseBudget {
  /** Bytes taken and not given back; never above `maxBytes`. */
  private heldBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Takes `bytes` if they fit; false (nothing taken) otherwise. */
  take(bytes: number): boolean {
    if (this.heldBytes + bytes > this.maxBytes) return false;
    this.heldBytes += bytes;
    return true;
  }

  give(bytes: number): void {
    this.heldBytes -= bytes;
  }

  get held(): number {
    return this.heldBytes;
  }
}

/** One request's share of the budget: what it took, given back once by `release`. */
export class BudgetHold {
  private bytes = 0;

  constructor(private readonly budget: ResponseBudget) {}

  take(bytes: number): boolean {
    if (!this.budget.take(bytes)) return false;
    this.bytes += bytes;
    return true;
  }

  release(): void {
    this.budget.give(this.bytes);
    this.bytes = 0;
  }
}

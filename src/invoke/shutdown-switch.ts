/**
 * One switch for the whole sidecar: at the drain timeout, `cut()` ends every invoke still waiting
 * or running (each answers ERR_DRAINING), whichever front it came from. A Set of callbacks rather
 * than one shared AbortSignal: every request subscribes and unsubscribes, which on an EventTarget
 * is a linear search per removal (and a leak warning past 10 listeners).
 */
export class ShutdownSwitch {
  private readonly hooks = new Set<() => void>();
  private isCut = false;

  get cut(): boolean {
    return this.isCut;
  }

  /** `hook` runs once when the switch is cut; call `unsubscribe` when the request ends. */
  subscribe(hook: () => void): void {
    this.hooks.add(hook);
  }

  unsubscribe(hook: () => void): void {
    this.hooks.delete(hook);
  }

  cutAll(): void {
    if (this.isCut) return;
    this.isCut = true;
    const hooks = [...this.hooks];
    this.hooks.clear();
    for (const hook of hooks) hook();
  }
}

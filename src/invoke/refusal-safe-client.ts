/**
 * The undici Client our pools are made of: it tells its Pool the truth after refusing a request.
 *
 * undici 7's DispatcherBase.dispatch answers `false` when it refuses a request before queueing it
 * (the Request constructor throws, e.g. on a header value with a newline: it calls
 * handler.onError and returns false). Pool reads `false` as "busy, wait for my 'drain'" and stops
 * handing that client requests, but a client that queued nothing never emits 'drain': the
 * connection is parked for good, and after `connections` refusals every request to the origin
 * waits forever (issue 8 item 1). A refusal leaves the client's queue as it was, so then we answer
 * what that state says (it took requests before this one, so it still can).
 */
import { Client, type Dispatcher } from 'undici';

export class RefusalSafeClient extends Client {
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const queuedBefore = this.stats.size;
    if (super.dispatch(options, handler)) return true;
    // Queued and now busy: a genuine "wait for my drain". Unchanged: refused, nothing to wait for.
    return this.stats.size === queuedBefore;
  }
}

/** Pool's `factory` option. */
export function refusalSafeClient(origin: URL, options: object): Dispatcher {
  return new RefusalSafeClient(origin, options as Client.Options);
}

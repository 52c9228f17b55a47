/**
 * One bound on the gRPC work the sidecar holds at once: open ext_proc streams (idle or invoking)
 * plus ext_authz calls in flight. Each costs memory until it ends (an idle ext_proc stream about
 * 6 KB of heap, measured; a Check or a stream with a body, that body), and ~40,000 idle streams
 * used to exhaust the 256 MB heap. Past the limit a request gets a prompt 503 with Retry-After
 * from the front door instead of a crash for everyone.
 */
import { ERROR_CODES, SidecarError, sidecarError } from '../errors';
import { errorResponse } from '../invoke/error-response';
import type { LambdaResponse } from '../invoke/client-request';

export const DEFAULT_MAX_GRPC_CALLS = 10_000;
/** Seconds a refused client is told to wait (Retry-After). */
export const GRPC_CALL_LIMIT_RETRY_AFTER_S = 1;

export class GrpcCallLimit {
  /** Invariant: 0 <= active; each successful tryAcquire is matched by exactly one release. */
  private active = 0;

  constructor(readonly max: number) {}

  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active += 1;
    return true;
  }

  release(): void {
    this.active -= 1;
  }

  get inUse(): number {
    return this.active;
  }

  refusal(): SidecarError {
    return sidecarError(ERROR_CODES.TOO_MANY_REQUESTS, `the sidecar is at its limit of ${this.max} concurrent gRPC requests; retry later`);
  }
}

/** The answer for a refused request: the JSON error with Retry-After. */
export function refusedResponse(err: SidecarError): LambdaResponse {
  const res = errorResponse(err);
  return { ...res, headers: [...res.headers, ['retry-after', String(GRPC_CALL_LIMIT_RETRY_AFTER_S)]] };
}

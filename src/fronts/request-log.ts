/**
 * The per-request log line every front writes once a request is finished (README "Logs"):
 * `debug` `{ door, route, status, code, durationMs, requestId }` 'request'. `requestId` is the
 * proxy's `x-request-id`, which warn/error lines about the request carry too.
 */
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors';
import type { HeaderList } from '../invoke/lambda-request';

export type Door = 'ext_proc' | 'ext_authz' | 'http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** The proxy's request id, undefined when the request carries none. */
export function requestIdOf(headers: HeaderList): string | undefined {
  for (const [name, value] of headers) if (name === REQUEST_ID_HEADER) return value;
  return undefined;
}

export interface RequestOutcome {
  readonly route: string | undefined;
  /** The status the sidecar answered; undefined when the request passed through or nobody heard it. */
  readonly status: number | undefined;
  readonly code: ErrorCode | undefined;
}

export function logRequest(log: Logger, door: Door, startedAtMs: number, requestId: string | undefined, outcome: RequestOutcome): void {
  if (!log.isLevelEnabled('debug')) return;
  log.debug({ door, ...outcome, durationMs: Date.now() - startedAtMs, requestId }, 'request');
}

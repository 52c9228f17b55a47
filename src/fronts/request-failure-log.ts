/**
 * The log line of a request that failed with one of our errors, the same in every front: a bug at
 * error, a request-caused or upstream failure at warn, and ERR_CREDENTIALS at debug, because the
 * credential source already logs its outage once at each end (issue 10: once per outage, not once
 * per request).
 */
import type { Logger } from 'pino';
import { ERROR_CODES, type SidecarError } from '../errors';

export function logRequestFailure(log: Logger, route: string | undefined, err: SidecarError): void {
  if (err.code === ERROR_CODES.INTERNAL) log.error({ route, code: err.code, err: err.cause }, 'internal error');
  else if (err.code === ERROR_CODES.CREDENTIALS) log.debug({ route, code: err.code, status: err.status }, err.message);
  else log.warn({ route, code: err.code, status: err.status }, err.message);
}

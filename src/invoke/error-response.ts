/**
 * The answer a client gets when the sidecar, not the function, answers: a short JSON body
 * `{"message": ...}` with the status of the error code. Same bytes through every front (each
 * relays these headers as it relays a function's).
 */
import { ERROR_CODES, type ErrorCode, type SidecarError } from '../errors';
import type { HeaderList, LambdaResponse } from './client-request';

/** Retry-After of a 503 the sidecar gives because it is busy or going away (RFC 9110 §10.2.3). */
export const RETRY_AFTER_SECONDS = 1;

/** Codes that say "not now": the same request may succeed on retry (here after a moment, or elsewhere). */
const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([ERROR_CODES.OVERLOADED, ERROR_CODES.RESPONSE_BUDGET, ERROR_CODES.DRAINING]);

const JSON_HEADERS: HeaderList = [['content-type', 'application/json']];
const RETRY_HEADERS: HeaderList = [['content-type', 'application/json'], ['retry-after', String(RETRY_AFTER_SECONDS)]];

export function errorResponse(err: SidecarError): LambdaResponse {
  return {
    status: err.status,
    headers: (RETRYABLE_CODES.has(err.code) ? RETRY_HEADERS : JSON_HEADERS).map(([n, v]) => [n, v]),
    body: Buffer.from(JSON.stringify({ message: err.message })),
  };
}

/**
 * The answer a client gets when the sidecar, not the function, answers: a short JSON body
 * `{"message": ...}` with the status of the error code. Same bytes through every front.
 */
import type { SidecarError } from '../errors';
import type { LambdaResponse } from './lambda-request';

export function errorResponse(err: SidecarError): LambdaResponse {
  return {
    status: err.status,
    headers: [['content-type', 'application/json']],
    body: Buffer.from(JSON.stringify({ message: err.message })),
  };
}

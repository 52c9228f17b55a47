/**
 * Every error the sidecar raises, with a stable `code`. Tests and callers check `.code`, never
 * `instanceof` (jest's module sandboxes break it). Each code is documented in README.md
 * ("Error codes"); test/unit/errors.test.ts keeps the two in step.
 */

export const ERROR_CODES = {
  /** The routes file or a route object is invalid (wrong type, unknown field, out of range...). */
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  /** The routes file cannot be read or parsed. */
  CONFIG_UNREADABLE: 'ERR_CONFIG_UNREADABLE',
  /** A route store (file, etcd) could not persist a change; nothing was applied. */
  STORE_WRITE_FAILED: 'ERR_STORE_WRITE_FAILED',
  /** etcd did not confirm an Admin API write in time: it was sent and may still be applied. */
  STORE_WRITE_UNCERTAIN: 'ERR_STORE_WRITE_UNCERTAIN',
  /**
   * A write would overwrite a change it has not seen: the routes file was edited by hand and the
   * edit is not valid, or (etcd) other sidecars kept changing the route while it was written.
   */
  STORE_CONFLICT: 'ERR_STORE_CONFLICT',
  /** A route store (etcd) cannot be reached. */
  STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE',
  /** Command line flags or environment variables are invalid. */
  CLI_INVALID: 'ERR_CLI_INVALID',
  /** The client request cannot be forwarded as it is (bad path, header or query bytes). */
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  /** The proxy named a route id (x-lambda-route, lambda_route) the sidecar does not have. */
  ROUTE_NOT_FOUND: 'ERR_ROUTE_NOT_FOUND',
  /** The request body is larger than the route's `max_req_body_size`. */
  BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  /** The function did not answer (connect, send or read) within the route's `timeout`. */
  UPSTREAM_TIMEOUT: 'ERR_UPSTREAM_TIMEOUT',
  /** The function's endpoint refused the connection or could not be resolved. */
  UPSTREAM_CONNECT: 'ERR_UPSTREAM_CONNECT',
  /** The TLS handshake with the function's endpoint failed (certificate verification included). */
  UPSTREAM_TLS: 'ERR_UPSTREAM_TLS',
  /** The connection to the function was reset or closed before a full answer arrived. */
  UPSTREAM_RESET: 'ERR_UPSTREAM_RESET',
  /** The function's answer cannot be relayed (too large, or not representable by the front). */
  UPSTREAM_RESPONSE: 'ERR_UPSTREAM_RESPONSE',
  /** The function's answer is not a valid API Gateway proxy response (v1 without statusCode, wrong types...). */
  FUNCTION_RESPONSE: 'ERR_FUNCTION_RESPONSE',
  /** The function raised an error (Lambda's `X-Amz-Function-Error: Unhandled|Handled`). */
  FUNCTION_ERROR: 'ERR_FUNCTION_ERROR',
  /** Lambda throttled the invocation (429 TooManyRequestsException); its Retry-After is relayed. */
  LAMBDA_THROTTLED: 'ERR_LAMBDA_THROTTLED',
  /** Lambda's Invoke API refused the call (function not found, access denied, KMS, service error...). */
  LAMBDA_API: 'ERR_LAMBDA_API',
  /** AWS credentials for a signed route are expired or cannot be obtained from their source. */
  CREDENTIALS: 'ERR_CREDENTIALS',
  /** The sidecar already has its maximum number of requests in flight (answered 503 + Retry-After). */
  OVERLOADED: 'ERR_OVERLOADED',
  /** The function's answer would take the sidecar past its buffered-answer byte budget. */
  RESPONSE_BUDGET: 'ERR_RESPONSE_BUDGET',
  /** The sidecar is draining (SIGTERM): a new request is refused, one still waiting on the function at the drain timeout is cut. */
  DRAINING: 'ERR_DRAINING',
  /** An ext_proc stream waited longer than its idle timeout for Envoy's next message. */
  STREAM_IDLE: 'ERR_STREAM_IDLE',
  /** The sidecar holds its maximum of concurrent gRPC requests (ext_proc streams + ext_authz calls). */
  TOO_MANY_REQUESTS: 'ERR_TOO_MANY_REQUESTS',
  /** The client stopped sending its request (headers or body) for longer than the idle timeout. */
  REQUEST_TIMEOUT: 'ERR_REQUEST_TIMEOUT',
  /** The client went away before the answer was ready. */
  CLIENT_GONE: 'ERR_CLIENT_GONE',
  /** A bug or an unexpected failure inside the sidecar. */
  INTERNAL: 'ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class SidecarError extends Error {
  readonly code: ErrorCode;
  /** The HTTP status a client sees for this error, when it reaches one. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SidecarError';
    this.code = code;
    this.status = status;
  }
}

export class ConfigError extends SidecarError {
  constructor(message: string, code: ErrorCode = ERROR_CODES.CONFIG_INVALID) {
    super(code, message, STATUS_BY_CODE[code]);
    this.name = 'ConfigError';
  }
}

/** Maps an error code to the HTTP status the client receives. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = Object.freeze({
  ERR_CONFIG_INVALID: 400,
  ERR_CONFIG_UNREADABLE: 500,
  ERR_STORE_WRITE_FAILED: 503,
  ERR_STORE_WRITE_UNCERTAIN: 504,
  ERR_STORE_CONFLICT: 409,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_CLI_INVALID: 500,
  ERR_BAD_REQUEST: 400,
  ERR_ROUTE_NOT_FOUND: 404,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_UPSTREAM_CONNECT: 502,
  ERR_UPSTREAM_TLS: 502,
  ERR_UPSTREAM_RESET: 502,
  ERR_UPSTREAM_RESPONSE: 502,
  ERR_FUNCTION_RESPONSE: 502,
  // The route's `function_error_status` overrides this default (502, as API Gateway answers).
  ERR_FUNCTION_ERROR: 502,
  ERR_LAMBDA_THROTTLED: 429,
  ERR_LAMBDA_API: 502,
  ERR_CREDENTIALS: 502,
  ERR_OVERLOADED: 503,
  ERR_RESPONSE_BUDGET: 503,
  ERR_DRAINING: 503,
  ERR_STREAM_IDLE: 408,
  ERR_TOO_MANY_REQUESTS: 503,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_CLIENT_GONE: 499,
  ERR_INTERNAL: 500,
});

export function sidecarError(code: ErrorCode, message: string, cause?: unknown): SidecarError {
  return new SidecarError(code, message, STATUS_BY_CODE[code], cause === undefined ? undefined : { cause });
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));

/** Normalises anything thrown into a SidecarError (unknown errors become ERR_INTERNAL). */
export function asSidecarError(err: unknown): SidecarError {
  // By code, not instanceof: jest's module sandboxes (and duplicated module copies) break instanceof.
  const code = (err as Partial<SidecarError> | null)?.code;
  if (err instanceof Error && typeof code === 'string' && KNOWN_CODES.has(code)) return err as SidecarError;
  return sidecarError(ERROR_CODES.INTERNAL, 'internal error', err);
}

/**
 * The Invoke API's HTTP answer → the client's response, with Lambda's error semantics
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
 *
 * - 200 (RequestResponse): the payload, decoded per the route's event format; with
 *   `X-Amz-Function-Error` (Unhandled | Handled) a function error: the route's
 *   `function_error_status`, `{"message", "errorType"}`, never the stack trace (ERR_FUNCTION_ERROR).
 * - 202 (Event) and 204 (DryRun): that status, empty body.
 * - 429: throttled, 429 with Lambda's `Retry-After` (ERR_LAMBDA_THROTTLED).
 * - 413 RequestEntityTooLargeException: the client's request was too large (ERR_BODY_TOO_LARGE).
 * - anything else: 502 naming the AWS error type (ERR_LAMBDA_API).
 *
 * Every answer carries Lambda's `x-amzn-requestid`, so users can find the invocation in CloudWatch;
 * `X-Amz-Log-Result` is never relayed: it comes back decoded as `logTail` for a debug log line.
 */
import { asSidecarError, ERROR_CODES, type ErrorCode, sidecarError, STATUS_BY_CODE } from '../../errors';
import { errorResponse } from '../error-response';
import type { HeaderList, LambdaResponse } from '../client-request';
import type { EventFormat } from './apigw-event';
import { decodeFunctionResponse } from './proxy-response';

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

/** Lambda's payload limits after encoding (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). */
export const DEFAULT_SYNC_PAYLOAD_LIMIT_BYTES = 6_291_456;
/** Asynchronous (`Event`) invocations: 1 MB since 2025 (256 KB before). */
export const DEFAULT_ASYNC_PAYLOAD_LIMIT_BYTES = 1_048_576;
/** The status of function errors when the route sets no `function_error_status` (API Gateway's). */
export const DEFAULT_FUNCTION_ERROR_STATUS = 502;

export interface PayloadLimits {
  readonly syncBytes: number;
  readonly asyncBytes: number;
}

export const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = Object.freeze({
  syncBytes: DEFAULT_SYNC_PAYLOAD_LIMIT_BYTES,
  asyncBytes: DEFAULT_ASYNC_PAYLOAD_LIMIT_BYTES,
});

/** Throws ERR_BODY_TOO_LARGE (413) when the encoded payload exceeds Lambda's limit for the invocation type. */
export function checkPayloadSize(payloadBytes: number, invocationType: InvocationType, limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): void {
  const limit = invocationType === 'Event' ? limits.asyncBytes : limits.syncBytes;
  if (payloadBytes > limit) {
    throw sidecarError(
      ERROR_CODES.BODY_TOO_LARGE,
      `the Lambda payload is ${payloadBytes} bytes after encoding, above Lambda's ${limit}-byte limit for ${invocationType} invocations`,
    );
  }
}

/** The Invoke API's answer as received (lower-case header names). */
export interface InvokeApiAnswer {
  readonly status: number;
  readonly headers: HeaderList;
  readonly body: Buffer;
}

export interface InvokeAnswerOptions {
  readonly invocationType: InvocationType;
  readonly eventFormat: EventFormat;
  /** Default DEFAULT_FUNCTION_ERROR_STATUS. */
  readonly functionErrorStatus?: number;
}

export interface InvokeOutcome {
  /** What the client gets (Lambda's x-amzn-requestid included). */
  readonly response: LambdaResponse;
  /** The error code for the request log line; undefined for a successful invocation. */
  readonly code: ErrorCode | undefined;
  /** Lambda's request id (x-amzn-requestid), undefined when absent. */
  readonly awsRequestId: string | undefined;
  /** The AWS error type (ERR_LAMBDA_API, ERR_LAMBDA_THROTTLED) or the function's errorType (ERR_FUNCTION_ERROR). */
  readonly errorType?: string;
  /** Lambda's own error message, for the warn log line (not sent to the client). */
  readonly awsMessage?: string;
  /** The function's last 4 KB of log (X-Amz-Log-Result, decoded), for a debug log line only. */
  readonly logTail: string | undefined;
}

function header(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stringField(obj: Record<string, unknown> | undefined, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = obj?.[name];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/**
 * The AWS error type of an Invoke API error: `X-Amzn-ErrorType` (minus its `:<namespace>` suffix),
 * else the body's `__type` (minus a `namespace#` prefix), else `Type`, else `HTTP <status>`.
 */
export function awsErrorType(status: number, headers: HeaderList, body: Record<string, unknown> | undefined): string {
  const fromHeader = header(headers, 'x-amzn-errortype');
  if (fromHeader !== undefined && fromHeader !== '') return fromHeader.split(':')[0] ?? fromHeader;
  const fromBody = stringField(body, '__type', 'Type', 'code');
  if (fromBody !== undefined) return fromBody.slice(fromBody.lastIndexOf('#') + 1);
  return `HTTP ${status}`;
}

/** `X-Amz-Log-Result` (base64) → text; undefined when absent. */
export function decodeLogResult(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

function withRequestId(response: LambdaResponse, awsRequestId: string | undefined): LambdaResponse {
  if (awsRequestId === undefined) return response;
  return { ...response, headers: [...response.headers, ['x-amzn-requestid', awsRequestId]] };
}

function jsonError(status: number, body: Record<string, string>, extraHeaders: HeaderList = []): LambdaResponse {
  return { status, headers: [['content-type', 'application/json'], ...extraHeaders], body: Buffer.from(JSON.stringify(body)) };
}

/** Maps one Invoke API answer to what the client gets (never throws). */
export function interpretInvokeAnswer(answer: InvokeApiAnswer, options: InvokeAnswerOptions): InvokeOutcome {
  const awsRequestId = header(answer.headers, 'x-amzn-requestid');
  const logTail = decodeLogResult(header(answer.headers, 'x-amz-log-result'));
  const outcome = (response: LambdaResponse, code: ErrorCode | undefined, extra: { errorType?: string; awsMessage?: string } = {}): InvokeOutcome => ({
    response: withRequestId(response, awsRequestId),
    code,
    awsRequestId,
    logTail,
    ...extra,
  });

  const expected = options.invocationType === 'Event' ? 202 : options.invocationType === 'DryRun' ? 204 : 200;
  if (answer.status === expected) {
    const functionError = header(answer.headers, 'x-amz-function-error');
    if (functionError !== undefined) {
      const payload = parseJsonObject(answer.body);
      const errorType = stringField(payload, 'errorType') ?? functionError;
      const message = stringField(payload, 'errorMessage') ?? `the function failed (${functionError})`;
      const status = options.functionErrorStatus ?? DEFAULT_FUNCTION_ERROR_STATUS;
      return outcome(jsonError(status, { message, errorType }), ERROR_CODES.FUNCTION_ERROR, { errorType });
    }
    if (expected !== 200) return outcome({ status: expected, headers: [], body: Buffer.alloc(0) }, undefined);
    try {
      return outcome(decodeFunctionResponse(options.eventFormat, answer.body), undefined);
    } catch (err) {
      const e = asSidecarError(err);
      return outcome(errorResponse(e), e.code);
    }
  }

  const body = parseJsonObject(answer.body);
  const errorType = awsErrorType(answer.status, answer.headers, body);
  const awsMessage = stringField(body, 'message', 'Message', 'errorMessage');
  if (answer.status === 429) {
    const retryAfter = header(answer.headers, 'retry-after');
    const response = jsonError(
      STATUS_BY_CODE[ERROR_CODES.LAMBDA_THROTTLED],
      { message: `Lambda throttled the invocation (${errorType})` },
      retryAfter === undefined ? [] : [['retry-after', retryAfter]],
    );
    return outcome(response, ERROR_CODES.LAMBDA_THROTTLED, { errorType, awsMessage });
  }
  if (answer.status === 413) {
    const err = sidecarError(ERROR_CODES.BODY_TOO_LARGE, `the request is too large for Lambda (${errorType})`);
    return outcome(errorResponse(err), err.code, { errorType, awsMessage });
  }
  const err = sidecarError(ERROR_CODES.LAMBDA_API, `Lambda's Invoke API refused the call: ${errorType} (${answer.status})`);
  return outcome(errorResponse(err), err.code, { errorType, awsMessage });
}

/**
 * A Lambda Invoke API stand-in (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) on
 * 127.0.0.1, port 0:
 *
 * - `POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=]`, SigV4-signed for service
 *   `lambda` (sigv4-verifier.ts, @smithy/signature-v4 as the oracle), keys issued by IssuedKeys;
 *   `{FunctionName}` a name, partial ARN or full ARN, optionally ending in `:qualifier`.
 * - `X-Amz-Invocation-Type`: RequestResponse (200, the function's payload), Event (202 once
 *   accepted, the function runs afterwards), DryRun (204, nothing runs).
 * - `X-Amz-Log-Type: Tail`: `X-Amz-Log-Result`, base64 of the last 4 KB of the invocation's log.
 * - Lambda's limits: 6 MB synchronous, 1 MB Event payloads (413 RequestEntityTooLargeException);
 *   payloads must be JSON (400 InvalidRequestContentException).
 * - Errors as Lambda sends them: `x-amzn-ErrorType`, JSON `{"Type", "message"}`, `x-amzn-RequestId`.
 *
 * Hosted functions (by name; any other name is 404 ResourceNotFoundException):
 * `greet` ("Hello, <name>!" from the query's `name`, JSON-quoted as the seed's function answers),
 * `echo` (its event as a JSON body), `cookies` (two cookies), `binary` (BINARY_FUNCTION_BYTES,
 * isBase64Encoded), `bare-json` (an object without statusCode), `failing` (Unhandled, with a
 * stackTrace), `throttled` (429 + Retry-After), `slow` (answers after `slowMs`).
 * Each invocation is recorded with its event, so tests can check what a function received.
 */
import { randomUUID } from 'node:crypto';
import type { IssuedKeys } from './issued-keys';
import { type LoopbackServer, type LoopbackServerOptions, startLoopbackServer, type StandInAnswer, type StandInRequest } from './loopback-server';
import { verifySigV4 } from './sigv4-verifier';

export const LAMBDA_SYNC_PAYLOAD_LIMIT_BYTES = 6_291_456;
export const LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES = 1_048_576;
/** X-Amz-Log-Result holds the last 4 KB of the log. */
export const LOG_TAIL_BYTES = 4096;
/** What the `binary` function answers, base64-encoded in its payload. */
export const BINARY_FUNCTION_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80]);
/** The stack trace the `failing` function reports: a client must never see it. */
export const FAILING_FUNCTION_STACK = ['Error: something broke', '    at Runtime.handler (/var/task/index.mjs:4:11)'];

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const FUNCTION_REF = /^(?:arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9_-]{1,64})(?::([a-zA-Z0-9$_-]+))?$/;

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export interface LambdaInvocation {
  /** The bare function name. */
  readonly name: string;
  /** `{FunctionName}` as decoded from the path. */
  readonly functionName: string;
  readonly qualifier: string | undefined;
  /** Region of a full ARN in the path (undefined otherwise). */
  readonly arnRegion: string | undefined;
  readonly signingRegion: string;
  readonly invocationType: InvocationType;
  readonly logType: string | undefined;
  readonly headers: StandInRequest['headers'];
  readonly payload: Buffer;
  /** The payload, parsed. */
  readonly event: unknown;
}

export interface LambdaInvokeStandInOptions extends LoopbackServerOptions {
  readonly keys: IssuedKeys;
  /** How long the `slow` function takes (default 2000 ms). */
  readonly slowMs?: number;
  /** `Retry-After` of the `throttled` function, in seconds (default 1). */
  readonly retryAfterSeconds?: number;
}

export interface LambdaInvokeStandIn extends LoopbackServer {
  /** Accepted invocations, in order (refused calls are not recorded). */
  readonly invocations: readonly LambdaInvocation[];
  /** Calls refused before any function ran, with the error type Lambda would send. */
  readonly refusals: readonly string[];
}

interface FunctionResult {
  readonly payload: unknown;
  readonly functionError?: 'Unhandled' | 'Handled';
  readonly log?: readonly string[];
}

type HostedFunction = (event: Record<string, unknown>, options: { slowMs: number }) => FunctionResult | Promise<FunctionResult>;

function isV1(event: Record<string, unknown>): boolean {
  return event.version === '1.0' || (event.httpMethod !== undefined && event.version === undefined);
}

const FUNCTIONS: Readonly<Record<string, HostedFunction>> = {
  greet: (event) => {
    const query = (event.queryStringParameters ?? {}) as Record<string, string>;
    const name = query.name ?? (typeof event.name === 'string' ? event.name : 'World');
    return { payload: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(`Hello, ${name}!`) }, log: [`greeting ${name}`] };
  },
  echo: (event) => ({ payload: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) }, log: [JSON.stringify(event)] }),
  cookies: (event) => {
    const cookies = ['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600'];
    return isV1(event)
      ? { payload: { statusCode: 200, multiValueHeaders: { 'set-cookie': cookies }, body: 'two cookies' } }
      : { payload: { statusCode: 200, cookies, body: 'two cookies' } };
  },
  binary: () => ({ payload: { statusCode: 200, headers: { 'content-type': 'image/png' }, body: BINARY_FUNCTION_BYTES.toString('base64'), isBase64Encoded: true } }),
  'bare-json': () => ({ payload: { message: 'Hello from Lambda!', answer: 42 } }),
  failing: () => ({
    payload: { errorType: 'Error', errorMessage: 'something broke', stackTrace: FAILING_FUNCTION_STACK },
    functionError: 'Unhandled',
    log: FAILING_FUNCTION_STACK,
  }),
  slow: async (_, { slowMs }) => {
    await new Promise((resolve) => setTimeout(resolve, slowMs).unref());
    return { payload: { statusCode: 200, body: 'slow' } };
  },
};

function lambdaError(status: number, type: string, message: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}): StandInAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID(), ...headers },
    body: JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', message, ...extra }),
    operation: 'Invoke',
  };
}

// The verifier's refusal codes → the error types Lambda answers with.
const SIGNATURE_ERROR_TYPES: Readonly<Record<string, string>> = {
  SignatureDoesNotMatch: 'InvalidSignatureException',
  IncompleteSignature: 'IncompleteSignatureException',
  MissingAuthenticationToken: 'MissingAuthenticationTokenException',
  InvalidClientTokenId: 'UnrecognizedClientException',
  ExpiredToken: 'ExpiredTokenException',
};

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** The Lambda log of one invocation: START, the function's lines, END, REPORT. */
function invocationLog(requestId: string, version: string, lines: readonly string[]): string {
  const body = lines.map((l) => `${new Date().toISOString()}\t${requestId}\tINFO\t${l}\n`).join('');
  return `START RequestId: ${requestId} Version: ${version}\n${body}END RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\n`;
}

export async function startLambdaInvokeStandIn(options: LambdaInvokeStandInOptions): Promise<LambdaInvokeStandIn> {
  const invocations: LambdaInvocation[] = [];
  const refusals: string[] = [];
  const slowMs = options.slowMs ?? 2000;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const refuse = (answer: StandInAnswer, type: string): StandInAnswer => {
    refusals.push(type);
    return answer;
  };

  const server = await startLoopbackServer(async (request) => {
    const m = INVOKE_PATH.exec(request.path);
    if (request.method !== 'POST' || m === null) {
      return refuse(lambdaError(404, 'UnknownOperationException', 'Unknown operation'), 'UnknownOperationException');
    }
    const check = await verifySigV4(request, options.keys, 'lambda');
    if (!check.ok) {
      const type = SIGNATURE_ERROR_TYPES[check.code] ?? check.code;
      return refuse(lambdaError(check.status, type, check.message), type);
    }

    const functionName = decodeURIComponent(m[1] ?? '');
    const ref = FUNCTION_REF.exec(functionName);
    if (ref === null) {
      return refuse(lambdaError(400, 'ValidationException', `1 validation error detected: Value '${functionName}' at 'functionName' failed to satisfy constraint`), 'ValidationException');
    }
    const [, arnRegion, , , name = '', qualifierInName] = ref;
    const qualifierInQuery = new URLSearchParams(request.query).get('Qualifier') ?? undefined;
    if (qualifierInName !== undefined && qualifierInQuery !== undefined && qualifierInName !== qualifierInQuery) {
      return refuse(lambdaError(400, 'InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.'), 'InvalidParameterValueException');
    }
    if (arnRegion !== undefined && arnRegion !== check.region) {
      return refuse(lambdaError(403, 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${check.region}'.`), 'InvalidSignatureException');
    }
    const qualifier = qualifierInQuery ?? qualifierInName;
    const invocationType = (single(request.headers['x-amz-invocation-type']) ?? 'RequestResponse') as InvocationType;
    if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
      return refuse(lambdaError(400, 'InvalidParameterValueException', `Unsupported invocation type ${String(invocationType)}`), 'InvalidParameterValueException');
    }
    const limit = invocationType === 'Event' ? LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES : LAMBDA_SYNC_PAYLOAD_LIMIT_BYTES;
    if (request.body.length > limit) {
      return refuse(lambdaError(413, 'RequestEntityTooLargeException', `Request must be smaller than ${limit} bytes for the InvokeFunction operation`), 'RequestEntityTooLargeException');
    }
    if (name === 'throttled') {
      return refuse(
        lambdaError(429, 'TooManyRequestsException', 'Rate Exceeded.', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' }, { 'retry-after': String(retryAfterSeconds) }),
        'TooManyRequestsException',
      );
    }
    const fn = FUNCTIONS[name];
    const version = qualifier === undefined || qualifier === '$LATEST' ? '$LATEST' : /^\d+$/.test(qualifier) ? qualifier : '1';
    if (fn === undefined) {
      const arn = `arn:aws:lambda:${check.region}:123456789012:function:${name}${qualifier === undefined ? '' : `:${qualifier}`}`;
      return refuse(lambdaError(404, 'ResourceNotFoundException', `Function not found: ${arn}`), 'ResourceNotFoundException');
    }
    let event: unknown;
    try {
      event = request.body.length === 0 ? {} : (JSON.parse(request.body.toString('utf8')) as unknown);
    } catch {
      return refuse(lambdaError(400, 'InvalidRequestContentException', 'Could not parse request body into json'), 'InvalidRequestContentException');
    }
    const logType = single(request.headers['x-amz-log-type']);
    invocations.push({ name, functionName, qualifier, arnRegion, signingRegion: check.region, invocationType, logType, headers: request.headers, payload: request.body, event });

    const requestId = randomUUID();
    const baseHeaders = { 'x-amzn-requestid': requestId, 'x-amzn-trace-id': `root=1-${Date.now().toString(16)}-${requestId.replace(/-/g, '').slice(0, 24)};sampled=0` };
    const eventObject = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
    if (invocationType === 'DryRun') return { status: 204, headers: baseHeaders, operation: 'Invoke' };
    if (invocationType === 'Event') {
      void Promise.resolve(fn(eventObject, { slowMs })).catch(() => undefined);
      return { status: 202, headers: baseHeaders, operation: 'Invoke' };
    }
    const result = await fn(eventObject, { slowMs });
    const headers: Record<string, string> = { ...baseHeaders, 'content-type': 'application/json', 'x-amz-executed-version': version };
    if (result.functionError !== undefined) headers['x-amz-function-error'] = result.functionError;
    if (logType === 'Tail') {
      const log = Buffer.from(invocationLog(requestId, version, result.log ?? []), 'utf8');
      headers['x-amz-log-result'] = log.subarray(Math.max(0, log.length - LOG_TAIL_BYTES)).toString('base64');
    }
    return { status: 200, headers, body: JSON.stringify(result.payload), operation: 'Invoke' };
  }, options);

  return Object.assign(server, { invocations, refusals });
}

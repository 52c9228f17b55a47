// Invoke API answers → client responses, with Lambda's error semantics (API_Invoke.html, AWS-NOTES.md).
import {
  checkPayloadSize,
  DEFAULT_ASYNC_PAYLOAD_LIMIT_BYTES,
  DEFAULT_SYNC_PAYLOAD_LIMIT_BYTES,
  type InvokeAnswerOptions,
  interpretInvokeAnswer,
} from '../../../../src/invoke/lambda/invoke-answer';
import type { HeaderList } from '../../../../src/invoke/client-request';

const sync: InvokeAnswerOptions = { invocationType: 'RequestResponse', eventFormat: 'apigw_v2' };
const REQUEST_ID = 'e5b2a4a0-0d3e-4c3f-9f5e-0a1b2c3d4e5f';

function answer(status: number, headers: HeaderList, body: unknown = '') {
  return { status, headers: [['x-amzn-requestid', REQUEST_ID], ...headers] as HeaderList, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) };
}

function bodyOf(r: { body: Buffer }): unknown {
  return JSON.parse(r.body.toString());
}

describe('successful invocations', () => {
  it('RequestResponse: the decoded proxy response plus x-amzn-requestid; X-Amz-Log-Result decoded, never relayed', () => {
    const log = 'START RequestId: x\nhello log\nEND RequestId: x\n';
    const o = interpretInvokeAnswer(
      answer(200, [['x-amz-log-result', Buffer.from(log).toString('base64')], ['x-amz-executed-version', '$LATEST']], { statusCode: 201, body: 'ok', cookies: ['a=1'] }),
      sync,
    );
    expect(o.code).toBeUndefined();
    expect(o.response.status).toBe(201);
    expect(o.response.body.toString()).toBe('ok');
    expect(o.response.headers).toEqual([['set-cookie', 'a=1'], ['x-amzn-requestid', REQUEST_ID]]);
    expect(o.response.headers.some(([n]) => n === 'x-amz-log-result')).toBe(false);
    expect(o.logTail).toBe(log);
    expect(o.awsRequestId).toBe(REQUEST_ID);
  });

  it('Event → 202 and DryRun → 204, empty bodies', () => {
    const e = interpretInvokeAnswer(answer(202, []), { ...sync, invocationType: 'Event' });
    expect(e.response).toEqual({ status: 202, headers: [['x-amzn-requestid', REQUEST_ID]], body: Buffer.alloc(0) });
    const d = interpretInvokeAnswer(answer(204, []), { ...sync, invocationType: 'DryRun' });
    expect(d.response.status).toBe(204);
    expect(d.code).toBeUndefined();
  });

  it('a malformed proxy response → 502 ERR_FUNCTION_RESPONSE (request id still relayed)', () => {
    const o = interpretInvokeAnswer(answer(200, [], { body: 'no status' }), { ...sync, eventFormat: 'apigw_v1' });
    expect(o.code).toBe('ERR_FUNCTION_RESPONSE');
    expect(o.response.status).toBe(502);
    expect(o.response.headers).toContainEqual(['x-amzn-requestid', REQUEST_ID]);
  });
});

describe('function errors', () => {
  const failure = { errorMessage: 'boom', errorType: 'TypeError', stackTrace: ['at handler (/var/task/index.js:3:9)', 'at secret-internal.js'], trace: ['x'] };

  it.each(['Unhandled', 'Handled'])('X-Amz-Function-Error: %s → 502 {message, errorType}, no stack trace', (kind) => {
    const o = interpretInvokeAnswer(answer(200, [['x-amz-function-error', kind]], failure), sync);
    expect(o.code).toBe('ERR_FUNCTION_ERROR');
    expect(o.response.status).toBe(502);
    expect(bodyOf(o.response)).toEqual({ message: 'boom', errorType: 'TypeError' });
    expect(o.response.body.toString()).not.toContain('index.js');
    expect(o.errorType).toBe('TypeError');
  });

  it('function_error_status sets the status; a payload without errorMessage still answers', () => {
    const o = interpretInvokeAnswer(answer(200, [['x-amz-function-error', 'Unhandled']], 'Task timed out'), { ...sync, functionErrorStatus: 504 });
    expect(o.response.status).toBe(504);
    expect(bodyOf(o.response)).toEqual({ message: 'the function failed (Unhandled)', errorType: 'Unhandled' });
  });

  it('an Event invocation is never a function error (Lambda answers 202), but the header is honoured if present', () => {
    const o = interpretInvokeAnswer(answer(202, [['x-amz-function-error', 'Unhandled']], failure), { ...sync, invocationType: 'Event' });
    expect(o.code).toBe('ERR_FUNCTION_ERROR');
  });
});

describe('Invoke API errors', () => {
  it('429 TooManyRequestsException → 429 with Retry-After, ERR_LAMBDA_THROTTLED', () => {
    const o = interpretInvokeAnswer(
      answer(429, [['x-amzn-errortype', 'TooManyRequestsException'], ['retry-after', '3']], { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' }),
      sync,
    );
    expect(o.code).toBe('ERR_LAMBDA_THROTTLED');
    expect(o.response.status).toBe(429);
    expect(o.response.headers).toContainEqual(['retry-after', '3']);
    expect(o.response.headers).toContainEqual(['x-amzn-requestid', REQUEST_ID]);
    expect(bodyOf(o.response)).toEqual({ message: 'Lambda throttled the invocation (TooManyRequestsException)' });
    expect(o.awsMessage).toBe('Rate Exceeded.');
  });

  it.each([
    [404, [['x-amzn-errortype', 'ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.lambda/']], { Type: 'User', message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope' }, 'ResourceNotFoundException'],
    [403, [], { __type: 'com.amazon.coral.service#AccessDeniedException', Message: 'not authorized' }, 'AccessDeniedException'],
    [502, [['x-amzn-errortype', 'KMSAccessDeniedException']], { Type: 'User', message: 'Lambda was unable to decrypt' }, 'KMSAccessDeniedException'],
    [500, [], { Type: 'ServiceException' }, 'ServiceException'],
    [503, [], 'Service Unavailable', 'HTTP 503'],
    [200, [], 'not what an Event call answers', 'HTTP 200'],
  ] as Array<[number, HeaderList, unknown, string]>)('%i → 502 ERR_LAMBDA_API naming %s', (status, headers, body, type) => {
    const o = interpretInvokeAnswer(answer(status, headers, body), { ...sync, invocationType: status === 200 ? 'Event' : 'RequestResponse' });
    expect(o.code).toBe('ERR_LAMBDA_API');
    expect(o.response.status).toBe(502);
    expect(o.errorType).toBe(type);
    expect(bodyOf(o.response)).toEqual({ message: `Lambda's Invoke API refused the call: ${type} (${status})` });
    expect(o.response.body.toString()).not.toContain('arn:aws');
  });

  it('413 RequestEntityTooLargeException → 413 ERR_BODY_TOO_LARGE', () => {
    const o = interpretInvokeAnswer(answer(413, [['x-amzn-errortype', 'RequestEntityTooLargeException']], { message: 'too large' }), sync);
    expect(o.code).toBe('ERR_BODY_TOO_LARGE');
    expect(o.response.status).toBe(413);
  });
});

describe('payload limits, after encoding', () => {
  function code(bytes: number, type: 'RequestResponse' | 'Event' | 'DryRun'): string | undefined {
    try {
      checkPayloadSize(bytes, type);
    } catch (err) {
      return `${(err as { code: string }).code} ${(err as { status: number }).status}`;
    }
    return undefined;
  }

  it('6 MB (6,291,456 bytes) synchronous, 1 MB Event', () => {
    expect(DEFAULT_SYNC_PAYLOAD_LIMIT_BYTES).toBe(6_291_456);
    expect(DEFAULT_ASYNC_PAYLOAD_LIMIT_BYTES).toBe(1_048_576);
    expect(code(6_291_456, 'RequestResponse')).toBeUndefined();
    expect(code(6_291_457, 'RequestResponse')).toBe('ERR_BODY_TOO_LARGE 413');
    expect(code(6_291_457, 'DryRun')).toBe('ERR_BODY_TOO_LARGE 413');
    expect(code(1_048_576, 'Event')).toBeUndefined();
    expect(code(1_048_577, 'Event')).toBe('ERR_BODY_TOO_LARGE 413');
  });

  it('limits are configurable', () => {
    expect(() => checkPayloadSize(11, 'RequestResponse', { syncBytes: 10, asyncBytes: 5 })).toThrow(/above Lambda's 10-byte limit/);
    expect(() => checkPayloadSize(6, 'Event', { syncBytes: 10, asyncBytes: 5 })).toThrow(/5-byte limit for Event/);
  });
});

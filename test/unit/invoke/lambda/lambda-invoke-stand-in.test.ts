// The Lambda Invoke API stand-in's own checks (if it is wrong, every test built on it proves
// nothing), then a round trip through the new modules: request → v2 event → signed Invoke call
// through undici → answer decoded as the client would get it.
import { Agent } from 'undici';
import { amzDate, signSigV4 } from '../../../../src/aws/sigv4';
import { buildInvokePayload, type EventContext, type EventFormat } from '../../../../src/invoke/lambda/apigw-event';
import { parseFunctionName } from '../../../../src/config/function-name';
import { type InvocationType, type InvokeOutcome, interpretInvokeAnswer } from '../../../../src/invoke/lambda/invoke-answer';
import type { HeaderList, ClientRequest } from '../../../../src/invoke/client-request';
import { type IssuedCredentials, IssuedKeys } from '../../../support/aws/issued-keys';
import {
  BINARY_FUNCTION_BYTES,
  FAILING_FUNCTION_STACK,
  LOG_TAIL_BYTES,
  type LambdaInvokeStandIn,
  startLambdaInvokeStandIn,
} from '../../../support/aws/lambda-invoke-stand-in';

const REGION = 'us-east-1';

let keys: IssuedKeys;
let creds: IssuedCredentials;
let standIn: LambdaInvokeStandIn;
let agent: Agent;

beforeAll(async () => {
  keys = new IssuedKeys();
  creds = keys.issueTemporary('sts:AssumeRole', 3_600_000);
  standIn = await startLambdaInvokeStandIn({ keys, slowMs: 300, retryAfterSeconds: 7 });
  agent = new Agent({ connections: 4 });
});

afterAll(async () => {
  await agent.close();
  await standIn.close();
});

interface CallOptions {
  readonly functionName: string;
  readonly qualifier?: string;
  readonly payload: Buffer;
  readonly invocationType?: InvocationType;
  readonly logType?: 'None' | 'Tail';
  readonly region?: string;
  /** Default `lambda`. */
  readonly service?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Changes the body after signing. */
  readonly tamper?: boolean;
}

/** One Invoke API call, signed with the sidecar's own signer, sent through undici as a target would. */
async function invoke(opts: CallOptions): Promise<{ status: number; headers: HeaderList; body: Buffer }> {
  const ref = parseFunctionName('test', opts.functionName, opts.qualifier);
  const host = new URL(standIn.url).host;
  const c = opts.credentials ?? creds;
  const date = amzDate(new Date());
  const headers: Array<[string, string]> = [
    ['host', host],
    ['content-type', 'application/json'],
    ['x-amz-date', date],
    ['x-amz-invocation-type', opts.invocationType ?? 'RequestResponse'],
    ['x-amz-log-type', opts.logType ?? 'None'],
  ];
  if (c.sessionToken !== undefined) headers.push(['x-amz-security-token', c.sessionToken]);
  const authorization = signSigV4(
    { method: 'POST', path: ref.invokePath, query: ref.invokeQuery, headers, body: opts.payload },
    { region: opts.region ?? ref.region ?? REGION, service: opts.service ?? 'lambda' },
    c,
    date,
  );
  const body = opts.tamper === true ? Buffer.concat([opts.payload, Buffer.from(' ')]) : opts.payload;
  const res = await agent.request({
    origin: standIn.url,
    path: ref.invokeQuery === '' ? ref.invokePath : `${ref.invokePath}?${ref.invokeQuery}`,
    method: 'POST',
    headers: [...headers.filter(([n]) => n !== 'host'), ['authorization', authorization]].flat(),
    body,
  });
  const out: HeaderList = [];
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of Array.isArray(value) ? value : [value ?? '']) out.push([name, v]);
  }
  return { status: res.statusCode, headers: out, body: Buffer.from(await res.body.arrayBuffer()) };
}

function header(headers: HeaderList, name: string): string | undefined {
  return headers.find(([n]) => n === name)?.[1];
}

const CONTEXT: EventContext = { sourceIp: '127.0.0.1', protocol: 'HTTP/1.1', requestId: 'req-1', nowMs: Date.UTC(2026, 11, 1, 12) };

function clientRequest(r: Partial<ClientRequest>): ClientRequest {
  return { method: 'GET', path: '/aws', query: '', host: 'sidecar.example:8080', headers: [['user-agent', 'curl/8.5.0']], body: null, ...r };
}

/** The whole pipeline the Lambda target will run: event, signed call, answer mapping. */
async function roundTrip(
  functionName: string,
  req: ClientRequest,
  opts: { format?: EventFormat; invocationType?: InvocationType; qualifier?: string; rest?: string } = {},
): Promise<InvokeOutcome> {
  const format = opts.format ?? 'apigw_v2';
  const invocationType = opts.invocationType ?? 'RequestResponse';
  const payload = buildInvokePayload(format, req, { ...CONTEXT, rest: opts.rest });
  const answer = await invoke({ functionName, qualifier: opts.qualifier, payload, invocationType, logType: 'Tail' });
  return interpretInvokeAnswer(answer, { invocationType, eventFormat: format });
}

describe('the stand-in', () => {
  it('refuses a bad signature (tampered body), an unknown key and a wrong service, and records nothing', async () => {
    const before = standIn.invocations.length;
    const payload = Buffer.from('{}');
    const tampered = await invoke({ functionName: 'echo', payload, tamper: true });
    expect([tampered.status, header(tampered.headers, 'x-amzn-errortype')]).toEqual([403, 'InvalidSignatureException']);
    const unknown = await invoke({ functionName: 'echo', payload, credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' } });
    expect([unknown.status, header(unknown.headers, 'x-amzn-errortype')]).toEqual([403, 'UnrecognizedClientException']);
    const wrongSecret = await invoke({ functionName: 'echo', payload, credentials: { ...creds, secretAccessKey: 'wrong' } });
    expect([wrongSecret.status, header(wrongSecret.headers, 'x-amzn-errortype')]).toEqual([403, 'InvalidSignatureException']);
    const apiGatewayScope = await invoke({ functionName: 'echo', payload, service: 'execute-api' });
    expect([apiGatewayScope.status, JSON.parse(apiGatewayScope.body.toString()).message]).toEqual([403, "Credential should be scoped to correct service: 'lambda'."]);
    const unsigned = await agent.request({ origin: standIn.url, path: '/2015-03-31/functions/echo/invocations', method: 'POST', body: '{}' });
    expect([unsigned.statusCode, unsigned.headers['x-amzn-errortype']]).toEqual([403, 'MissingAuthenticationTokenException']);
    await unsigned.body.dump();
    expect(standIn.invocations.length).toBe(before);
  });

  it('records each event, with qualifier and invocation type; the ARN region must be the signing region', async () => {
    const payload = Buffer.from('{"k":"v"}');
    const ok = await invoke({ functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:echo:live', payload, region: 'eu-west-1' });
    expect(ok.status).toBe(200);
    expect(standIn.invocations.at(-1)).toMatchObject({ name: 'echo', qualifier: 'live', arnRegion: 'eu-west-1', signingRegion: 'eu-west-1', invocationType: 'RequestResponse', event: { k: 'v' } });
    const wrongRegion = await invoke({ functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:echo', payload, region: 'us-east-1' });
    expect(wrongRegion.status).toBe(403);
  });

  it('Event → 202, DryRun → 204 (nothing runs), unknown function → 404 ResourceNotFoundException', async () => {
    expect((await invoke({ functionName: 'echo', payload: Buffer.from('{}'), invocationType: 'Event' })).status).toBe(202);
    expect((await invoke({ functionName: 'echo', payload: Buffer.from('{}'), invocationType: 'DryRun' })).status).toBe(204);
    const missing = await invoke({ functionName: 'not-found', payload: Buffer.from('{}') });
    expect([missing.status, header(missing.headers, 'x-amzn-errortype')]).toEqual([404, 'ResourceNotFoundException']);
    expect(JSON.parse(missing.body.toString())).toMatchObject({ Type: 'User', message: expect.stringMatching(/^Function not found: arn:aws:lambda:us-east-1:/) as unknown });
  });

  it('X-Amz-Log-Type Tail: base64 of the last 4 KB of the log', async () => {
    const big = Buffer.from(JSON.stringify({ blob: 'x'.repeat(10_000) }));
    const res = await invoke({ functionName: 'echo', payload: big, logType: 'Tail' });
    const tail = Buffer.from(header(res.headers, 'x-amz-log-result') ?? '', 'base64');
    expect(tail.length).toBe(LOG_TAIL_BYTES);
    expect(tail.toString()).toMatch(/REPORT RequestId: [0-9a-f-]+\tDuration/);
    const none = await invoke({ functionName: 'echo', payload: Buffer.from('{}') });
    expect(header(none.headers, 'x-amz-log-result')).toBeUndefined();
  });

  it('payloads must be JSON and within 1 MB for Event', async () => {
    const notJson = await invoke({ functionName: 'echo', payload: Buffer.from('not json') });
    expect([notJson.status, header(notJson.headers, 'x-amzn-errortype')]).toEqual([400, 'InvalidRequestContentException']);
    const big = await invoke({ functionName: 'echo', payload: Buffer.from(JSON.stringify('x'.repeat(1_048_576))), invocationType: 'Event' });
    expect([big.status, header(big.headers, 'x-amzn-errortype')]).toEqual([413, 'RequestEntityTooLargeException']);
  });
});

describe('round trip: request → event → signed Invoke → client response', () => {
  it('greet through function_name answers the seed\'s "Hello, APISIX!"', async () => {
    const o = await roundTrip('greet', clientRequest({ query: 'name=APISIX' }));
    expect([o.response.status, o.response.body.toString(), o.code]).toEqual([200, '"Hello, APISIX!"', undefined]);
    expect(header(o.response.headers, 'x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(header(o.response.headers, 'x-amz-log-result')).toBeUndefined();
    expect(o.logTail).toContain('greeting APISIX');
  });

  it('echo: the function received the v2 event we built, byte for byte in its fields', async () => {
    const req = clientRequest({
      method: 'POST',
      path: '/aws/a%2Fb/c',
      query: 'x=1&x=2&y=%E2%82%AC',
      headers: [['user-agent', 'curl/8.5.0'], ['x-multi', 'a'], ['x-multi', 'b'], ['cookie', 'c1=1; c2=2'], ['content-type', 'application/json']],
      body: Buffer.from('{"hello":"world"}'),
    });
    const o = await roundTrip('echo', req, { rest: 'a%2Fb/c' });
    const received = standIn.invocations.at(-1)?.event;
    expect(JSON.parse(o.response.body.toString())).toEqual(received);
    expect(received).toMatchObject({
      version: '2.0',
      rawPath: '/aws/a%2Fb/c',
      rawQueryString: 'x=1&x=2&y=%E2%82%AC',
      cookies: ['c1=1', 'c2=2'],
      headers: { host: 'sidecar.example:8080', 'x-multi': 'a,b', 'user-agent': 'curl/8.5.0', 'content-type': 'application/json' },
      queryStringParameters: { x: '1,2', y: '€' },
      pathParameters: { proxy: 'a%2Fb/c' },
      requestContext: { domainName: 'sidecar.example', http: { method: 'POST', path: '/aws/a%2Fb/c', sourceIp: '127.0.0.1', userAgent: 'curl/8.5.0' } },
      body: '{"hello":"world"}',
      isBase64Encoded: false,
    });
  });

  it('binary request body goes base64 and a binary answer comes back byte-exact', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    await roundTrip('echo', clientRequest({ method: 'PUT', headers: [['content-type', 'application/octet-stream']], body: bytes }));
    expect(standIn.invocations.at(-1)?.event).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
    const o = await roundTrip('binary', clientRequest({}));
    expect(o.response.body.equals(BINARY_FUNCTION_BYTES)).toBe(true);
    expect(header(o.response.headers, 'content-type')).toBe('image/png');
  });

  it('two cookies → two set-cookie headers, in v2 (cookies) and v1 (multiValueHeaders)', async () => {
    for (const format of ['apigw_v2', 'apigw_v1'] as const) {
      const o = await roundTrip('cookies', clientRequest({}), { format });
      expect(o.response.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600']);
    }
  });

  it('bare JSON object → 200 application/json with the payload as body', async () => {
    const o = await roundTrip('bare-json', clientRequest({}));
    expect([o.response.status, header(o.response.headers, 'content-type'), JSON.parse(o.response.body.toString())]).toEqual([200, 'application/json', { message: 'Hello from Lambda!', answer: 42 }]);
  });

  it('failing → 502 {message, errorType}, no stack trace', async () => {
    const o = await roundTrip('failing', clientRequest({}));
    expect([o.response.status, o.code, JSON.parse(o.response.body.toString())]).toEqual([502, 'ERR_FUNCTION_ERROR', { message: 'something broke', errorType: 'Error' }]);
    for (const line of FAILING_FUNCTION_STACK.slice(1)) expect(o.response.body.toString()).not.toContain(line.trim());
  });

  it('throttled → 429 with Lambda\'s Retry-After; not found → 502 naming ResourceNotFoundException', async () => {
    const t = await roundTrip('throttled', clientRequest({}));
    expect([t.response.status, t.code, header(t.response.headers, 'retry-after')]).toEqual([429, 'ERR_LAMBDA_THROTTLED', '7']);
    const n = await roundTrip('123456789012:function:not-found:3', clientRequest({}));
    expect([n.response.status, n.code, n.errorType]).toEqual([502, 'ERR_LAMBDA_API', 'ResourceNotFoundException']);
    expect(standIn.refusals.slice(-2)).toEqual(['TooManyRequestsException', 'ResourceNotFoundException']);
  });

  it('slow answers after its delay; Event and DryRun map to 202 and 204; $LATEST qualifier encoded and received', async () => {
    const started = Date.now();
    const s = await roundTrip('slow', clientRequest({}));
    expect([s.response.status, s.response.body.toString()]).toEqual([200, 'slow']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await roundTrip('echo', clientRequest({}), { invocationType: 'Event' })).response.status).toBe(202);
    expect((await roundTrip('echo', clientRequest({}), { invocationType: 'DryRun', qualifier: '$LATEST' })).response.status).toBe(204);
    expect(standIn.invocations.at(-1)).toMatchObject({ invocationType: 'DryRun', qualifier: '$LATEST' });
  });

  it('raw format: the body is the payload and the payload the body', async () => {
    const o = await roundTrip('greet', clientRequest({ method: 'POST', body: Buffer.from('{"name":"raw"}') }), { format: 'raw' });
    expect(standIn.invocations.at(-1)?.event).toEqual({ name: 'raw' });
    expect([o.response.status, header(o.response.headers, 'content-type')]).toEqual([200, 'application/json']);
    expect(JSON.parse(o.response.body.toString())).toMatchObject({ statusCode: 200, body: '"Hello, raw!"' });
  });
});

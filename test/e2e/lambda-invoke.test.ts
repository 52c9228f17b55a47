/**
 * Lambda Invoke targets (`function_name`, issue 11) end to end, through a real Envoy (ext_proc,
 * envoy/envoy.yaml) and through the HTTP front of the built sidecar, against the Lambda Invoke API
 * stand-in (SigV4 for service `lambda` checked with AWS's own signer). Also a function URL route
 * (`function_uri` + `service: lambda`) against a stand-in that requires service `lambda`.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import { IssuedKeys } from '../support/aws/issued-keys';
import { BINARY_FUNCTION_BYTES, LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES, startLambdaInvokeStandIn, type LambdaInvokeStandIn } from '../support/aws/lambda-invoke-stand-in';
import { sendHttp1, type ClientResponse } from './scenarios';
import { freeEnvoyPorts, renderEnvoyConfig, startEnvoy, startPlainUpstream, startSidecar, waitFor, type EnvoyProcess, type PlainUpstream, type SidecarProcess } from './support/processes';

jest.setTimeout(60_000);

const REGION = 'us-east-1';
const WAIT_MS = 5_000;

let dir: string;
let keys: IssuedKeys;
let lambda: LambdaInvokeStandIn;
let functionUrl: StandIn;
let upstream: PlainUpstream;
let sidecar: SidecarProcess;
let envoy: EnvoyProcess;
let envoyAuthz: EnvoyProcess;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-invoke-e2e-'));
  keys = new IssuedKeys();
  const creds = keys.issueLongTerm();
  lambda = await startLambdaInvokeStandIn({ keys });
  const iam = { accesskey: creds.accessKeyId, secret_key: creds.secretAccessKey, aws_region: REGION };
  functionUrl = await startStandIn({ iam: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, region: REGION, service: 'lambda' } });
  const invoke = (id: string, uri: string, fields: Record<string, unknown>): Record<string, unknown> => ({
    id,
    uri,
    plugins: { 'aws-lambda': { endpoint: lambda.url, authorization: { iam }, ...fields } },
  });
  const routes = [
    invoke('greet', '/aws', { function_name: 'greet' }),
    invoke('echo-v2', '/echo/v2/*', { function_name: 'echo' }),
    invoke('echo-v1', '/echo/v1/*', { function_name: 'echo', event_format: 'apigw_v1' }),
    invoke('echo-raw', '/echo/raw', { function_name: 'echo', event_format: 'raw' }),
    invoke('cookies-v2', '/cookies/v2', { function_name: 'cookies' }),
    invoke('cookies-v1', '/cookies/v1', { function_name: 'cookies', event_format: 'apigw_v1' }),
    invoke('binary', '/binary', { function_name: 'binary' }),
    invoke('bare', '/bare', { function_name: 'bare-json' }),
    invoke('qualified', '/qualified', { function_name: 'greet', qualifier: 'live' }),
    invoke('full-arn', '/arn', { function_name: 'arn:aws:lambda:eu-west-1:123456789012:function:greet:7' }),
    invoke('partial-arn', '/partial-arn', { function_name: '123456789012:function:greet' }),
    invoke('event', '/event', { function_name: 'greet', invocation_type: 'Event' }),
    invoke('dry-run', '/dry-run', { function_name: 'greet', invocation_type: 'DryRun' }),
    invoke('failing', '/failing', { function_name: 'failing', function_error_status: 500 }),
    invoke('throttled', '/throttled', { function_name: 'throttled' }),
    invoke('missing', '/missing', { function_name: 'no-such-function' }),
    invoke('tail', '/tail', { function_name: 'greet', log_type: 'Tail' }),
    // No keys in the route: the default credential chain (here its first link, the environment).
    { id: 'chain', uri: '/chain', plugins: { 'aws-lambda': { endpoint: lambda.url, function_name: 'greet', authorization: { iam: {} } } } },
    { id: 'function-url', uri: '/function-url', plugins: { 'aws-lambda': { function_uri: functionUrl.url, authorization: { iam: { ...iam, service: 'lambda' } } } } },
    { id: 'function-url-wrong-service', uri: '/function-url-execute-api', plugins: { 'aws-lambda': { function_uri: functionUrl.url, authorization: { iam } } } },
  ];
  const routesPath = path.join(dir, 'routes.json');
  fs.writeFileSync(routesPath, JSON.stringify({ routes }));
  // Only the route 'chain' reads these; AWS_REGION gives it its signing region.
  const chainEnv = { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_REGION: REGION };
  sidecar = await startSidecar(['--config', routesPath, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--log-level', 'debug'], { env: chainEnv });
  upstream = await startPlainUpstream();
  const ports = await freeEnvoyPorts(Number(sidecar.grpcAddress.split(':').pop()), upstream.port);
  envoy = await startEnvoy(renderEnvoyConfig('envoy/envoy.yaml', ports), ports, { name: 'envoy-lambda-invoke' });
  const authzPorts = await freeEnvoyPorts(Number(sidecar.grpcAddress.split(':').pop()), upstream.port);
  envoyAuthz = await startEnvoy(renderEnvoyConfig('envoy/envoy-ext-authz.yaml', authzPorts), authzPorts, { name: 'envoy-lambda-invoke-authz' });
});

afterAll(async () => {
  await Promise.all([envoy?.stop(), envoyAuthz?.stop()]);
  await sidecar?.stop();
  await Promise.all([lambda?.close(), functionUrl?.close(), upstream?.close()]);
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

type Door = 'ext_proc' | 'ext_authz' | 'http';
const port = (door: Door): number => (door === 'ext_proc' ? envoy.listenerPort : door === 'ext_authz' ? envoyAuthz.listenerPort : Number(sidecar.httpAddress?.split(':').pop()));

function json(res: ClientResponse): Record<string, unknown> {
  return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
}

/** The event the echo function received (it answers with it as its body). */
function echoed(res: ClientResponse): Record<string, unknown> {
  expect(res.status).toBe(200);
  return json(res);
}

describe.each(['ext_proc', 'ext_authz', 'http'] as const)('%s', (door) => {
  const send = (method: string, p: string, headers?: Record<string, string | string[]>, body?: Buffer | string): Promise<ClientResponse> =>
    sendHttp1(port(door), { method, path: p, headers, body });

  it("the seed's example through function_name: GET /aws?name=APISIX → \"Hello, APISIX!\", Lambda's request id relayed", async () => {
    const res = await send('GET', '/aws?name=APISIX');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('"Hello, APISIX!"');
    expect(res.headers['x-amzn-requestid']).toEqual(expect.any(String));
    const last = lambda.invocations[lambda.invocations.length - 1];
    expect(last).toMatchObject({ name: 'greet', functionName: 'greet', qualifier: undefined, signingRegion: REGION, invocationType: 'RequestResponse' });
  });

  it('a route without keys signs with the default credential chain (AWS_ACCESS_KEY_ID..., AWS_REGION)', async () => {
    const res = await send('GET', '/chain?name=chain');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('"Hello, chain!"');
    expect(lambda.invocations[lambda.invocations.length - 1]).toMatchObject({ name: 'greet', signingRegion: REGION });
  });

  it("X-Amzn-Trace-Id from the client's traceparent reaches the Invoke API, so Lambda's X-Ray joins the trace", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect((await send('GET', '/aws?name=traced', { traceparent })).status).toBe(200);
    const last = lambda.invocations[lambda.invocations.length - 1];
    expect(last.headers['x-amzn-trace-id']).toBe('Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1');
  });

  it('apigw_v2 event: raw path with %2F, raw query, repeated query keys and headers, cookies, pathParameters.proxy', async () => {
    const event = echoed(await send('GET', '/echo/v2/a%2Fb/c?x=1&x=2&y=%20z', { 'x-multi': ['one', 'two'], cookie: 'a=1; b=2', 'user-agent': 'e2e-agent' }));
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/echo/v2/a%2Fb/c',
      rawQueryString: 'x=1&x=2&y=%20z',
      cookies: ['a=1', 'b=2'],
      queryStringParameters: { x: '1,2', y: ' z' },
      pathParameters: { proxy: expect.stringMatching(/^a(%2F|\/)b\/c$/) },
      isBase64Encoded: false,
      requestContext: expect.objectContaining({
        stage: '$default',
        // The client's address: Envoy's source.address attribute (envoy.yaml), the HTTP front's peer.
        http: expect.objectContaining({ method: 'GET', path: '/echo/v2/a%2Fb/c', userAgent: 'e2e-agent', sourceIp: '127.0.0.1', protocol: 'HTTP/1.1' }),
        requestId: expect.any(String),
        timeEpoch: expect.any(Number),
      }),
    });
    expect((event.headers as Record<string, string>)['x-multi']).toBe('one,two');
    expect(event.headers).not.toHaveProperty('cookie');
  });

  it("the event's sourceIp is the client's address (sent from 127.0.0.2 so it cannot be the fallback)", async () => {
    const res = await new Promise<ClientResponse>((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: port(door), localAddress: '127.0.0.2', method: 'GET', path: '/echo/v2/ip', agent: false }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, headers: answer.headers, body: Buffer.concat(chunks) }));
      });
      r.on('error', reject);
      r.end();
    });
    const event = echoed(res);
    expect((event.requestContext as { http: { sourceIp: string } }).http.sourceIp).toBe('127.0.0.2');
  });

  it('apigw_v2 event: a binary body is base64-encoded byte-exact', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, 0xfe]);
    const event = echoed(await send('POST', '/echo/v2/bin', { 'content-type': 'application/octet-stream' }, bytes));
    expect(event).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
  });

  it('apigw_v1 event: multiValueHeaders, multiValueQueryStringParameters, pathParameters.proxy, textual body', async () => {
    const event = echoed(await send('POST', '/echo/v1/p/q?x=1&x=2', { 'x-multi': ['one', 'two'], 'content-type': 'application/json' }, '{"k":1}'));
    expect(event).toMatchObject({
      resource: '/{proxy+}',
      path: '/echo/v1/p/q',
      httpMethod: 'POST',
      multiValueQueryStringParameters: { x: ['1', '2'] },
      pathParameters: { proxy: 'p/q' },
      body: '{"k":1}',
      isBase64Encoded: false,
      requestContext: expect.objectContaining({ httpMethod: 'POST', stage: '$default' }),
    });
    expect((event.multiValueHeaders as Record<string, string[]>)['x-multi']).toEqual(['one', 'two']);
  });

  it('raw: the body is the payload; {} when empty; the answer is a 200 application/json body', async () => {
    const res = await send('POST', '/echo/raw', { 'content-type': 'application/json' }, '{"direct":true}');
    expect(res.status).toBe(200);
    // echo wraps what it got as an API Gateway answer; raw relays the payload itself as JSON.
    expect(json(res)).toMatchObject({ statusCode: 200, body: '{"direct":true}' });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const empty = await send('GET', '/echo/raw');
    expect(json(empty)).toMatchObject({ body: '{}' });
  });

  it.each(['v2', 'v1'])('cookies (%s): one set-cookie each', async (format) => {
    const res = await send('GET', `/cookies/${format}`);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600']);
    expect(res.body.toString()).toBe('two cookies');
  });

  it('binary answer: byte-exact (ext_authz: its documented 502, a denied_response body is a protobuf string)', async () => {
    const res = await send('GET', '/binary');
    if (door === 'ext_authz') {
      expect(res.status).toBe(502);
      expect(json(res).message).toContain('use the ext_proc filter');
      return;
    }
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.body.equals(BINARY_FUNCTION_BYTES)).toBe(true);
  });

  it('bare JSON answer: 200 application/json with the payload', async () => {
    const res = await send('GET', '/bare');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(json(res)).toEqual({ message: 'Hello from Lambda!', answer: 42 });
  });

  it.each([
    ['/qualified', { name: 'greet', qualifier: 'live', signingRegion: REGION }],
    ['/arn', { name: 'greet', functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:greet', qualifier: '7', arnRegion: 'eu-west-1', signingRegion: 'eu-west-1' }],
    ['/partial-arn', { name: 'greet', functionName: '123456789012:function:greet', qualifier: undefined, signingRegion: REGION }],
  ])('%s: the name, qualifier and region reach the Invoke API as given', async (p, expected) => {
    const before = lambda.invocations.length;
    const res = await send('GET', `${p}?name=Q`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('"Hello, Q!"');
    expect(lambda.invocations.slice(before)).toEqual([expect.objectContaining(expected)]);
  });

  it('Event: 202 with an empty body; DryRun: 204', async () => {
    const event = await send('GET', '/event?name=E');
    expect(event.status).toBe(202);
    expect(event.body.length).toBe(0);
    expect(event.headers['x-amzn-requestid']).toEqual(expect.any(String));
    const dry = await send('GET', '/dry-run');
    expect(dry.status).toBe(204);
    expect(dry.body.length).toBe(0);
  });

  it('a function error: function_error_status with {message, errorType}, never the stack trace', async () => {
    const res = await send('GET', '/failing');
    expect(res.status).toBe(500);
    expect(json(res)).toEqual({ message: 'something broke', errorType: 'Error' });
    expect(res.body.toString()).not.toContain('Runtime.handler');
  });

  it('throttled: 429 with Retry-After', async () => {
    const res = await send('GET', '/throttled');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(json(res).message).toContain('TooManyRequestsException');
  });

  it('an unknown function: 502 ERR_LAMBDA_API naming the AWS error type', async () => {
    const res = await send('GET', '/missing');
    expect(res.status).toBe(502);
    expect(json(res).message).toContain('ResourceNotFoundException');
  });

  it('a payload over the Event limit: 413 before anything is sent', async () => {
    const before = { invocations: lambda.invocations.length, refusals: lambda.refusals.length, calls: lambda.calls('Invoke') };
    const res = await send('POST', '/event', { 'content-type': 'application/octet-stream' }, Buffer.alloc(LAMBDA_ASYNC_PAYLOAD_LIMIT_BYTES, 1));
    expect(res.status).toBe(413);
    expect(json(res).message).toContain("Lambda's 1048576-byte limit");
    expect({ invocations: lambda.invocations.length, refusals: lambda.refusals.length, calls: lambda.calls('Invoke') }).toEqual(before);
  });

  it('log_type Tail: the tail goes to our debug log, X-Amz-Log-Result never to the client', async () => {
    const before = sidecar.logLines().length;
    const res = await send('GET', '/tail?name=Tailed');
    expect(res.status).toBe(200);
    expect(res.headers).not.toHaveProperty('x-amz-log-result');
    expect(lambda.invocations[lambda.invocations.length - 1]).toMatchObject({ logType: 'Tail' });
    await waitFor('the log tail line', () => sidecar.logLines().slice(before).some((l) => l.msg === 'function log tail'), WAIT_MS);
    const line = sidecar.logLines().slice(before).find((l) => l.msg === 'function log tail');
    expect(line).toMatchObject({ level: 20, route: 'tail', logTail: expect.stringContaining('greeting Tailed') });
  });

  it('a function URL with service lambda: signed for lambda and answered; execute-api is refused by the same URL', async () => {
    const res = await send('GET', '/function-url?name=URL');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('Hello, URL!');
    const wrong = await send('GET', '/function-url-execute-api?name=URL');
    expect(wrong.status).toBe(403);
  });
});

// Tests of the API-Gateway/Lambda stand-in itself: if it is wrong, every sidecar test built on it
// proves nothing. Clients here sign with the AWS SDK's signer, exactly as a client would.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Agent, request } from 'undici';
import { MAX_RECEIVED_REQUESTS, parseRawQuery, startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import { generateTlsMaterial, type TlsMaterial } from '../../demo/tls';

const IAM = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1', service: 'execute-api' };
const API_KEY = 'test-api-key-123';
const SIGNATURE_MISMATCH = 'The request signature we calculated does not match the signature you provided.';

/** Every byte value, several times, with an odd tail. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 * 3 + 17 }, (_, i) => (i * 7 + 3) & 255));

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface SendOptions {
  method?: string;
  /** Wire path and query exactly as they go on the wire (no URL normalisation by undici). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function send(dispatcher: Agent, standIn: StandIn, opts: SendOptions): Promise<Sent> {
  // Dispatcher#request takes origin and path verbatim; undici.request(url) would run the path
  // through WHATWG URL parsing first.
  const res = await dispatcher.request({
    origin: standIn.url,
    path: opts.path,
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body,
  });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

function bodyJson(sent: Sent): Record<string, unknown> {
  return JSON.parse(sent.body.toString('utf8')) as Record<string, unknown>;
}

interface SignOptions {
  method?: string;
  /** The path as it will travel (already percent-encoded). */
  path: string;
  /** The decoded query a client hands its signer. */
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: Buffer | string;
  sessionToken?: string;
  secretAccessKey?: string;
  signingDate?: Date;
  applyChecksum?: boolean;
  /** Headers smithy would otherwise leave unsigned (user-agent, expect, ...). */
  signableHeaders?: Set<string>;
}

/** Signs like an SDK client and returns the headers to send (host left to undici). */
async function signHeaders(standIn: StandIn, opts: SignOptions): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: IAM.accessKeyId,
      secretAccessKey: opts.secretAccessKey ?? IAM.secretAccessKey,
      sessionToken: opts.sessionToken,
    },
    region: IAM.region,
    service: IAM.service,
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: opts.applyChecksum,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: opts.method ?? 'GET',
      protocol: 'https:',
      hostname: '127.0.0.1',
      port: standIn.port,
      path: opts.path,
      query: opts.query ?? {},
      headers: { host: `127.0.0.1:${standIn.port}`, ...opts.headers },
      body: opts.body,
    }),
    { signingDate: opts.signingDate ?? new Date(), signableHeaders: opts.signableHeaders },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    if (name.toLowerCase() !== 'host') headers[name] = value;
  }
  return headers;
}

describe('parseRawQuery', () => {
  it('splits on & and the first =, decodes each side, keeps + literal and repeated keys', () => {
    const query = parseRawQuery('a=1&a=2&b=&flag&plus=a+b&enc=a%2Bb&eq=x=y&sp=%20&&%E2%9C%93=%26%3D');
    expect({ ...query }).toEqual({ a: ['1', '2'], b: '', flag: '', plus: 'a+b', enc: 'a+b', eq: 'x=y', sp: ' ', '✓': '&=' });
  });

  it('returns an empty object for an empty query and keeps __proto__ as data', () => {
    expect(Object.keys(parseRawQuery(''))).toEqual([]);
    const query = parseRawQuery('__proto__=x&constructor=y');
    expect(Object.keys(query)).toEqual(['__proto__', 'constructor']);
    expect(query['__proto__']).toBe('x');
  });

  it('throws on malformed percent-encoding', () => {
    expect(() => parseRawQuery('a=%zz')).toThrow(/malformed percent-encoding/);
    expect(() => parseRawQuery('a=%E2%9C')).toThrow(/malformed percent-encoding/);
  });
});

describe('stand-in with an API key (plain HTTP)', () => {
  let standIn: StandIn;
  const agent = new Agent();

  beforeAll(async () => {
    standIn = await startStandIn({ apiKey: API_KEY });
  });
  afterAll(async () => {
    await agent.close();
    await standIn.close();
  });

  it('answers 403 Forbidden without a key or with a wrong one, and records the attempt', async () => {
    const attempts: Array<Record<string, string>> = [{}, { 'x-api-key': 'wrong' }, { 'x-api-key': API_KEY.toUpperCase() }];
    for (const headers of attempts) {
      const before = standIn.received.length;
      const res = await send(agent, standIn, { path: '/prod/fn', headers });
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toBe('application/json');
      expect(bodyJson(res)).toEqual({ message: 'Forbidden' });
      expect(standIn.received.length).toBe(before + 1);
    }
  });

  it('echoes a POST with the right key, every body byte intact', async () => {
    const res = await send(agent, standIn, {
      method: 'POST',
      path: '/prod/fn/a%20b?x=1&x=2',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/octet-stream', 'x-multi': 'one' },
      body: ALL_BYTES,
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const echo = bodyJson(res);
    expect(echo['method']).toBe('POST');
    expect(echo['rawPath']).toBe('/prod/fn/a%20b');
    expect(echo['rawQuery']).toBe('x=1&x=2');
    expect(Buffer.from(echo['bodyBase64'] as string, 'base64').equals(ALL_BYTES)).toBe(true);
    expect(echo['bodySha256']).toBe(sha256Hex(ALL_BYTES));
    expect(echo['bodyLength']).toBe(ALL_BYTES.length);
    expect(echo['headers']).toEqual(expect.arrayContaining([['x-api-key', API_KEY], ['x-multi', 'one']]));
    const last = standIn.received[standIn.received.length - 1];
    expect(last?.body.equals(ALL_BYTES)).toBe(true);
    expect(last?.headers).toEqual(expect.arrayContaining([['content-type', 'application/octet-stream']]));
  });

  it('adds API Gateway ids and hop-by-hop noise; HEAD gets the headers without a body', async () => {
    const get = await send(agent, standIn, { path: '/?name=HEAD', headers: { 'x-api-key': API_KEY } });
    expect(get.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(get.headers['x-amz-apigw-id']).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    expect(get.headers['connection']).toBe('keep-alive');
    expect(get.headers['keep-alive']).toBe('timeout=5');
    const head = await send(agent, standIn, { method: 'HEAD', path: '/?name=HEAD', headers: { 'x-api-key': API_KEY } });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers['x-amzn-requestid']).toBeDefined();
  });
});

describe('stand-in with IAM (HTTPS, SigV4 verified by smithy)', () => {
  let material: TlsMaterial;
  let standIn: StandIn;
  let agent: Agent;

  beforeAll(async () => {
    material = generateTlsMaterial();
    standIn = await startStandIn({ tls: { cert: material.cert, key: material.key }, iam: IAM });
    agent = new Agent({ connect: { ca: material.caCertPem } });
  });
  afterAll(async () => {
    await agent.close();
    await standIn.close();
    rmSync(material.dir, { recursive: true, force: true });
  });

  it('answers 403 Missing Authentication Token without Authorization', async () => {
    const res = await send(agent, standIn, { path: '/prod/fn' });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/json');
    expect(bodyJson(res)).toEqual({ message: 'Missing Authentication Token' });
  });

  interface SignedCase {
    name: string;
    method?: string;
    path: string;
    rawQuery?: string;
    query?: Record<string, string | string[]>;
    headers?: Record<string, string>;
    body?: Buffer | string;
    sessionToken?: string;
    applyChecksum?: boolean;
  }

  const accepted: SignedCase[] = [
    { name: 'plain GET', path: '/prod/fn' },
    { name: 'root path', path: '/' },
    { name: 'GET without x-amz-content-sha256 (applyChecksum false)', path: '/prod/fn', applyChecksum: false },
    { name: 'path with %20 %2F : @ unicode and a trailing /', path: '/prod/a%20b/c%2Fd/e:f@g/%E2%9C%93/' },
    { name: 'path with %25 and a sub-delimiter', path: '/prod/100%25/a;b=c' },
    { name: 'path with percent-encoded bytes that are not UTF-8', path: '/prod/%E2%9C/%FF' },
    {
      name: 'query with repeated keys, empty value, flag, %2B, literal + and reserved characters',
      path: '/prod/fn',
      rawQuery: 'a=2&a=1&empty=&flag&enc=a%2Bb&plus=a+b&reserved=%26%3D%3F%23%2F%3A%40%25%20&%E2%9C%93=%E2%9C%93',
      query: { a: ['2', '1'], empty: '', flag: '', enc: 'a+b', plus: 'a+b', reserved: '&=?#/:@% ', '✓': '✓' },
    },
    {
      name: 'POST with a body and content type',
      method: 'POST',
      path: '/prod/fn',
      headers: { 'content-type': 'application/json' },
      body: '{"hello":"world"}',
    },
    {
      name: 'POST with every byte value, no x-amz-content-sha256',
      method: 'POST',
      path: '/prod/fn',
      headers: { 'content-type': 'application/octet-stream' },
      body: ALL_BYTES,
      applyChecksum: false,
    },
    { name: 'session token', path: '/prod/fn', sessionToken: 'FQoGZXIvYXdzEJr//////////token+/=' },
  ];

  it.each(accepted)('accepts a correctly signed request: $name', async (c) => {
    const headers = await signHeaders(standIn, {
      method: c.method,
      path: c.path,
      query: c.query,
      headers: c.headers,
      body: c.body,
      sessionToken: c.sessionToken,
      applyChecksum: c.applyChecksum,
    });
    const res = await send(agent, standIn, {
      method: c.method,
      path: c.rawQuery === undefined ? c.path : `${c.path}?${c.rawQuery}`,
      headers,
      body: c.body,
    });
    expect({ status: res.status, body: res.status === 200 ? '' : res.body.toString('utf8') }).toEqual({ status: 200, body: '' });
    const echo = bodyJson(res);
    expect(echo['rawPath']).toBe(c.path);
    expect(echo['rawQuery']).toBe(c.rawQuery ?? '');
  });

  it('signs exactly the SignedHeaders list: a signed user-agent counts, unsigned extra headers do not', async () => {
    const signedUa = await signHeaders(standIn, {
      path: '/prod/fn',
      headers: { 'user-agent': 'signed-agent/1.0' },
      signableHeaders: new Set(['user-agent']),
    });
    expect(signedUa['authorization']).toContain('user-agent');
    expect((await send(agent, standIn, { path: '/prod/fn', headers: signedUa })).status).toBe(200);
    const changedUa = await send(agent, standIn, { path: '/prod/fn', headers: { ...signedUa, 'user-agent': 'other/2.0' } });
    expect(changedUa.status).toBe(403);

    const plain = await signHeaders(standIn, { path: '/prod/fn' });
    const withExtras = await send(agent, standIn, {
      path: '/prod/fn',
      headers: { ...plain, 'user-agent': 'added-later', 'x-forwarded-for': '10.0.0.1', 'x-stand-in-unsigned': 'yes' },
    });
    expect(withExtras.status).toBe(200);
  });

  it('accepts a signed header that travels as two header lines', async () => {
    const headers = await signHeaders(standIn, { path: '/prod/fn', headers: { 'x-amz-meta-multi': 'one,two' } });
    delete headers['x-amz-meta-multi'];
    const res = await agent.request({
      origin: standIn.url,
      path: '/prod/fn',
      method: 'GET',
      headers: [...Object.entries(headers).flat(), 'x-amz-meta-multi', 'one', 'x-amz-meta-multi', 'two'],
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  interface TamperCase {
    name: string;
    signed: SignOptions;
    sent: SendOptions;
    message: string;
  }

  const tampered: TamperCase[] = [
    {
      name: 'one query byte changed',
      signed: { path: '/prod/fn', query: { x: '1' } },
      sent: { path: '/prod/fn?x=2' },
      message: SIGNATURE_MISMATCH,
    },
    {
      name: 'a literal + sent where a space was signed (+ is not a space)',
      signed: { path: '/prod/fn', query: { q: 'a b' } },
      sent: { path: '/prod/fn?q=a+b' },
      message: SIGNATURE_MISMATCH,
    },
    {
      name: 'path changed (%2F is not /)',
      signed: { path: '/prod/a/b' },
      sent: { path: '/prod/a%2Fb' },
      message: SIGNATURE_MISMATCH,
    },
    {
      name: 'body changed, no x-amz-content-sha256',
      signed: { method: 'POST', path: '/prod/fn', body: 'hello', applyChecksum: false },
      sent: { method: 'POST', path: '/prod/fn', body: 'hellp' },
      message: SIGNATURE_MISMATCH,
    },
    {
      name: 'body changed under a signed x-amz-content-sha256',
      signed: { method: 'POST', path: '/prod/fn', body: 'hello', applyChecksum: true },
      sent: { method: 'POST', path: '/prod/fn', body: 'hellp' },
      message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
    },
    {
      name: 'wrong secret key',
      signed: { path: '/prod/fn', secretAccessKey: 'not-the-secret' },
      sent: { path: '/prod/fn' },
      message: SIGNATURE_MISMATCH,
    },
  ];

  it.each(tampered)('rejects a request tampered after signing: $name', async (c) => {
    const headers = await signHeaders(standIn, c.signed);
    const res = await send(agent, standIn, { ...c.sent, headers: { ...headers, ...c.sent.headers } });
    expect(res.status).toBe(403);
    const body = bodyJson(res);
    expect(body['message']).toContain(c.message);
    if (c.message === SIGNATURE_MISMATCH) {
      expect(body['expected']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
      expect(typeof body['canonicalRequest']).toBe('string');
    }
  });

  it('shows the double-encoded canonical path in a mismatch', async () => {
    const headers = await signHeaders(standIn, { path: '/prod/a/b' });
    const res = await send(agent, standIn, { path: '/prod/a%2Fb%20c', headers });
    expect(res.status).toBe(403);
    expect(String(bodyJson(res)['canonicalRequest']).split('\n').slice(0, 2)).toEqual(['GET', '/prod/a%252Fb%2520c']);
  });

  it('rejects a session token that differs from the signed one', async () => {
    const headers = await signHeaders(standIn, { path: '/prod/fn', sessionToken: 'token-A' });
    const res = await send(agent, standIn, { path: '/prod/fn', headers: { ...headers, 'x-amz-security-token': 'token-B' } });
    expect(res.status).toBe(403);
    expect(bodyJson(res)['message']).toContain(SIGNATURE_MISMATCH);
  });

  it('rejects an x-amz-date more than 5 minutes old or ahead', async () => {
    const sixMinutesMs = 6 * 60 * 1000;
    const stale = await signHeaders(standIn, { path: '/prod/fn', signingDate: new Date(Date.now() - sixMinutesMs) });
    const staleRes = await send(agent, standIn, { path: '/prod/fn', headers: stale });
    expect(staleRes.status).toBe(403);
    expect(bodyJson(staleRes)['message']).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);

    const ahead = await signHeaders(standIn, { path: '/prod/fn', signingDate: new Date(Date.now() + sixMinutesMs) });
    const aheadRes = await send(agent, standIn, { path: '/prod/fn', headers: ahead });
    expect(aheadRes.status).toBe(403);
    expect(bodyJson(aheadRes)['message']).toMatch(/^Signature not yet current/);

    const recent = await signHeaders(standIn, { path: '/prod/fn', signingDate: new Date(Date.now() - 4 * 60 * 1000) });
    expect((await send(agent, standIn, { path: '/prod/fn', headers: recent })).status).toBe(200);
  });

  it('answers malformed input with 403 and a message, and keeps serving', async () => {
    const good = await signHeaders(standIn, { path: '/prod/fn' });
    const cases: Array<{ path: string; headers: Record<string, string>; message: RegExp }> = [
      { path: '/prod/fn', headers: { authorization: 'Bearer abc' }, message: /algorithm must be AWS4-HMAC-SHA256/ },
      { path: '/prod/fn', headers: { authorization: 'AWS4-HMAC-SHA256 garbage' }, message: /missing equal-sign/ },
      { path: '/prod/fn', headers: { authorization: 'AWS4-HMAC-SHA256 Credential=a/b' }, message: /requires 'SignedHeaders'/ },
      { path: '/prod/fn', headers: { ...good, 'x-amz-date': '20241301T000000Z' }, message: /X-Amz-Date must be/ },
      { path: '/prod/fn', headers: { authorization: good['authorization'] ?? '' }, message: /X-Amz-Date/ },
      { path: '/prod/fn?a=%zz', headers: good, message: /malformed percent-encoding/ },
      { path: '/prod/%zz', headers: good, message: /Malformed percent-encoding in path/ },
    ];
    for (const c of cases) {
      const res = await send(agent, standIn, { path: c.path, headers: c.headers });
      expect({ path: c.path, status: res.status }).toEqual({ path: c.path, status: 403 });
      expect(String(bodyJson(res)['message'])).toMatch(c.message);
    }
    const headers = await signHeaders(standIn, { path: '/prod/fn' });
    expect((await send(agent, standIn, { path: '/prod/fn', headers })).status).toBe(200);
  });
});

describe('stand-in function controls', () => {
  let standIn: StandIn;
  const agent = new Agent();

  beforeAll(async () => {
    standIn = await startStandIn({});
  });
  afterAll(async () => {
    await agent.close();
    await standIn.close();
  });

  it('waits x-stand-in-delay-ms before answering', async () => {
    const delayMs = 300;
    const startedAt = performance.now();
    const res = await send(agent, standIn, { path: '/', headers: { 'x-stand-in-delay-ms': String(delayMs) } });
    expect(res.status).toBe(200);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(delayMs);
  });

  it('destroys the socket on x-stand-in-reset: 1', async () => {
    await expect(send(agent, standIn, { path: '/', headers: { 'x-stand-in-reset': '1' } })).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
  });

  it('answers with x-stand-in-status', async () => {
    expect((await send(agent, standIn, { path: '/', headers: { 'x-stand-in-status': '502' } })).status).toBe(502);
    const noContent = await send(agent, standIn, { path: '/', headers: { 'x-stand-in-status': '204' } });
    expect(noContent.status).toBe(204);
    expect(noContent.body.length).toBe(0);
  });

  it('sends N separate set-cookie headers', async () => {
    const res = await send(agent, standIn, { path: '/', headers: { 'x-stand-in-cookies': '3' } });
    expect(res.headers['set-cookie']).toEqual(['c1=v1; Path=/', 'c2=v2; Path=/', 'c3=v3; Path=/']);
  });

  it('sends a deterministic binary body with every byte value and its sha256', async () => {
    const res = await send(agent, standIn, { path: '/', headers: { 'x-stand-in-binary': '1000' } });
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.body.length).toBe(1000);
    expect(res.headers['x-body-sha256']).toBe(sha256Hex(res.body));
    expect(new Set(res.body).size).toBe(256);
    expect(res.body.subarray(0, 3)).toEqual(Buffer.from([7, 38, 69]));
  });

  it('greets ?name= like the APISIX seed document', async () => {
    const res = await send(agent, standIn, { path: '/?name=APISIX' });
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body.toString('utf8')).toBe('"Hello, APISIX!"');
    const decoded = await send(agent, standIn, { path: '/?name=%E2%9C%93+x' });
    expect(decoded.body.toString('utf8')).toBe('"Hello, ✓+x!"');
  });

  it('answers 400 for an invalid control value', async () => {
    const res = await send(agent, standIn, { path: '/', headers: { 'x-stand-in-status': '99' } });
    expect(res.status).toBe(400);
    expect(bodyJson(res)['message']).toMatch(/x-stand-in-status/);
  });

  it('keeps only the last MAX_RECEIVED_REQUESTS requests', async () => {
    for (let i = 0; i < MAX_RECEIVED_REQUESTS + 5; i++) {
      await send(agent, standIn, { path: `/n/${i}` });
    }
    expect(standIn.received.length).toBe(MAX_RECEIVED_REQUESTS);
    expect(standIn.received[standIn.received.length - 1]?.rawPath).toBe(`/n/${MAX_RECEIVED_REQUESTS + 4}`);
  });

  it('close() ends a delayed request at once instead of waiting for it', async () => {
    const other = await startStandIn({});
    const otherAgent = new Agent();
    try {
      const pending = send(otherAgent, other, { path: '/', headers: { 'x-stand-in-delay-ms': '60000' } });
      while (other.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const startedAt = performance.now();
      await other.close();
      await expect(pending).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
      expect(performance.now() - startedAt).toBeLessThan(2000);
    } finally {
      await otherAgent.close();
    }
  });
});

describe('TLS material', () => {
  let material: TlsMaterial;
  let caSigned: StandIn;
  let selfSigned: StandIn;

  beforeAll(async () => {
    material = generateTlsMaterial();
    caSigned = await startStandIn({ tls: { cert: material.cert, key: material.key } });
    selfSigned = await startStandIn({ tls: { cert: material.selfSignedCert, key: material.selfSignedKey } });
  });
  const dirs: string[] = [];

  afterAll(async () => {
    await caSigned.close();
    await selfSigned.close();
    for (const dir of [material.dir, ...dirs]) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the CA to a file usable as NODE_EXTRA_CA_CERTS, into a given dir too', () => {
    expect(existsSync(material.caCertPath)).toBe(true);
    const parent = mkdtempSync(join(tmpdir(), 'stand-in-test-'));
    dirs.push(parent);
    const dir = join(parent, 'nested');
    const inDir = generateTlsMaterial(dir);
    expect(inDir.dir).toBe(dir);
    expect(inDir.caCertPath.startsWith(dir)).toBe(true);
    expect(inDir.caCertPem).not.toBe(material.caCertPem);
  });

  function handshake(port: number, servername?: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: material.caCertPem, servername });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('ok');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(err.code ?? err.message);
      });
    });
  }

  it('CA-signed leaf verifies for 127.0.0.1 and localhost', async () => {
    expect(await handshake(caSigned.port)).toBe('ok');
    expect(await handshake(caSigned.port, 'localhost')).toBe('ok');
    expect(await handshake(caSigned.port, 'example.com')).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('a client trusting only the CA rejects the self-signed leaf', async () => {
    expect(await handshake(selfSigned.port)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const agent = new Agent({ connect: { ca: material.caCertPem } });
    try {
      await expect(request(`${selfSigned.url}/`, { dispatcher: agent })).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      const ok = await request(`${caSigned.url}/?name=TLS`, { dispatcher: agent });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.text()).toBe('"Hello, TLS!"');
    } finally {
      await agent.close();
    }
  });
});

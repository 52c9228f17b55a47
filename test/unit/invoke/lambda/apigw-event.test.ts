// Events compared field by field with AWS's own sample events (test/fixtures/apigw-events, each
// with the documentation page it comes from), then tricky requests checked against the rules of
// the same pages.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  apiGatewayTime,
  buildApiGatewayV1Event,
  buildApiGatewayV2Event,
  buildInvokePayload,
  DEFAULT_EVENT_ACCOUNT_ID,
  DEFAULT_EVENT_API_ID,
  type EventContext,
  isTextualContentType,
} from '../../../../src/invoke/lambda/apigw-event';
import type { HeaderList, ClientRequest } from '../../../../src/invoke/client-request';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function sample(name: string): { [key: string]: Json } {
  const file = JSON.parse(readFileSync(path.resolve(__dirname, '../../../fixtures/apigw-events', name), 'utf8')) as { event: { [key: string]: Json } };
  return file.event;
}

function request(r: Partial<ClientRequest> & { headers: HeaderList }): ClientRequest {
  return { method: 'GET', path: '/', query: '', host: '', body: null, ...r };
}

/**
 * Every field of `expected` (recursively) must be in `actual` with the same value, except the
 * paths in `skip` (features the sidecar has no equivalent for, or values that must differ, each
 * named in the test). Returns the differences, one line each.
 */
function differences(expected: Json, actual: Json | undefined, skip: ReadonlySet<string>, at = ''): string[] {
  if (skip.has(at)) return [];
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual) || actual === undefined) return [`${at}: expected an object, got ${JSON.stringify(actual)}`];
    return Object.keys(expected).flatMap((k) => differences(expected[k] as Json, actual[k], skip, at === '' ? k : `${at}.${k}`));
  }
  return JSON.stringify(expected) === JSON.stringify(actual) ? [] : [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

function asJson(value: unknown): { [key: string]: Json } {
  return JSON.parse(JSON.stringify(value)) as { [key: string]: Json };
}

function keys(o: Json | undefined): string[] {
  return o !== null && typeof o === 'object' && !Array.isArray(o) ? Object.keys(o).sort() : [];
}

describe('format 2.0 against the HTTP API sample event', () => {
  const doc = sample('v2-http-api.json');
  // The request the sample describes; the sample lists only its example headers, so the host,
  // user-agent and content-type we must send to get its domainName, userAgent and textual body are
  // left out of the `headers` comparison and checked separately.
  const req = request({
    method: 'POST',
    path: '/my/path',
    query: 'parameter1=value1&parameter1=value2&parameter2=value',
    host: 'id.execute-api.us-east-1.amazonaws.com',
    headers: [
      ['header1', 'value1'],
      ['header2', 'value1'],
      ['header2', 'value2'],
      ['cookie', 'cookie1; cookie2'],
      ['user-agent', 'agent'],
      ['content-type', 'text/plain'],
    ],
    body: Buffer.from('Hello from Lambda'),
  });
  // ids and the IP are inputs: the sample's own values. The sample's time (12/Mar) contradicts its
  // timeEpoch (04/Mar): time is checked against timeEpoch instead.
  const context: EventContext = { sourceIp: 'IP', protocol: 'HTTP/1.1', requestId: 'id', nowMs: 1583348638390, apiId: 'api-id' };
  const ours = asJson(buildApiGatewayV2Event(req, context));
  const oursHeaders = ours.headers as { [key: string]: Json };

  it('has every field of the sample, with the same value', () => {
    const skip = new Set([
      'requestContext.authentication', // mutual TLS: not terminated by the sidecar
      'requestContext.authorizer', // JWT / Lambda authorizers: none
      'pathParameters', // named route parameters ({parameter1}): routes have only a trailing *
      'stageVariables', // stages: none
      'requestContext.time', // below
      'headers', // below
    ]);
    expect(differences(doc, ours, skip)).toEqual([]);
    expect(ours.requestContext).toMatchObject({ time: '04/Mar/2020:19:03:58 +0000', timeEpoch: doc.requestContext && (doc.requestContext as { timeEpoch: number }).timeEpoch });
  });

  it('headers: those of the sample, plus the ones the request needed, no cookie header', () => {
    expect(differences(doc.headers as Json, oursHeaders, new Set())).toEqual([]);
    expect(keys(oursHeaders)).toEqual([...keys(doc.headers as Json), 'content-type', 'host', 'user-agent'].sort());
    expect(oursHeaders).toMatchObject({ host: 'id.execute-api.us-east-1.amazonaws.com', 'user-agent': 'agent' });
  });

  it('has no top-level or requestContext field the sample lacks (but the absent pathParameters)', () => {
    expect(keys(ours).filter((k) => !keys(doc).includes(k))).toEqual([]);
    expect(keys(ours.requestContext).filter((k) => !keys(doc.requestContext).includes(k))).toEqual([]);
    expect(ours.pathParameters).toBeUndefined();
  });
});

describe('format 1.0 against the HTTP API 1.0 sample event', () => {
  const doc = sample('v1-http-api.json');
  const req = request({
    method: 'GET',
    path: '/my/path',
    query: 'parameter1=value1&parameter1=value2&parameter2=value',
    host: 'id.execute-api.us-east-1.amazonaws.com',
    headers: [
      ['header1', 'value1'],
      ['header2', 'value1'],
      ['header2', 'value2'],
      ['user-agent', 'user-agent'],
      ['content-type', 'text/plain'],
    ],
    body: Buffer.from('Hello from Lambda!'),
  });
  const context: EventContext = { sourceIp: 'IP', protocol: 'HTTP/1.1', requestId: 'id=', nowMs: 1583349317135, apiId: 'id' };
  const ours = asJson(buildApiGatewayV1Event(req, context));

  it('has every field of the sample, with the same value', () => {
    const skip = new Set([
      'requestContext.authorizer', // no authorizer
      'requestContext.identity.clientCert', // no mutual TLS
      'requestContext.extendedRequestId', // one id for both: we have no second one (checked below)
      'headers', // the sample lists only its example headers (below)
      'multiValueHeaders',
      // This sample's single-value query takes the first value (parameter1=value1) but its
      // single-value headers the last (header2=value2); the REST API sample, the format
      // apigw_v1 follows (issue 11), takes the last value for both (multivalueName=me).
      'queryStringParameters.parameter1',
    ]);
    expect(differences(doc, ours, skip)).toEqual([]);
    expect(ours.requestContext).toMatchObject({ extendedRequestId: 'id=' });
    expect(ours.queryStringParameters).toEqual({ parameter1: 'value2', parameter2: 'value' });
  });

  it('headers: last value in headers, all values in multiValueHeaders', () => {
    expect(differences(doc.headers as Json, ours.headers, new Set())).toEqual([]);
    expect(differences(doc.multiValueHeaders as Json, ours.multiValueHeaders, new Set())).toEqual([]);
    expect(keys(ours.headers)).toEqual([...keys(doc.headers as Json), 'content-type', 'host', 'user-agent'].sort());
  });

  it('has no top-level or requestContext field the sample lacks', () => {
    expect(keys(ours).filter((k) => !keys(doc).includes(k))).toEqual([]);
    // apiKey: in the REST API sample's identity (next test)
    expect(keys(ours.requestContext).filter((k) => !keys(doc.requestContext).includes(k))).toEqual([]);
  });
});

describe('format 1.0 against the REST API proxy sample event', () => {
  const doc = sample('v1-rest-api-proxy.json');
  const docHeaders = doc.headers as { [key: string]: string };
  const req = request({
    method: 'POST',
    path: '/hello/world',
    query: 'name=me&multivalueName=you&multivalueName=me',
    host: '',
    // The sample's headers, lower-case as the sidecar's fronts receive them.
    headers: Object.entries(docHeaders).map(([n, v]) => [n.toLowerCase(), v]),
    body: Buffer.from('{\r\n\t"a": 1\r\n}'),
  });
  const context: EventContext = {
    sourceIp: '192.168.196.186',
    protocol: 'HTTP/1.1',
    requestId: 'deef4878-7910-11e6-8f14-25afc3e9ae33',
    nowMs: Date.UTC(2016, 8, 13),
    accountId: '12345678912',
    apiId: 'gy415nuibc',
    rest: 'hello/world',
  };
  const ours = asJson(buildApiGatewayV1Event(req, context));

  it('has every field of the sample, with the same value (header names lower-case)', () => {
    const lower = (o: Json): Json => Object.fromEntries(Object.entries(o as { [key: string]: Json }).map(([k, v]) => [k.toLowerCase(), v]));
    const skip = new Set([
      'stageVariables', // no stages: null
      'requestContext.stage', // `$default`, not the sample's testStage
      'requestContext.resourceId', // no API Gateway resource: null
      'headers',
      'multiValueHeaders',
    ]);
    expect(differences(doc, ours, skip)).toEqual([]);
    expect(differences(lower(doc.headers as Json), ours.headers, new Set())).toEqual([]);
    expect(differences(lower(doc.multiValueHeaders as Json), ours.multiValueHeaders, new Set())).toEqual([]);
    expect(ours).toMatchObject({ stageVariables: null, requestContext: { stage: '$default', resourceId: null } });
  });
});

describe('tricky requests (format 2.0)', () => {
  const base: EventContext = { sourceIp: '203.0.113.9', protocol: 'HTTP/2.0', requestId: 'r-1', nowMs: Date.UTC(2026, 11, 1, 9, 5, 7, 123) };

  it('repeated query keys: raw bytes kept, decoded values comma-joined, flags empty', () => {
    const e = buildApiGatewayV2Event(request({ query: 'a=1&a=2&b=x%20y+z&c&d=%E2%82%AC&e=%2F', headers: [] }), base);
    expect(e.rawQueryString).toBe('a=1&a=2&b=x%20y+z&c&d=%E2%82%AC&e=%2F');
    expect(e.queryStringParameters).toEqual({ a: '1,2', b: 'x y z', c: '', d: '€', e: '/' });
  });

  it('no query: queryStringParameters absent, rawQueryString empty', () => {
    const e = buildApiGatewayV2Event(request({ headers: [] }), base);
    expect(e.rawQueryString).toBe('');
    expect('queryStringParameters' in e).toBe(false);
    expect('cookies' in e).toBe(false);
    expect('body' in e).toBe(false);
  });

  it('repeated headers comma-joined; cookies from every cookie header, which is not in headers', () => {
    const e = buildApiGatewayV2Event(
      request({ headers: [['x-a', '1'], ['cookie', 'a=1; b=2'], ['x-a', '2'], ['cookie', 'c=3'], ['accept', '*/*']] }),
      base,
    );
    expect(e.headers).toEqual({ 'x-a': '1,2', accept: '*/*' });
    expect(e.cookies).toEqual(['a=1', 'b=2', 'c=3']);
  });

  it('%2F and spaces in the path stay as the client sent them; the rest is pathParameters.proxy', () => {
    const e = buildApiGatewayV2Event(request({ path: '/files/a%2Fb/c%20d', headers: [] }), { ...base, rest: 'a%2Fb/c%20d' });
    expect(e.rawPath).toBe('/files/a%2Fb/c%20d');
    expect(e.requestContext.http.path).toBe('/files/a%2Fb/c%20d');
    expect(e.pathParameters).toEqual({ proxy: 'a%2Fb/c%20d' });
  });

  it('binary body (or no content type) is base64; textual UTF-8 is text; invalid UTF-8 is base64', () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
    const bin = buildApiGatewayV2Event(request({ method: 'POST', headers: [['content-type', 'image/png']], body: bytes }), base);
    expect(bin).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
    const noType = buildApiGatewayV2Event(request({ method: 'POST', headers: [], body: Buffer.from('hi') }), base);
    expect(noType).toMatchObject({ isBase64Encoded: true, body: Buffer.from('hi').toString('base64') });
    const json = buildApiGatewayV2Event(request({ method: 'POST', headers: [['content-type', 'application/vnd.api+json; charset=utf-8']], body: Buffer.from('{"€":1}') }), base);
    expect(json).toMatchObject({ isBase64Encoded: false, body: '{"€":1}' });
    const bad = buildApiGatewayV2Event(request({ method: 'POST', headers: [['content-type', 'text/plain']], body: Buffer.from([0x61, 0xc3]) }), base);
    expect(bad).toMatchObject({ isBase64Encoded: true, body: Buffer.from([0x61, 0xc3]).toString('base64') });
  });

  it('header bytes are read as UTF-8; host comes from the authority (HTTP/2) when there is no host header', () => {
    const e = buildApiGatewayV2Event(request({ host: 'api.example.com:8443', headers: [['x-name', Buffer.from('José', 'utf8').toString('latin1')]] }), base);
    expect(e.headers).toEqual({ host: 'api.example.com:8443', 'x-name': 'José' });
    expect(e.requestContext).toMatchObject({
      domainName: 'api.example.com',
      domainPrefix: 'api',
      accountId: DEFAULT_EVENT_ACCOUNT_ID,
      apiId: DEFAULT_EVENT_API_ID,
      time: '01/Dec/2026:09:05:07 +0000',
      timeEpoch: Date.UTC(2026, 11, 1, 9, 5, 7, 123),
      http: { method: 'GET', path: '/', protocol: 'HTTP/2.0', sourceIp: '203.0.113.9', userAgent: '' },
    });
    const ip = buildApiGatewayV2Event(request({ host: '127.0.0.1:9000', headers: [] }), base);
    expect(ip.requestContext).toMatchObject({ domainName: '127.0.0.1', domainPrefix: '127.0.0.1' });
  });
});

describe('tricky requests (format 1.0)', () => {
  const base: EventContext = { sourceIp: '203.0.113.9', protocol: 'HTTP/1.1', requestId: 'r-1', nowMs: 0 };

  it('no query and no headers: null, as API Gateway sends them; no rest: pathParameters null, resource = path', () => {
    const e = buildApiGatewayV1Event(request({ path: '/x', headers: [] }), base);
    expect(e).toMatchObject({
      resource: '/x',
      headers: null,
      multiValueHeaders: null,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    expect(e.requestContext.requestTime).toBe('01/Jan/1970:00:00:00 +0000');
  });

  it('cookie headers stay headers (1.0 has no cookies field); repeated values last / all', () => {
    const e = buildApiGatewayV1Event(request({ query: 'a=1&a=2', headers: [['cookie', 'a=1'], ['cookie', 'b=2']] }), base);
    expect(e.headers).toEqual({ cookie: 'b=2' });
    expect(e.multiValueHeaders).toEqual({ cookie: ['a=1', 'b=2'] });
    expect(e.queryStringParameters).toEqual({ a: '2' });
    expect(e.multiValueQueryStringParameters).toEqual({ a: ['1', '2'] });
  });
});

describe('helpers', () => {
  it('apiGatewayTime pads every field', () => {
    expect(apiGatewayTime(Date.UTC(2020, 2, 4, 9, 5, 7))).toBe('04/Mar/2020:09:05:07 +0000');
  });

  it.each([
    ['text/html; charset=utf-8', true],
    ['application/json', true],
    ['Application/JSON', true],
    ['application/problem+json', true],
    ['application/atom+xml', true],
    ['application/xml', true],
    ['application/x-www-form-urlencoded', true],
    ['application/javascript', true],
    ['application/octet-stream', false],
    ['multipart/form-data; boundary=x', false],
    ['image/png', false],
    [undefined, false],
  ])('isTextualContentType(%p) = %p', (type, textual) => {
    expect(isTextualContentType(type)).toBe(textual);
  });

  it('raw format: the body unchanged, {} when empty', () => {
    const ctx: EventContext = { sourceIp: '', protocol: 'HTTP/1.1', requestId: 'r', nowMs: 0 };
    expect(buildInvokePayload('raw', request({ headers: [] }), ctx).toString()).toBe('{}');
    expect(buildInvokePayload('raw', request({ headers: [], body: Buffer.from('[1,2]') }), ctx).toString()).toBe('[1,2]');
    expect(JSON.parse(buildInvokePayload('apigw_v2', request({ headers: [] }), ctx).toString())).toMatchObject({ version: '2.0' });
    expect(JSON.parse(buildInvokePayload('apigw_v1', request({ headers: [] }), ctx).toString())).toMatchObject({ version: '1.0', httpMethod: 'GET' });
  });
});

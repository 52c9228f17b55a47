import {
  forwardableRequestHeaders,
  hasHeader,
  isSignedHeader,
  relayableResponseHeaders,
} from '../../../src/invoke/header-filter';
import type { HeaderList } from '../../../src/invoke/client-request';

const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'proxy-authenticate', 'proxy-authorization', 'http2-settings',
];

function names(headers: HeaderList): string[] {
  return headers.map(([n]) => n);
}

describe('forwardableRequestHeaders', () => {
  it.each(HOP_BY_HOP)('drops hop-by-hop %s', (name) => {
    const out = forwardableRequestHeaders([['accept', '*/*'], [name, 'x'], ['x-kept', '1']]);
    expect(out).toEqual([['accept', '*/*'], ['x-kept', '1']]);
  });

  it('drops host, content-length and expect (the sidecar sets or handles them)', () => {
    const out = forwardableRequestHeaders([['host', 'client.example'], ['content-length', '5'], ['expect', '100-continue'], ['content-type', 'text/plain']]);
    expect(out).toEqual([['content-type', 'text/plain']]);
  });

  it('drops pseudo-headers and x-envoy-* headers', () => {
    const out = forwardableRequestHeaders([
      [':authority', 'a'], [':path', '/x'], [':method', 'GET'], [':scheme', 'https'],
      ['x-envoy-internal', 'true'], ['x-envoy-expected-rq-timeout-ms', '15000'], ['x-envoy-original-path', '/aws'],
      ['x-request-id', 'r1'], ['x-envoyish', 'kept'],
    ]);
    expect(out).toEqual([['x-request-id', 'r1'], ['x-envoyish', 'kept']]);
  });

  it('drops headers named in any connection header (tokens trimmed, case-insensitive)', () => {
    const out = forwardableRequestHeaders([
      ['connection', 'keep-alive, X-Drop-Me'],
      ['x-drop-me', '1'],
      ['connection', ' Another ,'],
      ['another', '2'],
      ['x-keep', '3'],
    ]);
    expect(out).toEqual([['x-keep', '3']]);
  });

  it('keeps everything else, repeated headers in received order', () => {
    const input: HeaderList = [
      ['x-multi', 'a'], ['authorization', 'Bearer t'], ['x-multi', 'b'], ['cookie', 'c=1'], ['x-multi', 'c'],
      ['user-agent', 'curl'], ['x-forwarded-for', '10.0.0.1'], ['x-api-key', 'k'],
    ];
    expect(forwardableRequestHeaders(input)).toEqual(input);
  });

  it('returns a new list and leaves the input untouched', () => {
    const input: HeaderList = [['connection', 'close'], ['a', '1']];
    const copy = JSON.parse(JSON.stringify(input)) as HeaderList;
    const out = forwardableRequestHeaders(input);
    expect(out).not.toBe(input);
    expect(input).toEqual(copy);
  });
});

describe('relayableResponseHeaders', () => {
  it.each(HOP_BY_HOP)('drops hop-by-hop %s', (name) => {
    expect(relayableResponseHeaders([[name, 'x'], ['content-type', 'application/json']])).toEqual([['content-type', 'application/json']]);
  });

  it('drops content-length and headers named in connection', () => {
    const out = relayableResponseHeaders([
      ['content-length', '16'], ['connection', 'x-private, close'], ['x-private', 'p'], ['x-amzn-requestid', 'id'],
    ]);
    expect(out).toEqual([['x-amzn-requestid', 'id']]);
  });

  it('keeps repeated set-cookie headers in order', () => {
    const input: HeaderList = [
      ['set-cookie', 'a=1; Path=/'], ['date', 'Sat, 27 Nov 2021 13:08:27 GMT'], ['set-cookie', 'b=2; HttpOnly'], ['set-cookie', 'c=3'],
    ];
    expect(relayableResponseHeaders(input)).toEqual(input);
    expect(relayableResponseHeaders(input).filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
  });

  it('a response like API Gateway\'s keeps its own headers, loses connection and keep-alive', () => {
    const out = relayableResponseHeaders([
      ['content-type', 'application/json'], ['content-length', '16'], ['connection', 'keep-alive'], ['keep-alive', 'timeout=5'],
      ['x-amz-apigw-id', 'JdwXuEVxIAMFtKw='], ['x-amzn-requestid', '471289ab'], ['x-amzn-trace-id', 'Root=1-61a22dca'],
    ]);
    expect(names(out)).toEqual(['content-type', 'x-amz-apigw-id', 'x-amzn-requestid', 'x-amzn-trace-id']);
  });
});

describe('hasHeader', () => {
  it('finds a lower-case name', () => {
    const h: HeaderList = [['x-api-key', 'k'], ['a', '']];
    expect(hasHeader(h, 'x-api-key')).toBe(true);
    expect(hasHeader(h, 'a')).toBe(true);
    expect(hasHeader(h, 'authorization')).toBe(false);
    expect(hasHeader([], 'a')).toBe(false);
  });
});

describe('isSignedHeader', () => {
  it.each(['host', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-meta-anything'])('signs %s', (name) => {
    expect(isSignedHeader(name)).toBe(true);
  });

  it.each([
    'user-agent', 'x-forwarded-for', 'x-forwarded-proto', 'x-amzn-trace-id', 'authorization', 'x-api-key', 'content-length',
    'cookie', 'accept', 'via', 'connection', 'transfer-encoding', 'expect', 'x-request-id', 'x-amz', 'x-amzdate',
  ])('does not sign %s', (name) => {
    expect(isSignedHeader(name)).toBe(false);
  });
});

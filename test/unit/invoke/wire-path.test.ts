import { forwardedPath, toWirePath } from '../../../src/invoke/wire-path';
import { failure } from '../../support/failure';

/** UTF-8 text as the byte string a front hands us (one char per byte). */
function bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

describe('toWirePath', () => {
  it.each([
    ['/default/test-apisix', '/default/test-apisix'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%20b', '/a%20b'],
    ['/a%2fb%e2%9c%93', '/a%2fb%e2%9c%93'],
    ['/a b', '/a%20b'],
    [bytes('/✓'), '/%E2%9C%93'],
    [bytes('/é/ሴ'), '/%C3%A9/%E1%88%B4'],
    ['/\xff', '/%FF'],
    ['/%', '/%25'],
    ['/100%', '/100%25'],
    ['/%zz', '/%25zz'],
    ['/%2', '/%252'],
    ['/%2g', '/%252g'],
    ['/a%', '/a%25'],
    ['/c:d@e', '/c:d@e'],
    ["/sub-delims!$&'()*+,;=", "/sub-delims!$&'()*+,;="],
    ['/unreserved-._~AZaz09', '/unreserved-._~AZaz09'],
    ['/q?x#y', '/q%3Fx%23y'],
    ['/"<>\\^`{|}[]', '/%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D'],
    ['/\x00\x1f\x7f', '/%00%1F%7F'],
    ['/trailing/', '/trailing/'],
    ['//double//', '//double//'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(toWirePath(input)).toBe(expected);
  });

  it('encodes a character above U+00FF (not a byte string) as its UTF-8 bytes', () => {
    expect(toWirePath('/✓')).toBe('/%E2%9C%93');
    expect(toWirePath('/😀x')).toBe('/%F0%9F%98%80x');
  });

  it('returns only printable ASCII, and is idempotent', () => {
    for (let b = 0; b < 256; b++) {
      const once = toWirePath(`/a${String.fromCharCode(b)}b`);
      expect(once).toMatch(/^[\x21-\x7e]+$/);
      expect(toWirePath(once)).toBe(once);
    }
  });
});

describe('forwardedPath', () => {
  it('returns the base path when the route has no trailing *', () => {
    expect(forwardedPath('/default/test-apisix', undefined)).toBe('/default/test-apisix');
    expect(forwardedPath('/default/test-apisix/', undefined)).toBe('/default/test-apisix/');
  });

  const bases = ['/default', '/default/', '/default//'];
  const rests = ['x/y', '/x/y', '//x/y'];
  for (const base of bases) {
    for (const rest of rests) {
      it(`puts exactly one / between ${JSON.stringify(base)} and ${JSON.stringify(rest)}`, () => {
        expect(forwardedPath(base, rest)).toBe('/default/x/y');
      });
    }
  }

  it.each([
    ['/', 'default/test-apisix', '/default/test-apisix'],
    ['/', '/default/test-apisix', '/default/test-apisix'],
    ['', 'default/test-apisix', '/default/test-apisix'],
    ['/default/test-apisix', '', '/default/test-apisix/'],
    ['/', '', '/'],
    ['/base', 'x/', '/base/x/'],
    ['/base', 'x//', '/base/x//'],
    ['/base/', 'a%2Fb/', '/base/a%2Fb/'],
    ['/base', 'a%20b/c', '/base/a%20b/c'],
  ])('forwardedPath(%j, %j) → %j', (base, rest, expected) => {
    expect(forwardedPath(base, rest)).toBe(expected);
  });

  it.each([
    '..', '.', '../x', './x', 'a/..', 'a/.', 'a/../b', 'a/./b', '/..', '/../', '..//x',
    '%2e%2e', '%2E%2E', '%2e.', '.%2E', '%2e', 'a/%2e%2e/b', 'a/%2E/b', '%2e%2e/',
  ])('refuses the dot segment in %j with ERR_BAD_REQUEST', (rest) => {
    const f = failure(() => forwardedPath('/default', rest));
    expect(f.code).toBe('ERR_BAD_REQUEST');
    expect(f.status).toBe(400);
    expect(f.message).toMatch(/"\." or "\.\." segments/);
  });

  it.each(['..foo', 'foo..', '.hidden', 'a/..b/c', 'a/b../c', '...', 'a.b', '%2e%2e%2e', '%2efoo', 'x/.well-known'])('allows %j', (rest) => {
    expect(forwardedPath('/default', rest)).toBe(`/default/${rest}`);
  });
});

import { validateRoutes } from '../../../src/config/route-schema';
import { hostWithoutPort, RouteTable, type MatchInput } from '../../../src/routing/route-table';

type Json = Record<string, unknown>;

/** A route with the plugin; `extra` overrides uri and adds matching fields. */
function r(id: string, extra: Json): Json {
  return { id, uri: '/unused', plugins: { 'aws-lambda': { function_uri: `https://fn.example.com/${id}` } }, ...extra };
}

function table(routes: Json[]): RouteTable<string> {
  return new RouteTable(validateRoutes(routes), (c) => `payload:${c.id}`);
}

function req(path: string, extra: Partial<MatchInput> = {}): MatchInput {
  return { method: 'GET', path, host: 'sidecar.local', ...extra };
}

/** [route id, rest] of the match, or null. */
function match(t: RouteTable<string>, input: MatchInput): [string, string | undefined] | null {
  const m = t.match(input);
  return m === undefined ? null : [m.entry.id, m.rest];
}

describe('RouteTable: uris', () => {
  const t = table([
    r('exact', { uri: '/aws' }),
    r('prefix', { uri: '/aws/*' }),
    r('glued', { uri: '/lam*' }),
    r('root', { uri: '/exact/only' }),
  ]);

  it('matches an exact uri, with no rest', () => {
    expect(match(t, req('/aws'))).toEqual(['exact', undefined]);
    expect(match(t, req('/exact/only'))).toEqual(['root', undefined]);
  });

  it('an exact uri does not match a longer path, a trailing slash or another case', () => {
    expect(match(t, req('/exact/only/'))).toBeNull();
    expect(match(t, req('/exact/onlyx'))).toBeNull();
    expect(match(t, req('/Exact/only'))).toBeNull();
  });

  it('/aws/* matches below /aws/ and gives the rest', () => {
    expect(match(t, req('/aws/default/test-apisix'))).toEqual(['prefix', 'default/test-apisix']);
    expect(match(t, req('/aws/a%20b/c%2Fd/'))).toEqual(['prefix', 'a%20b/c%2Fd/']);
    expect(match(t, req('/aws//x'))).toEqual(['prefix', '/x']);
  });

  it('/aws/ matches /aws/* with an empty rest', () => {
    expect(match(t, req('/aws/'))).toEqual(['prefix', '']);
  });

  it('/aws does not match /aws/* (it is the exact route here)', () => {
    const only = table([r('prefix', { uri: '/aws/*' })]);
    expect(match(only, req('/aws'))).toBeNull();
    expect(match(only, req('/awsx'))).toBeNull();
  });

  it('/lam* matches /lam, /lamx and /lam/x', () => {
    expect(match(t, req('/lam'))).toEqual(['glued', '']);
    expect(match(t, req('/lamx'))).toEqual(['glued', 'x']);
    expect(match(t, req('/lam/x'))).toEqual(['glued', '/x']);
    expect(match(t, req('/la'))).toBeNull();
  });

  it('/* matches everything', () => {
    const all = table([r('all', { uri: '/*' })]);
    expect(match(all, req('/'))).toEqual(['all', '']);
    expect(match(all, req('/a/b'))).toEqual(['all', 'a/b']);
  });

  it('a route with uris matches any of them', () => {
    const multi = table([{ id: 'multi', uris: ['/one', '/two/*'], plugins: {} }]);
    expect(match(multi, req('/one'))).toEqual(['multi', undefined]);
    expect(match(multi, req('/two/x'))).toEqual(['multi', 'x']);
    expect(match(multi, req('/three'))).toBeNull();
  });

  it('returns the payload built at setup', () => {
    expect(t.match(req('/aws'))?.entry.payload).toBe('payload:exact');
  });
});

describe('RouteTable: non-ASCII uris', () => {
  const t = table([r('cafe', { uri: '/café' }), { id: 'menu', uris: ['/menü/*', '/z%C3%BCrich'], plugins: {} }]);

  it('match the percent-encoded UTF-8 form a client sends', () => {
    expect(match(t, req('/caf%C3%A9'))).toEqual(['cafe', undefined]);
    expect(match(t, req('/men%C3%BC/heute'))).toEqual(['menu', 'heute']);
  });

  it('keep ASCII escapes as written (paths are not decoded)', () => {
    expect(match(t, req('/z%C3%BCrich'))).toEqual(['menu', undefined]);
    expect(match(t, req('/caf%c3%a9'))).toBeNull();
    expect(match(t, req('/café'))).toBeNull();
  });
});

describe('RouteTable: methods', () => {
  const t = table([
    r('post-only', { uri: '/m', methods: ['POST', 'PUT'] }),
    r('any', { uri: '/m' }),
  ]);

  it('filters by method, falling through to the next route', () => {
    expect(match(t, req('/m', { method: 'POST' }))).toEqual(['post-only', undefined]);
    expect(match(t, req('/m', { method: 'PUT' }))).toEqual(['post-only', undefined]);
    expect(match(t, req('/m', { method: 'GET' }))).toEqual(['any', undefined]);
  });

  it('no match when no route accepts the method', () => {
    const only = table([r('get', { uri: '/g/*', methods: ['GET'] })]);
    expect(match(only, req('/g/x', { method: 'DELETE' }))).toBeNull();
    expect(match(only, req('/g/x', { method: 'GET' }))).toEqual(['get', 'x']);
  });
});

describe('RouteTable: hosts', () => {
  const t = table([
    r('exact-host', { uri: '/h', host: 'api.example.com' }),
    r('wildcard', { uri: '/h', host: '*.example.com' }),
    r('list', { uri: '/h', hosts: ['one.test', 'two.test'] }),
    r('no-host', { uri: '/other' }),
  ]);

  it('matches the host without its port, case-insensitively', () => {
    expect(match(t, req('/h', { host: 'api.example.com' }))).toEqual(['exact-host', undefined]);
    expect(match(t, req('/h', { host: 'API.Example.COM:8443' }))).toEqual(['exact-host', undefined]);
    expect(match(t, req('/h', { host: 'api.example.com.' }))).toEqual(['exact-host', undefined]);
  });

  it('*.example.com matches a.example.com and deeper names, not example.com', () => {
    expect(match(t, req('/h', { host: 'a.example.com' }))).toEqual(['wildcard', undefined]);
    expect(match(t, req('/h', { host: 'a.b.example.com:80' }))).toEqual(['wildcard', undefined]);
    expect(match(t, req('/h', { host: 'example.com' }))).toBeNull();
    expect(match(t, req('/h', { host: 'badexample.com' }))).toBeNull();
  });

  it('a hosts list matches any of its hosts', () => {
    expect(match(t, req('/h', { host: 'one.test' }))).toEqual(['list', undefined]);
    expect(match(t, req('/h', { host: 'TWO.test:1' }))).toEqual(['list', undefined]);
    expect(match(t, req('/h', { host: 'three.test' }))).toBeNull();
  });

  it('a route with a host does not match a request without one', () => {
    expect(match(t, req('/h', { host: '' }))).toBeNull();
  });

  it('a route without hosts matches any host', () => {
    expect(match(t, req('/other', { host: 'whatever:1' }))).toEqual(['no-host', undefined]);
    expect(match(t, req('/other', { host: '' }))).toEqual(['no-host', undefined]);
  });

  it('hostWithoutPort strips ports (IPv6 included) and lower-cases', () => {
    expect(hostWithoutPort('Example.COM:8080')).toBe('example.com');
    expect(hostWithoutPort('example.com')).toBe('example.com');
    expect(hostWithoutPort('[::1]:8443')).toBe('[::1]');
    expect(hostWithoutPort('[::1]')).toBe('[::1]');
    expect(hostWithoutPort('')).toBe('');
  });
});

describe('RouteTable: order among routes with the same uri', () => {
  it('the first matching route in file order wins', () => {
    const t = table([
      r('first', { uri: '/o/*' }),
      r('second', { uri: '/o/*' }),
      r('exact-first', { uri: '/e' }),
      r('exact-second', { uri: '/e' }),
    ]);
    expect(match(t, req('/o/x'))).toEqual(['first', 'x']);
    expect(match(t, req('/e'))).toEqual(['exact-first', undefined]);
  });

  it('a higher priority wins over file order, for exact and prefix routes', () => {
    const t = table([
      r('low-prefix', { uri: '/p/*' }),
      r('high-prefix', { uri: '/p/*', priority: 10 }),
      r('low-exact', { uri: '/x' }),
      r('mid-exact', { uri: '/x', priority: 5 }),
    ]);
    expect(match(t, req('/p/y'))).toEqual(['high-prefix', 'y']);
    expect(match(t, req('/x'))).toEqual(['mid-exact', undefined]);
  });

  it('a negative priority loses to the default 0', () => {
    const t = table([
      r('neg', { uri: '/q', priority: -1 }),
      r('zero', { uri: '/q' }),
      r('high', { uri: '/q', priority: 3, methods: ['POST'] }),
    ]);
    expect(match(t, req('/q'))).toEqual(['zero', undefined]);
    expect(match(t, req('/q', { method: 'POST' }))).toEqual(['high', undefined]);
  });

  it('falls back to a lower-priority route when the higher one rejects the method or host', () => {
    const t = table([
      r('fallback', { uri: '/f/*' }),
      r('picky', { uri: '/f/*', priority: 9, methods: ['POST'], host: 'x.test' }),
    ]);
    expect(match(t, req('/f/a', { method: 'POST', host: 'x.test' }))).toEqual(['picky', 'a']);
    expect(match(t, req('/f/a', { method: 'POST', host: 'y.test' }))).toEqual(['fallback', 'a']);
    expect(match(t, req('/f/a', { method: 'GET', host: 'x.test' }))).toEqual(['fallback', 'a']);
  });

  it('an exact uri earlier in the file wins over a later prefix', () => {
    const t = table([r('exact', { uri: '/o/x' }), r('prefix', { uri: '/o/*' })]);
    expect(match(t, req('/o/x'))).toEqual(['exact', undefined]);
    expect(match(t, req('/o/y'))).toEqual(['prefix', 'y']);
  });
});

// A documented difference (README "Routes"): APISIX's router (lua-resty-radixtree, see
// apisix.apache.org/docs/apisix/router-radixtree/ §3-4) prefers a full match over any prefix and a
// deeper prefix over a shorter one, `priority` only ordering routes with the same uri. Here
// priority, then file order, decide across all uris. These tests pin that decision so a change to
// it is deliberate: APISIX's own documentation table gives APISIX's answers only when the specific
// routes come first.
describe('RouteTable: precedence across different uris (documented difference from APISIX)', () => {
  const apisixDocTable: Array<[string, string | null]> = [
    ['/blog/foo/bar', 'foo-bar'],
    ['/blog/foo/a/b/c', 'foo-a-star'],
    ['/blog/foo/c/d', 'foo-c-star'],
    ['/blog/foo/gloo', 'foo-star'],
    ['/blog/bar', null],
  ];

  it('file order decides: a broad prefix listed first shadows later, more specific uris', () => {
    const t = table([
      r('foo-star', { uri: '/blog/foo/*' }),
      r('foo-a-star', { uri: '/blog/foo/a/*' }),
      r('foo-c-star', { uri: '/blog/foo/c/*' }),
      r('foo-bar', { uri: '/blog/foo/bar' }),
    ]);
    // APISIX would answer foo-bar, foo-a-star, foo-c-star here.
    expect(match(t, req('/blog/foo/bar'))?.[0]).toBe('foo-star');
    expect(match(t, req('/blog/foo/a/b/c'))?.[0]).toBe('foo-star');
    expect(match(t, req('/blog/foo/c/d'))?.[0]).toBe('foo-star');
  });

  it('with the specific routes first, APISIX\'s documentation table is reproduced', () => {
    const t = table([
      r('foo-bar', { uri: '/blog/foo/bar' }),
      r('foo-a-star', { uri: '/blog/foo/a/*' }),
      r('foo-c-star', { uri: '/blog/foo/c/*' }),
      r('foo-star', { uri: '/blog/foo/*' }),
    ]);
    for (const [path, id] of apisixDocTable) {
      expect({ path, id: match(t, req(path))?.[0] ?? null }).toEqual({ path, id });
    }
  });

  it('a prefix route of higher priority wins over an exact uri (APISIX: the exact uri would)', () => {
    const t = table([r('exact', { uri: '/p/x' }), r('prefix', { uri: '/p/*', priority: 10 })]);
    expect(match(t, req('/p/x'))).toEqual(['prefix', 'x']);
  });
});

describe('RouteTable: status and get()', () => {
  const t = table([
    r('off', { uri: '/s/*', status: 0, priority: 100 }),
    r('on', { uri: '/s/*' }),
    r('off-only', { uri: '/z', status: 0 }),
    r('pass-through', { uri: '/pt', plugins: {} }),
  ]);

  it('a disabled route never matches, whatever its priority', () => {
    expect(match(t, req('/s/x'))).toEqual(['on', 'x']);
    expect(match(t, req('/z'))).toBeNull();
  });

  it('get(id) finds enabled routes and returns undefined for disabled or unknown ones', () => {
    expect(t.get('on')?.id).toBe('on');
    expect(t.get('on')?.payload).toBe('payload:on');
    expect(t.get('pass-through')?.config.plugins).toEqual({});
    expect(t.get('off')).toBeUndefined();
    expect(t.get('off-only')).toBeUndefined();
    expect(t.get('missing')).toBeUndefined();
  });

  it('entries() and size include disabled routes', () => {
    expect(t.size).toBe(4);
    expect([...t.entries()].map((e) => e.id).sort()).toEqual(['off', 'off-only', 'on', 'pass-through']);
  });

  it('builds each payload once, at construction', () => {
    const calls: string[] = [];
    const counted = new RouteTable(validateRoutes([r('a', { uri: '/a' }), r('b', { uri: '/b/*' })]), (c) => {
      calls.push(c.id);
      return c.id;
    });
    counted.match(req('/a'));
    counted.match(req('/b/x'));
    counted.get('a');
    expect(calls.sort()).toEqual(['a', 'b']);
  });

  it('an empty table matches nothing', () => {
    const empty = table([]);
    expect(empty.size).toBe(0);
    expect(match(empty, req('/'))).toBeNull();
  });
});

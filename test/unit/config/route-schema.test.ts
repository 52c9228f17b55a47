import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_AWS_REGION,
  DEFAULT_AWS_SERVICE,
  DEFAULT_KEEPALIVE_POOL,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_MAX_REQ_BODY_SIZE,
  DEFAULT_TIMEOUT_MS,
  ROUTE_ID_PATTERN,
  validateRoute,
  validateRoutes,
} from '../../../src/config/route-schema';
import { failure } from '../../support/failure';
import { SEED_PUT_APIKEY, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING } from '../../support/seed-routes';

const ID = 'route-under-test';

type Json = Record<string, unknown>;

function plugin(extra: Json = {}): Json {
  return { function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix', ...extra };
}

function route(extra: Json = {}, pluginExtra: Json = {}): Json {
  return { id: ID, uri: '/aws', plugins: { 'aws-lambda': plugin(pluginExtra) }, ...extra };
}

// The seed document's route bodies are read as the Admin API reads them (JSON-ish YAML); the id
// comes from the URL (`/apisix/admin/routes/1`).
function seed(body: string): Json {
  return { id: '1', ...(parseYaml(body) as Json) };
}

describe('validateRoute: defaults (APISIX aws-lambda schema)', () => {
  it('applies every default to a minimal route', () => {
    const r = validateRoute(route());
    expect(r.plugins['aws-lambda']).toEqual({
      function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix',
      timeout: 3000,
      ssl_verify: true,
      keepalive: true,
      keepalive_pool: 5,
      keepalive_timeout: 60000,
      max_req_body_size: 64 * 1024 * 1024,
    });
    expect(r.priority).toBe(0);
    expect(r.status).toBe(1);
  });

  it('exports the named defaults with APISIX values', () => {
    expect({
      DEFAULT_TIMEOUT_MS,
      DEFAULT_KEEPALIVE_POOL,
      DEFAULT_KEEPALIVE_TIMEOUT_MS,
      DEFAULT_MAX_REQ_BODY_SIZE,
      DEFAULT_AWS_REGION,
      DEFAULT_AWS_SERVICE,
    }).toEqual({
      DEFAULT_TIMEOUT_MS: 3000,
      DEFAULT_KEEPALIVE_POOL: 5,
      DEFAULT_KEEPALIVE_TIMEOUT_MS: 60000,
      DEFAULT_MAX_REQ_BODY_SIZE: 67108864,
      DEFAULT_AWS_REGION: 'us-east-1',
      DEFAULT_AWS_SERVICE: 'execute-api',
    });
  });

  it('defaults service to execute-api and leaves aws_region unset (resolved from the environment when targets are built)', () => {
    const r = validateRoute(route({}, { authorization: { iam: { accesskey: 'AK', secret_key: 'SK' } } }));
    expect(r.plugins['aws-lambda']?.authorization?.iam).toEqual({ accesskey: 'AK', secret_key: 'SK', service: 'execute-api' });
  });

  it('keeps explicit values, the lower bounds included', () => {
    const explicit = {
      timeout: 100,
      ssl_verify: false,
      keepalive: false,
      keepalive_pool: 1,
      keepalive_timeout: 1000,
      max_req_body_size: 1,
      authorization: { iam: { accesskey: 'AK', secret_key: 'SK', session_token: 'TOKEN', aws_region: 'eu-west-1', service: 'lambda' } },
    };
    const r = validateRoute(route({ priority: -3, status: 0 }, explicit));
    expect(r.priority).toBe(-3);
    expect(r.status).toBe(0);
    expect(r.plugins['aws-lambda']).toMatchObject(explicit);
  });

  it('does not write defaults into the caller\'s object', () => {
    const input = route();
    const before = JSON.stringify(input);
    validateRoute(input);
    expect(JSON.stringify(input)).toBe(before);
  });

  it('returns a deep-frozen route', () => {
    const r = validateRoute(route({ methods: ['GET'], hosts: ['a.example.com'], labels: { team: 'x' } }, {
      authorization: { iam: { accesskey: 'AK', secret_key: 'SK' } },
    }));
    const p = r.plugins['aws-lambda'];
    for (const obj of [r, r.plugins, p, p?.authorization, p?.authorization?.iam, r.methods, r.hosts, r.labels]) {
      expect(Object.isFrozen(obj)).toBe(true);
    }
  });
});

describe('validateRoute: the seed document\'s routes validate unchanged', () => {
  it('API key example', () => {
    const r = validateRoute(seed(SEED_PUT_APIKEY));
    expect(r).toMatchObject({ id: '1', uri: '/aws' });
    expect(r.plugins['aws-lambda']).toMatchObject({
      function_uri: 'https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix',
      authorization: { apikey: '<Generated API Key from aws console>' },
      ssl_verify: false,
      timeout: 3000,
    });
  });

  it('IAM example, `secretkey` spelling read as secret_key', () => {
    const r = validateRoute(seed(SEED_PUT_IAM));
    expect(r.plugins['aws-lambda']?.authorization?.iam).toEqual({
      accesskey: '<access key>',
      secret_key: '<access key secret>',
      service: 'execute-api',
    });
  });

  it('path forwarding example (uri /aws/*, function_uri without a path)', () => {
    const r = validateRoute(seed(SEED_PUT_PATH_FORWARDING));
    expect(r.uri).toBe('/aws/*');
    expect(r.plugins['aws-lambda']?.function_uri).toBe('https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com');
  });

  it('all three as a route list', () => {
    const list = validateRoutes([SEED_PUT_APIKEY, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING].map((b, i) => ({ ...seed(b), id: String(i + 1) })));
    expect(list.map((r) => r.id)).toEqual(['1', '2', '3']);
  });
});

describe('validateRoute: secretkey alias', () => {
  it('accepts secret_key and secretkey alike', () => {
    const a = validateRoute(route({}, { authorization: { iam: { accesskey: 'AK', secret_key: 'SK' } } }));
    const b = validateRoute(route({}, { authorization: { iam: { accesskey: 'AK', secretkey: 'SK' } } }));
    expect(b).toEqual(a);
    expect(Object.keys(b.plugins['aws-lambda']?.authorization?.iam ?? {})).not.toContain('secretkey');
  });

  it.each([
    ['secretkey first', { accesskey: 'AK', secretkey: 'S1', secret_key: 'S2' }],
    ['secret_key first', { accesskey: 'AK', secret_key: 'S1', secretkey: 'S2' }],
  ])('refuses both spellings (%s), naming both', (_label, iam) => {
    const f = failure(() => validateRoute(route({}, { authorization: { iam } })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}"`);
    expect(f.message).toContain('"secretkey"');
    expect(f.message).toContain('"secret_key"');
    expect(f.message).toMatch(/give only one/);
    expect(f.message).not.toMatch(/S1|S2/);
  });

  it('takes accesskey and a secret key together, naming the missing one', () => {
    const chain = ' leave both out to use the AWS default credential chain';
    expect(failure(() => validateRoute(route({}, { authorization: { iam: { secret_key: 'SK' } } }))).message)
      .toBe(`route "${ID}": plugins.aws-lambda.authorization.iam.accesskey: is required with "secret_key";${chain}`);
    expect(failure(() => validateRoute(route({}, { authorization: { iam: { accesskey: 'AK' } } }))).message)
      .toBe(`route "${ID}": plugins.aws-lambda.authorization.iam.secret_key: is required with "accesskey";${chain}`);
    expect(failure(() => validateRoute(route({}, { authorization: { iam: { secretkey: 'SK' } } }))).message).toContain('iam.accesskey: is required with "secret_key"');
  });
});

describe('validateRoute: credential sources (aws-lambda-sidecar extensions of authorization.iam)', () => {
  const IAM = 'plugins.aws-lambda.authorization.iam';
  const ROLE = 'arn:aws:iam::123456789012:role/invoker';
  const iamOf = (iam: Json): unknown => validateRoute(route({}, { authorization: { iam } })).plugins['aws-lambda']?.authorization?.iam;

  it.each<[string, Json]>([
    ['no keys: the default chain', {}],
    ['a profile', { profile: 'dev' }],
    ['a role on the chain, every STS field', { role_arn: ROLE, role_session_name: 'my-sidecar', external_id: 'ext-id-1', duration_seconds: 900 }],
    ['a role on static keys, longest duration', { accesskey: 'AK', secret_key: 'SK', role_arn: ROLE, duration_seconds: 43_200 }],
    ['a role on a profile', { profile: 'dev', role_arn: 'arn:aws-cn:iam::123456789012:role/path/r' }],
  ])('accepts %s', (_label, iam) => {
    expect(iamOf(iam)).toEqual({ ...iam, service: 'execute-api' });
  });

  it.each<[string, Json, string]>([
    ['a session token without keys', { session_token: 'TOKEN-123456' }, `${IAM}.accesskey: is required with "session_token"`],
    ['role_session_name without role_arn', { role_session_name: 'abc' }, `${IAM}.role_arn: is required with "role_session_name"`],
    ['external_id without role_arn', { external_id: 'abc' }, `${IAM}.role_arn: is required with "external_id"`],
    ['duration_seconds without role_arn', { duration_seconds: 900 }, `${IAM}.role_arn: is required with "duration_seconds"`],
    ['a profile with keys', { profile: 'dev', accesskey: 'AK', secret_key: 'SK' }, `${IAM}.accesskey: give either "profile" or "accesskey", not both`],
    ['duration_seconds below STS\'s 900', { role_arn: ROLE, duration_seconds: 899 }, `${IAM}.duration_seconds: must be >= 900 (got 899)`],
    ['duration_seconds above STS\'s 43200', { role_arn: ROLE, duration_seconds: 43_201 }, `${IAM}.duration_seconds: must be <= 43200 (got 43201)`],
    ['a role_arn that is not a role ARN', { role_arn: 'arn:aws:iam::1234:user/x' }, `${IAM}.role_arn: must be an IAM role ARN`],
    ['a one-letter role_session_name', { role_arn: ROLE, role_session_name: 'a' }, `${IAM}.role_session_name: must be 2 to 64 characters`],
    ['an empty profile', { profile: '' }, `${IAM}.profile: must not be empty`],
  ])('refuses %s, naming the field', (_label, iam, expected) => {
    const f = failure(() => validateRoute(route({}, { authorization: { iam } })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}": ${expected}`);
  });

  it.each([
    ['profile', { profile: 'dev\n' }],
    ['role_arn', { role_arn: `${ROLE}\n` }],
    ['role_session_name', { role_arn: ROLE, role_session_name: 'name\t1' }],
    ['external_id', { role_arn: ROLE, external_id: 'id\u0000x' }],
  ])('refuses control characters in %s', (field, iam) => {
    expect(failure(() => validateRoute(route({}, { authorization: { iam } }))).message).toContain(`${IAM}.${field}: must`);
  });
});

describe('validateRoute: bounds', () => {
  it.each([
    ['timeout', 99, '>= 100'],
    ['timeout', 0, '>= 100'],
    ['keepalive_pool', 0, '>= 1'],
    ['keepalive_timeout', 999, '>= 1000'],
    ['max_req_body_size', 0, '>= 1'],
  ])('%s: %d is refused (%s)', (field, value, bound) => {
    const f = failure(() => validateRoute(route({}, { [field]: value })));
    expect(f).toEqual({
      code: 'ERR_CONFIG_INVALID',
      status: 400,
      message: `route "${ID}": plugins.aws-lambda.${field}: must be ${bound} (got ${value})`,
    });
  });
});

describe('validateRoute: wrong types', () => {
  it.each<[string, Json, string]>([
    ['timeout as a string', route({}, { timeout: '3000' }), 'plugins.aws-lambda.timeout: must be an integer (got string)'],
    ['timeout as a float', route({}, { timeout: 3000.5 }), 'plugins.aws-lambda.timeout: must be an integer (got number 3000.5)'],
    ['ssl_verify as a string', route({}, { ssl_verify: 'false' }), 'plugins.aws-lambda.ssl_verify: must be true or false (got string)'],
    ['keepalive as a number', route({}, { keepalive: 1 }), 'plugins.aws-lambda.keepalive: must be true or false (got number 1)'],
    ['function_uri as a number', route({}, { function_uri: 42 }), 'plugins.aws-lambda.function_uri: must be a string (got number 42)'],
    ['authorization as a string', route({}, { authorization: 'key' }), 'plugins.aws-lambda.authorization: must be an object (got string)'],
    ['plugins as null', route({ plugins: null }), 'plugins: must be an object (got null)'],
    ['methods as a string', route({ methods: 'GET' }), 'methods: must be an array (got string)'],
    ['an unknown method', route({ methods: ['GET', 'FETCH'] }), 'methods[1]: must be one of'],
    ['uris as a string', { id: ID, uris: '/a', plugins: {} }, 'uris: must be an array (got string)'],
    ['an empty uris list', { id: ID, uris: [], plugins: {} }, 'uris: must have at least 1 item(s)'],
    ['priority as a float', route({ priority: 1.5 }), 'priority: must be an integer (got number 1.5)'],
    ['status 2', route({ status: 2 }), 'status: must be one of 0, 1 (got 2)'],
    ['a label value as a number', route({ labels: { team: 7 } }), 'labels.team: must be a string (got number 7)'],
    ['upstream as an array', route({ upstream: [] }), 'upstream: must be an object (got array)'],
    ['an empty function_uri', route({}, { function_uri: '' }), 'plugins.aws-lambda.function_uri: must not be empty'],
    ['an empty apikey', route({}, { authorization: { apikey: '' } }), 'plugins.aws-lambda.authorization.apikey: must not be empty'],
    ['a bad region', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', aws_region: 'US East' } } }), 'aws_region: must be an AWS region'],
  ])('%s', (_label, input, expected) => {
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message.startsWith(`route "${ID}": `)).toBe(true);
    expect(f.message).toContain(expected);
  });

  it('refuses a route that is not an object', () => {
    expect(failure(() => validateRoute(['x'])).message).toBe('route: must be an object (got array)');
    expect(failure(() => validateRoute(null)).code).toBe('ERR_CONFIG_INVALID');
  });
});

describe('validateRoute: unknown fields', () => {
  it.each<[string, Json, string, string[]]>([
    ['on the route', route({ urii: '/x' }), 'urii', ['id', 'uri', 'uris', 'methods', 'host', 'hosts', 'priority', 'status', 'plugins', 'upstream']],
    ['in the plugin', route({}, { time_out: 5 }), 'time_out', ['function_uri', 'authorization', 'timeout', 'ssl_verify', 'keepalive', 'keepalive_pool', 'keepalive_timeout', 'max_req_body_size']],
    ['in iam', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', region: 'x' } } }), 'region', ['accesskey', 'secret_key', 'session_token', 'aws_region', 'service']],
    ['in authorization', route({}, { authorization: { api_key: 'k' } }), 'api_key', ['apikey', 'iam']],
  ])('%s: names it and lists the known fields', (_label, input, field, known) => {
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}"`);
    expect(f.message).toContain(`unknown field "${field}"`);
    const list = /\(known fields: ([^)]*)\)/.exec(f.message)?.[1]?.split(', ');
    expect(list).toEqual(expect.arrayContaining(known));
  });
});

describe('validateRoute: function_uri', () => {
  it('is required', () => {
    const f = failure(() => validateRoute({ id: ID, uri: '/aws', plugins: { 'aws-lambda': {} } }));
    expect(f).toEqual({ code: 'ERR_CONFIG_INVALID', status: 400, message: `route "${ID}": plugins.aws-lambda.function_uri: is required (or give "function_name")` });
  });

  it.each([
    ['not a URL', 'not a url', /is not a valid URL/],
    ['ftp scheme', 'ftp://example.com/fn', /must use https or http \(got "ftp"\)/],
    ['a query', 'https://example.com/fn?x=1', /must not carry a query string or fragment/],
    ['an empty query', 'https://example.com/fn?', /must not carry a query string or fragment/],
    ['a fragment', 'https://example.com/fn#top', /must not carry a query string or fragment/],
    ['user info', 'https://user:pass@example.com/fn', /must not carry user info/],
    ['a user name only', 'https://user@example.com/fn', /must not carry user info/],
  ])('refuses %s', (_label, uri, message) => {
    const f = failure(() => validateRoute(route({}, { function_uri: uri })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}": plugins.aws-lambda.function_uri: `);
    expect(f.message).toMatch(message);
  });

  it.each(['http://127.0.0.1:9000', 'https://fn.lambda-url.eu-west-1.on.aws/', 'https://[::1]:8443/a/b/'])('accepts %s', (uri) => {
    expect(validateRoute(route({}, { function_uri: uri })).plugins['aws-lambda']?.function_uri).toBe(uri);
  });
});

describe('validateRoute: uri and uris', () => {
  it.each<[string, Json, RegExp]>([
    ['"*" in the middle', route({ uri: '/a*/b' }), /^route "route-under-test": uri: "\*" is only allowed at the end of the uri \(got "\/a\*\/b"\)$/],
    ['"*" as a whole segment in the middle', route({ uri: '/*/b' }), /uri: "\*" is only allowed at the end/],
    ['two "*"', route({ uri: '/a**' }), /uri: "\*" is only allowed at the end/],
    ['a :param segment', route({ uri: '/users/:id' }), /uri: parameter segments such as ":name" are not supported; use a trailing "\*"/],
    ['a :param segment in uris', { id: ID, uris: ['/ok', '/users/:id/x'], plugins: {} }, /uris\[1\]: parameter segments/],
    ['"*" in the middle in uris', { id: ID, uris: ['/a*b'], plugins: {} }, /uris\[0\]: "\*" is only allowed/],
    ['both uri and uris', { id: ID, uri: '/a', uris: ['/b'], plugins: {} }, /uris: give either "uri" or "uris", not both/],
    ['neither uri nor uris', { id: ID, plugins: {} }, /uri: is required \(or give "uris"\)/],
    ['both host and hosts', route({ host: 'a.example.com', hosts: ['b.example.com'] }), /hosts: give either "host" or "hosts", not both/],
    ['a uri without a leading /', route({ uri: 'aws' }), /uri: must be a path starting with "\/"/],
    ['a uri with a query', route({ uri: '/aws?x=1' }), /uri: must be a path starting with "\/" \(no query, no spaces\)/],
    ['a uri with a space', route({ uri: '/a b' }), /uri: must be a path/],
    ['repeated uris', { id: ID, uris: ['/a', '/a'], plugins: {} }, /uris: must not repeat an item/],
    ['a bad host', route({ host: 'exa mple.com' }), /host: must be a host name/],
    ['a wildcard in the middle of a host', route({ host: 'a.*.example.com' }), /host: must be a host name/],
  ])('refuses %s', (_label, input, message) => {
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}"`);
    expect(f.message).toMatch(message);
  });

  it('accepts a trailing * and a :colon that does not start a segment', () => {
    expect(validateRoute(route({ uri: '/aws/*' })).uri).toBe('/aws/*');
    expect(validateRoute(route({ uri: '/aws*' })).uri).toBe('/aws*');
    expect(validateRoute(route({ uri: '/a:b' })).uri).toBe('/a:b');
    expect(validateRoute({ id: ID, uris: ['/a', '/b/*'], hosts: ['*.example.com', 'x.org'], plugins: {} }).uris).toEqual(['/a', '/b/*']);
  });
});

describe('validateRoute: ids', () => {
  it('turns a numeric id into a string', () => {
    expect(validateRoute(route({ id: 1 })).id).toBe('1');
    expect(validateRoute(route({ id: 0 })).id).toBe('0');
  });

  it.each<[string, unknown, RegExp]>([
    ['a float id', 1.5, /id: must be a string \(got number 1.5\)/],
    ['a negative id', -1, /id: must be a string \(got number -1\)/],
    ['an id with a slash', 'a/b', /id: must be 1 to 64 characters/],
    ['an empty id', '', /id: must be 1 to 64 characters/],
    ['a 65-character id', 'x'.repeat(65), /id: must be 1 to 64 characters/],
  ])('refuses %s', (_label, id, message) => {
    const f = failure(() => validateRoute(route({ id })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toMatch(message);
  });

  it('requires an id, naming the route by idHint when given', () => {
    const input = { uri: '/aws', plugins: {} };
    expect(failure(() => validateRoute(input)).message).toBe('route: id: is required');
    expect(failure(() => validateRoute(input, 'from-url')).message).toBe('route "from-url": id: is required');
  });
});

describe('validateRoutes', () => {
  it('validates a list and freezes it', () => {
    const list = validateRoutes([route({ id: 'a' }), route({ id: 2 })]);
    expect(list.map((r) => r.id)).toEqual(['a', '2']);
    expect(Object.isFrozen(list)).toBe(true);
  });

  it('refuses duplicate ids, naming the id and the index', () => {
    const f = failure(() => validateRoutes([route({ id: 'a' }), route({ id: 'b' }), route({ id: 'a', uri: '/other' })]));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toBe('route "a": id: duplicate route id (routes[2])');
  });

  it('refuses 1 and "1" as the same id', () => {
    expect(failure(() => validateRoutes([route({ id: 1 }), route({ id: '1' })])).message).toMatch(/^route "1": id: duplicate route id/);
  });

  it('refuses a non-list and non-object items', () => {
    expect(failure(() => validateRoutes({ id: 'a' }))).toMatchObject({ code: 'ERR_CONFIG_INVALID', message: 'routes: must be a list of route objects (got object)' });
    expect(failure(() => validateRoutes([route({ id: 'a' }), 'b'], 'file.yaml: routes'))).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'file.yaml: routes[1]: must be a route object (got string)',
    });
  });

  it('accepts an empty list', () => {
    expect(validateRoutes([])).toEqual([]);
  });
});

describe('every validation message names the route id', () => {
  const invalid: Array<[string, Json]> = [
    ['timeout', route({}, { timeout: 99 })],
    ['keepalive_pool', route({}, { keepalive_pool: 0 })],
    ['keepalive_timeout', route({}, { keepalive_timeout: 999 })],
    ['unknown route field', route({ foo: 1 })],
    ['unknown plugin field', route({}, { foo: 1 })],
    ['missing function_uri', { id: ID, uri: '/a', plugins: { 'aws-lambda': {} } }],
    ['missing plugins', { id: ID, uri: '/a' }],
    ['bad URL', route({}, { function_uri: '::' })],
    ['ftp', route({}, { function_uri: 'ftp://h/x' })],
    ['query', route({}, { function_uri: 'https://h/x?y' })],
    ['user info', route({}, { function_uri: 'https://u:p@h/x' })],
    ['star', route({ uri: '/a*/b' })],
    ['param', route({ uri: '/:x' })],
    ['uri and uris', { ...route(), uris: ['/b'] }],
    ['no uri', { id: ID, plugins: {} }],
    ['iam without secret', route({}, { authorization: { iam: { accesskey: 'a' } } })],
    ['bad service', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', service: 'Execute API' } } })],
    ['methods', route({ methods: ['get'] })],
    ['host', route({ host: 'bad host' })],
    ['_meta', route({}, { _meta: { disable: 'yes' } })],
  ];

  it.each(invalid)('%s', (_label, input) => {
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.status).toBe(400);
    expect(f.message).toContain(`route "${ID}"`);
  });

  it.each(invalid)('%s, inside validateRoutes', (_label, input) => {
    expect(failure(() => validateRoutes([route({ id: 'fine' }), input])).message).toContain(`route "${ID}"`);
  });
});

describe('no secret value in any message', () => {
  const MARKER = 'SECRET-MARKER-7f3a9c';
  const NUMERIC_MARKER = 8675309123;

  function iam(extra: Json = {}): Json {
    return { accesskey: 'AKIDEXAMPLE', secret_key: `${MARKER}-sk`, session_token: `${MARKER}-st`, ...extra };
  }

  // Routes holding secrets (as valid strings) that are invalid somewhere else.
  const invalidElsewhere: Array<[string, Json]> = [
    ['timeout out of range', route({}, { timeout: 99, authorization: { apikey: `${MARKER}-ak` } })],
    ['unknown plugin field', route({}, { extra: true, authorization: { iam: iam() } })],
    ['unknown iam field', route({}, { authorization: { iam: iam({ region: 'x' }) } })],
    ['bad region', route({}, { authorization: { iam: iam({ aws_region: 'Not A Region' }) } })],
    ['bad service', route({}, { authorization: { iam: iam({ service: 'BAD' }) } })],
    ['missing accesskey', route({}, { authorization: { iam: { secret_key: `${MARKER}-sk`, session_token: `${MARKER}-st` } } })],
    ['both secret spellings', route({}, { authorization: { iam: iam({ secretkey: `${MARKER}-sk2` }) } })],
    ['both spellings, alias last', route({}, { authorization: { iam: { accesskey: 'a', secret_key: `${MARKER}-1`, secretkey: `${MARKER}-2` } } })],
    ['bad function_uri', route({}, { function_uri: 'ftp://h/', authorization: { apikey: `${MARKER}-ak` } })],
    ['both apikey and unknown field', route({}, { authorization: { apikey: `${MARKER}-ak`, key: 'x' } })],
    ['bad uri', route({ uri: '/a*/b' }, { authorization: { apikey: `${MARKER}-ak` } })],
    ['duplicate method', route({ methods: ['GET', 'GET'] }, { authorization: { iam: iam() } })],
    // A secret written under a wrong name is still a secret.
    ['secret under a misspelt field', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', secretKey: `${MARKER}-typo` } } })],
    ['secret at the wrong level', route({}, { authorization: { secret_key: `${MARKER}-lvl` } })],
  ];

  // Secrets of the wrong type: the value itself is the problem.
  const wrongTypes: Array<[string, Json]> = [
    ['apikey as a number', route({}, { authorization: { apikey: NUMERIC_MARKER } })],
    ['apikey as an array', route({}, { authorization: { apikey: [MARKER] } })],
    ['apikey as an object', route({}, { authorization: { apikey: { value: MARKER } } })],
    ['apikey as a boolean', route({}, { authorization: { apikey: true } })],
    ['secret_key as a number', route({}, { authorization: { iam: { accesskey: 'a', secret_key: NUMERIC_MARKER } } })],
    ['secretkey as a number', route({}, { authorization: { iam: { accesskey: 'a', secretkey: NUMERIC_MARKER } } })],
    ['secret_key as an array', route({}, { authorization: { iam: { accesskey: 'a', secret_key: [MARKER] } } })],
    ['session_token as a number', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', session_token: NUMERIC_MARKER } } })],
    ['session_token as an object', route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', session_token: { t: MARKER } } } })],
    ['iam as a string', route({}, { authorization: { iam: MARKER } })],
    ['authorization as a string', route({}, { authorization: MARKER })],
  ];

  it.each([...invalidElsewhere, ...wrongTypes])('%s', (_label, input) => {
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(`route "${ID}"`);
    expect(f.message).not.toContain(MARKER);
    expect(f.message).not.toContain(String(NUMERIC_MARKER));
  });

  it('does not echo the password of an invalid function_uri with user info', () => {
    // A function_uri that both carries credentials and fails to parse must not print them.
    const f = failure(() => validateRoute(route({}, { function_uri: `https://user:${MARKER}@exa mple.com/fn` })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain('plugins.aws-lambda.function_uri');
    expect(f.message).not.toContain(MARKER);
  });
});

describe('every problem at once', () => {
  it('lists every problem of one route, one per line, each naming the route and the field', () => {
    const input = route({ methods: ['GET', 'FETCH'], host: 'bad host', foo: 1 }, { timeout: 99, keepalive: 'yes', function_uri: 'ftp://h/x' });
    const f = failure(() => validateRoute(input));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    const lines = f.message.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines).toEqual(expect.arrayContaining([
      `route "${ID}": host: must be a host name, optionally starting with "*." (got "bad host")`,
      `route "${ID}": methods[1]: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE (got "FETCH")`,
      `route "${ID}": plugins.aws-lambda.function_uri: must use https or http (got "ftp")`,
      `route "${ID}": plugins.aws-lambda.keepalive: must be true or false (got string)`,
      `route "${ID}": plugins.aws-lambda.timeout: must be >= 100 (got 99)`,
      expect.stringMatching(new RegExp(`^route "${ID}": unknown field "foo" \\(known fields: id, uri, uris, `)),
    ]));
  });

  it('gives the problems as data too', () => {
    let problems: unknown;
    try {
      validateRoute(route({}, { timeout: 99, keepalive_pool: 0 }));
    } catch (err) {
      problems = (err as { problems?: unknown }).problems;
    }
    expect(problems).toEqual([
      { route: `route "${ID}"`, field: 'plugins.aws-lambda.timeout', reason: 'must be >= 100 (got 99)' },
      { route: `route "${ID}"`, field: 'plugins.aws-lambda.keepalive_pool', reason: 'must be >= 1 (got 0)' },
    ]);
  });

  it('reports one problem per field (an empty region is "empty", not also "not a region")', () => {
    const f = failure(() => validateRoute(route({}, { authorization: { iam: { accesskey: 'a', secret_key: 's', aws_region: '' } } })));
    expect(f.message).toBe(`route "${ID}": plugins.aws-lambda.authorization.iam.aws_region: must not be empty`);
  });

  it('lists the problems of every route of a list, naming a route without a usable id by its place', () => {
    const f = failure(() =>
      validateRoutes(
        [route({ id: 'a' }, { timeout: 1 }), { uri: '/x', plugins: {} }, route({ id: 'b', uri: '/a*/b' }), 'oops', route({ id: 'a' }), route({ id: 'a/b' })],
        'routes.yaml: routes',
      ),
    );
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message.split('\n')).toEqual([
      'route "a": plugins.aws-lambda.timeout: must be >= 100 (got 1)',
      'routes.yaml: routes[1]: id: is required',
      'route "b": uri: "*" is only allowed at the end of the uri (got "/a*/b")',
      'routes.yaml: routes[3]: must be a route object (got string)',
      'route "a": id: duplicate route id (routes[4])',
      'routes.yaml: routes[5]: id: must be 1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "." (not "." or "..") (got "a/b")',
    ]);
  });
});

describe('control characters in credentials', () => {
  const MARKER = 'CTRL-SECRET-5d1e';
  const fields: Array<[string, (value: string) => Json, string]> = [
    ['apikey', (v) => ({ authorization: { apikey: v } }), 'plugins.aws-lambda.authorization.apikey'],
    ['accesskey', (v) => ({ authorization: { iam: { accesskey: v, secret_key: 'SK' } } }), 'plugins.aws-lambda.authorization.iam.accesskey'],
    ['secret_key', (v) => ({ authorization: { iam: { accesskey: 'AK', secret_key: v } } }), 'plugins.aws-lambda.authorization.iam.secret_key'],
    ['secretkey', (v) => ({ authorization: { iam: { accesskey: 'AK', secretkey: v } } }), 'plugins.aws-lambda.authorization.iam.secret_key'],
    ['session_token', (v) => ({ authorization: { iam: { accesskey: 'AK', secret_key: 'SK', session_token: v } } }), 'plugins.aws-lambda.authorization.iam.session_token'],
    ['profile', (v) => ({ authorization: { iam: { profile: v } } }), 'plugins.aws-lambda.authorization.iam.profile'],
  ];
  const controls: Array<[string, string]> = [
    ['a trailing newline (YAML "apikey: |")', `${MARKER}\n`],
    ['a carriage return', `${MARKER}\r\n`],
    ['a tab', `${MARKER}\tx`],
    ['NUL', `${MARKER}\u0000`],
    ['DEL', `${MARKER}\u007f`],
    ['ESC', `\u001b${MARKER}`],
  ];

  for (const [name, plug, field] of fields) {
    it.each(controls)(`${name} with %s is refused, naming the field, never the value`, (_label, value) => {
      const f = failure(() => validateRoute(route({}, plug(value))));
      expect(f.code).toBe('ERR_CONFIG_INVALID');
      expect(f.message).toBe(`route "${ID}": ${field}: must not contain control characters (a line break, a tab...): check for a trailing newline`);
      expect(f.message).not.toContain(MARKER);
    });
  }

  it('accepts printable credentials, spaces and non-ASCII included', () => {
    const r = validateRoute(route({}, { authorization: { apikey: 'key with spaces ~!@#', iam: { accesskey: 'AKIDEXAMPLE', secret_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', session_token: 'FwoGZXIvYXdzE//////////wEaDé' } } }));
    expect(r.plugins['aws-lambda']?.authorization?.apikey).toBe('key with spaces ~!@#');
  });
});

describe('route ids "." and ".."', () => {
  it.each(['.', '..'])('refuses %s (it cannot be addressed as /apisix/admin/routes/{id})', (id) => {
    const f = failure(() => validateRoute(route({ id })));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toBe(`route: id: must be 1 to 64 characters of a-z, A-Z, 0-9, "-", "_" and "." (not "." or "..") (got "${id}")`);
  });

  it.each(['...', '.a', 'a.', 'a..b', 'v1.2'])('accepts %s', (id) => {
    expect(validateRoute(route({ id })).id).toBe(id);
  });

  it('ROUTE_ID_PATTERN (the Admin API path check) refuses them too', () => {
    expect(['.', '..', 'a'].map((id) => ROUTE_ID_PATTERN.test(id))).toEqual([false, false, true]);
  });
});

describe('validateRoute: Lambda Invoke target fields (function_name)', () => {
  const iam = { accesskey: 'AKIDEXAMPLE', secret_key: 'secret' };
  const plugin = (fields: Record<string, unknown>): unknown => ({ id: 'r', uri: '/aws', plugins: { 'aws-lambda': fields } });

  it('accepts function_name with iam and every Invoke field', () => {
    const route = validateRoute(plugin({ function_name: 'greet', qualifier: 'live', invocation_type: 'Event', event_format: 'apigw_v1', function_error_status: 500, log_type: 'Tail', endpoint: 'http://127.0.0.1:9', authorization: { iam } }));
    expect(route.plugins['aws-lambda']?.function_name).toBe('greet');
  });

  it.each([
    [{ function_uri: 'https://x.example', function_name: 'greet', authorization: { iam } }, 'plugins.aws-lambda.function_name: give either "function_uri" or "function_name", not both'],
    [{ function_uri: 'https://x.example', invocation_type: 'Event' }, 'plugins.aws-lambda.invocation_type: applies only with function_name'],
    [{ function_uri: 'https://x.example', endpoint: 'http://127.0.0.1:9' }, 'plugins.aws-lambda.endpoint: applies only with function_name'],
    [{ function_name: 'greet' }, 'plugins.aws-lambda.authorization.iam: is required with function_name'],
    [{ function_name: 'greet', authorization: { apikey: 'k', iam } }, 'plugins.aws-lambda.authorization.apikey: is not used by'],
    [{ function_name: 'greet', authorization: { iam: { ...iam, service: 'execute-api' } } }, 'plugins.aws-lambda.authorization.iam.service: must be "lambda"'],
    [{ function_name: 'greet', invocation_type: 'Later', authorization: { iam } }, 'plugins.aws-lambda.invocation_type'],
    [{ function_name: 'greet', event_format: 'apigw_v3', authorization: { iam } }, 'plugins.aws-lambda.event_format'],
    [{ function_name: 'greet', function_error_status: 99, authorization: { iam } }, 'plugins.aws-lambda.function_error_status'],
    [{ function_name: 'not a name', authorization: { iam } }, 'plugins.aws-lambda.function_name: "not a name" is not a function name'],
    [{ function_name: 'greet:1', qualifier: '2', authorization: { iam } }, 'plugins.aws-lambda.qualifier: "2" differs from the one in function_name'],
    [{ function_name: 'greet', qualifier: 'a b', authorization: { iam } }, 'plugins.aws-lambda.qualifier: "a b" is not a version'],
    [{ function_name: 'greet', endpoint: 'ftp://127.0.0.1', authorization: { iam } }, 'plugins.aws-lambda.endpoint: must be an http:// or https:// URL'],
  ])('refuses %j naming the field', (fields, expected) => {
    expect(() => validateRoute(plugin(fields))).toThrow(expected);
  });
});

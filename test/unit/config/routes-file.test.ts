import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRoutesDocument, readRoutesFile } from '../../../src/config/routes-file';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'routes-file-test-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function writeTemp(name: string, text: string): string {
  const file = join(dir, `${counter++}-${name}`);
  writeFileSync(file, text);
  return file;
}

function failure(fn: () => unknown): { code: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return { code: e.code, message: String(e.message) };
  }
  throw new Error('expected an error, but the file was accepted');
}

const YAML_ROUTES = `# comment
routes:
  - id: "1"
    uri: /aws
    plugins:
      aws-lambda:
        function_uri: https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com/default/test-apisix
        authorization:
          apikey: key-1
        ssl_verify: false
  - id: 2
    uri: /aws/*
    methods: [GET, POST]
    plugins:
      aws-lambda:
        function_uri: https://x9w6z07gb9.execute-api.us-east-1.amazonaws.com
        authorization:
          iam: { accesskey: AK, secretkey: SK }
`;

describe('readRoutesFile', () => {
  it('reads YAML, applies defaults and the secretkey alias', () => {
    const routes = readRoutesFile(writeTemp('routes.yaml', YAML_ROUTES));
    expect(routes.map((r) => r.id)).toEqual(['1', '2']);
    expect(routes[0].plugins['aws-lambda']).toMatchObject({ ssl_verify: false, timeout: 3000, keepalive_pool: 5, authorization: { apikey: 'key-1' } });
    expect(routes[1].methods).toEqual(['GET', 'POST']);
    expect(routes[1].plugins['aws-lambda']?.authorization?.iam).toEqual({ accesskey: 'AK', secret_key: 'SK', service: 'execute-api' });
  });

  it('reads JSON', () => {
    const json = JSON.stringify({
      routes: [{ id: 'j', uris: ['/a', '/b/*'], plugins: { 'aws-lambda': { function_uri: 'http://127.0.0.1:9000/fn', timeout: 500 } } }],
    });
    const routes = readRoutesFile(writeTemp('routes.json', json));
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({ id: 'j', uris: ['/a', '/b/*'], plugins: { 'aws-lambda': { timeout: 500, keepalive: true } } });
  });

  it('returns a deep-frozen result', () => {
    const routes = readRoutesFile(writeTemp('frozen.yaml', YAML_ROUTES));
    const r = routes[1];
    for (const obj of [routes, r, r.plugins, r.plugins['aws-lambda'], r.plugins['aws-lambda']?.authorization, r.plugins['aws-lambda']?.authorization?.iam, r.methods]) {
      expect(Object.isFrozen(obj)).toBe(true);
    }
    expect(() => {
      (routes as unknown as unknown[]).push(1);
    }).toThrow(TypeError);
  });

  it.each([
    ['an empty file', ''],
    ['only a comment', '# no routes yet\n'],
    ['routes: with nothing', 'routes:\n'],
    ['an empty list', 'routes: []\n'],
  ])('returns [] for %s', (_label, text) => {
    const routes = readRoutesFile(writeTemp('empty.yaml', text));
    expect(routes).toEqual([]);
    expect(Object.isFrozen(routes)).toBe(true);
  });

  it('refuses an unknown top-level key, naming it and the file', () => {
    const file = writeTemp('unknown.yaml', 'routes: []\nupstreams: []\n');
    const f = failure(() => readRoutesFile(file));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toContain(file);
    expect(f.message).toContain('unknown top-level field "upstreams"');
  });

  it('refuses a document that is not a mapping', () => {
    expect(failure(() => readRoutesFile(writeTemp('list.yaml', '- id: a\n')))).toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/must be a mapping with a "routes" list/) });
    expect(failure(() => readRoutesFile(writeTemp('scalar.yaml', 'hello\n')))).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('refuses routes that are not a list', () => {
    const f = failure(() => readRoutesFile(writeTemp('map.yaml', 'routes:\n  id: a\n')));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toMatch(/routes: must be a list of route objects \(got object\)/);
  });

  it('names the route id of an invalid route', () => {
    const f = failure(() => readRoutesFile(writeTemp('bad-route.yaml', 'routes:\n  - id: bad\n    uri: /x\n    plugins: { aws-lambda: { function_uri: "https://h/", timeout: 99 } }\n')));
    expect(f).toEqual({ code: 'ERR_CONFIG_INVALID', message: 'route "bad": plugins.aws-lambda.timeout: must be >= 100 (got 99)' });
  });

  it('lists every problem of the file at once: unknown top-level fields and every route', () => {
    const file = writeTemp('many.yaml', 'upstreams: []\nservices: []\nroutes:\n  - { id: a, uri: /a, plugins: { aws-lambda: { function_uri: "https://h/", timeout: 99 } } }\n  - { uri: /b, plugins: {} }\n');
    const f = failure(() => readRoutesFile(file));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message.split('\n')).toEqual([
      `${file}: unknown top-level field "upstreams" (the file holds only "routes")`,
      `${file}: unknown top-level field "services" (the file holds only "routes")`,
      'route "a": plugins.aws-lambda.timeout: must be >= 100 (got 99)',
      `${file}: routes[1]: id: is required`,
    ]);
  });

  it('refuses duplicate ids across the file', () => {
    const text = 'routes:\n  - { id: a, uri: /a, plugins: {} }\n  - { id: a, uri: /b, plugins: {} }\n';
    expect(failure(() => readRoutesFile(writeTemp('dup.yaml', text))).message).toMatch(/route "a": id: duplicate route id/);
  });

  it('an unreadable file is ERR_CONFIG_UNREADABLE', () => {
    const missing = join(dir, 'does-not-exist.yaml');
    const f = failure(() => readRoutesFile(missing));
    expect(f.code).toBe('ERR_CONFIG_UNREADABLE');
    expect(f.message).toContain(missing);
    expect(f.message).toContain('ENOENT');
    // A directory cannot be read as a file either.
    expect(failure(() => readRoutesFile(dir)).code).toBe('ERR_CONFIG_UNREADABLE');
  });

  it.each([
    ['an unterminated quote', 'routes:\n  - id: "a\n    uri: /x\n'],
    ['bad indentation', 'routes:\n- id: a\n - uri: /x\n'],
    ['a duplicate key', 'routes: []\nroutes: []\n'],
    ['broken JSON', '{"routes": [ {"id": "a",, } ]}'],
    ['a tab indent', 'routes:\n\t- id: a\n'],
  ])('bad YAML (%s) is ERR_CONFIG_UNREADABLE, naming the file', (_label, text) => {
    const file = writeTemp('bad.yaml', text);
    const f = failure(() => readRoutesFile(file));
    expect(f.code).toBe('ERR_CONFIG_UNREADABLE');
    expect(f.message).toContain(file);
    expect(f.message).toMatch(/not valid YAML or JSON/);
  });

  it('never prints a secret from a line YAML cannot parse', () => {
    const MARKER = 'SECRET-MARKER-c41d';
    const texts = [
      `routes:\n  - id: a\n    plugins:\n      aws-lambda:\n        authorization:\n          apikey: "${MARKER}\n        x: 1\n`,
      `routes:\n  - apikey: ${MARKER}: bad\n`,
      `routes:\n  - apikey: ${MARKER}\n    apikey: ${MARKER}2\n`,
      `{"routes": [{"apikey": "${MARKER}" ,, }]}`,
      `routes: [apikey: ${MARKER} {]\n`,
    ];
    for (const text of texts) {
      const f = failure(() => readRoutesFile(writeTemp('secret.yaml', text)));
      expect(f.code).toBe('ERR_CONFIG_UNREADABLE');
      expect(f.message).not.toContain(MARKER);
    }
  });
});

describe('parseRoutesDocument', () => {
  it('names the given source in messages', () => {
    expect(failure(() => parseRoutesDocument('x: 1', 'etcd:/routes'))).toMatchObject({ message: expect.stringContaining('etcd:/routes') });
  });

  it('refuses YAML aliases past the limit (billion laughs)', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`);
    lines.push('routes: []');
    expect(failure(() => parseRoutesDocument(lines.join('\n'), 'bomb.yaml')).code).toMatch(/^ERR_CONFIG_/);
  });
});

describe('routes file size limit', () => {
  it('refuses a document above the byte limit before parsing it, naming the limit', () => {
    const text = `routes: []\n# ${'x'.repeat(100)}\n`;
    const f = failure(() => parseRoutesDocument(text, 'big.yaml', 64));
    expect(f.code).toBe('ERR_CONFIG_INVALID');
    expect(f.message).toMatch(/^big\.yaml: \d+ bytes is above the routes file limit of 64 bytes/);
    expect(parseRoutesDocument(text, 'big.yaml', text.length)).toEqual([]);
  });
});


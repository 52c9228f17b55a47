/**
 * schema/routes.schema.json is what editors (yaml-language-server) and other tools read: it must be
 * exactly the schema the sidecar compiles, and usable by a plain ajv without our code.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ROUTES_FILE_SCHEMA, routesFileSchemaText } from '../../../src/config/route-json-schema';
import { readRoutesFile } from '../../../src/config/routes-file';
import { SEED_PUT_APIKEY, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING } from '../../support/seed-routes';

const REPO = path.resolve(__dirname, '../../..');
const SHIPPED = path.join(REPO, 'schema', 'routes.schema.json');
const DEMO = path.join(REPO, 'demo', 'routes.demo.yaml');
const CREDENTIAL_EXAMPLES = path.join(REPO, 'examples', 'credentials.routes.yaml');

function plainValidator(): ReturnType<Ajv['compile']> {
  // Ajv's defaults (strict mode on): no keyword, format or option of ours.
  return new Ajv().compile(JSON.parse(readFileSync(SHIPPED, 'utf8')) as object);
}

describe('schema/routes.schema.json', () => {
  it('is exactly what the code compiles (regenerate with npm run gen:schema)', () => {
    expect(readFileSync(SHIPPED, 'utf8')).toBe(routesFileSchemaText());
    expect(JSON.parse(readFileSync(SHIPPED, 'utf8'))).toEqual(JSON.parse(JSON.stringify(ROUTES_FILE_SCHEMA)));
  });

  it('ships in the npm package', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('schema');
  });

  it('the demo routes file names it on its first line, for yaml-language-server', () => {
    const first = readFileSync(DEMO, 'utf8').split('\n')[0];
    const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    expect(m).not.toBeNull();
    expect(path.resolve(path.dirname(DEMO), m![1])).toBe(SHIPPED);
  });

  it('a plain ajv accepts the credential examples (examples/), and so does the sidecar', () => {
    const doc = parseYaml(readFileSync(CREDENTIAL_EXAMPLES, 'utf8')) as { routes: unknown[] };
    const validate = plainValidator();
    expect([validate(doc), validate.errors]).toEqual([true, null]);
    const iams = readRoutesFile(CREDENTIAL_EXAMPLES).map((r) => r.plugins['aws-lambda']?.authorization?.iam);
    expect(iams.map((iam) => Object.keys(iam ?? {}).filter((k) => ['accesskey', 'profile', 'role_arn'].includes(k)).sort().join('+'))).toEqual([
      '', 'profile', 'role_arn', 'accesskey+role_arn', 'accesskey',
    ]);
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('examples');
  });

  it('a plain ajv accepts the demo routes, the seed examples and the README example', () => {
    const validate = plainValidator();
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const readmeExample = /## Routes[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(readmeExample).toBeDefined();
    const seeds = [SEED_PUT_APIKEY, SEED_PUT_IAM, SEED_PUT_PATH_FORWARDING].map((body, i) => ({ id: i + 1, ...(parseYaml(body) as object) }));
    const documents: Array<[string, unknown]> = [
      ['demo', parseYaml(readFileSync(DEMO, 'utf8'))],
      ['seed', { routes: seeds }],
      ['README', parseYaml(readmeExample!)],
      ['empty routes:', { routes: null }],
    ];
    for (const [name, doc] of documents) {
      expect([name, validate(doc), validate.errors]).toEqual([name, true, null]);
    }
    // And the sidecar reads the demo file as the schema says.
    expect(readRoutesFile(DEMO).length).toBeGreaterThan(0);
  });

  it.each<[string, unknown]>([
    ['timeout below 100', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', timeout: 99 } } }] }],
    ['an unknown plugin field', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', time_out: 5 } } }] }],
    ['no uri nor uris', { routes: [{ id: 'a', plugins: {} }] }],
    ['uri and uris', { routes: [{ id: 'a', uri: '/a', uris: ['/b'], plugins: {} }] }],
    ['host and hosts', { routes: [{ id: 'a', uri: '/a', host: 'a.example.com', hosts: ['b.example.com'], plugins: {} }] }],
    ['a profile with static keys', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', authorization: { iam: { profile: 'p', accesskey: 'AK', secretkey: 'SK' } } } } }] }],
    ['duration_seconds without role_arn', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', authorization: { iam: { duration_seconds: 900 } } } } }] }],
    ['iam without a secret key', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', authorization: { iam: { accesskey: 'AK' } } } } }] }],
    ['an apikey with a trailing newline', { routes: [{ id: 'a', uri: '/a', plugins: { 'aws-lambda': { function_uri: 'https://h/', authorization: { apikey: 'key\n' } } } }] }],
    ['id ".."', { routes: [{ id: '..', uri: '/a', plugins: {} }] }],
    ['an unknown top-level field', { routes: [], upstreams: [] }],
  ])('a plain ajv refuses %s', (_label, doc) => {
    expect(plainValidator()(doc)).toBe(false);
  });
});

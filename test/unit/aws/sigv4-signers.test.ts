// The two signers behind SigV4Signer (lean, ours; aws4, the library) give the same canonical request,
// string to sign and Authorization for the same inputs: thousands of generated requests (paths with
// escapes, dot segments and `//`, queries with repeats, empty names and non-ASCII, headers with
// whitespace runs and repeats, bodies, tokens, the services whose rules differ), a fixed seed so a
// failure reproduces. Both are also checked against AWS's vectors (sigv4-testsuite.test.ts) and
// @smithy (sigv4-oracle.test.ts).
import { sigV4Signer, type SignableRequest, type SigV4Credentials, type SigV4Explanation, type SigV4Scope } from '../../../src/aws/sigv4';
import { toWirePath } from '../../../src/invoke/wire-path';

const DATETIME = '20240229T235959Z';
const CASES = 3000;

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(20241201);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const times = (max: number): number => Math.floor(random() * (max + 1));

const PATH_PIECES = ['a', 'default', 'fn', '.', '..', '', '%20', '%2F', '%2e', 'é', '✓', 'x y', "!'()*", 'a+b', ';=,$&', '%25', '~', 'c:d@e', '%7E'];
const QUERY_PIECES = ['a', 'b', 'A', '', '%20', '+', '%2B', '%41', '%C3%A9', '\xc3\xa9', '%E2%9C%93', '~', '!', '*', '%2A', 'x=y', '__', '1', '0'];
const HEADER_VALUES = ['v', ' spaced   out ', 'a\tb', 'application/json; charset=utf-8', 'caf\xc3\xa9', 'bin\xff\xfe', '', '  ', 'x,y'];
const SERVICES = ['execute-api', 'lambda', 's3', 'email', 'service'];

function generated(): { req: SignableRequest; scope: SigV4Scope; creds: SigV4Credentials } {
  const path = toWirePath(`/${Array.from({ length: 1 + times(5) }, () => pick(PATH_PIECES)).join('/')}`);
  const query = Array.from({ length: times(5) }, () => {
    const name = pick(QUERY_PIECES);
    return random() < 0.2 ? name : `${name}=${pick(QUERY_PIECES)}`;
  }).join('&');
  const sessionToken = random() < 0.3 ? 'FQoGZXIvYXdzEJr//////////token+/=' : undefined;
  const headers: Array<[string, string]> = [['host', pick(['h.example', 'x9w6z07gb9.execute-api.us-east-1.amazonaws.com', 'lambda.eu-west-1.amazonaws.com:443'])], ['x-amz-date', DATETIME]];
  for (let i = times(4); i > 0; i--) headers.push([pick(['content-type', 'x-amz-meta-a', 'x-amz-meta-b', 'x-amz-target', 'user-agent', 'range']), pick(HEADER_VALUES)]);
  if (sessionToken !== undefined) headers.push(['x-amz-security-token', sessionToken]);
  const body = pick([null, Buffer.alloc(0), Buffer.from('{"hello":"wörld"}'), Buffer.from([0, 255, 128, 10])]);
  return {
    req: { method: pick(['GET', 'POST', 'PUT', 'HEAD', 'DELETE']), path, query, headers, body },
    scope: { region: pick(['us-east-1', 'eu-west-1']), service: pick(SERVICES) },
    creds: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: pick(['wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'other/secret+key']), sessionToken },
  };
}

function outcome(f: () => SigV4Explanation): SigV4Explanation | { error: string } {
  try {
    return f();
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

describe('lean and aws4 signers agree', () => {
  const lean = sigV4Signer('lean');
  const aws4 = sigV4Signer('aws4');

  it(`on ${CASES} generated wire requests (canonical request, string to sign, Authorization)`, () => {
    let compared = 0;
    let refused = 0;
    for (let i = 0; i < CASES; i++) {
      const { req, scope, creds } = generated();
      // Both give the same strings, or both refuse with the same error (s3 decodes path escapes).
      const a = outcome(() => lean.explain(req, scope, creds, DATETIME, 'wire'));
      const b = outcome(() => aws4.explain(req, scope, creds, DATETIME, 'wire'));
      if (JSON.stringify(a) !== JSON.stringify(b)) expect({ req, scope, lean: a }).toEqual({ req, scope, lean: b });
      if ('authorization' in a) expect(lean.sign(req, scope, creds, DATETIME, 'wire')).toBe(a.authorization);
      else refused++;
      compared++;
    }
    expect(compared).toBe(CASES);
    expect(refused).toBeLessThan(CASES / 10); // the generator mostly makes signable requests
  });

  it('reuses the cached signing key only for the same secret, day, region and service', () => {
    const req: SignableRequest = { method: 'GET', path: '/', query: '', headers: [['host', 'h'], ['x-amz-date', DATETIME]], body: null };
    const creds = { accessKeyId: 'AKID', secretAccessKey: 'one' };
    const scope = { region: 'us-east-1', service: 'lambda' };
    const variants: Array<[SigV4Scope, SigV4Credentials, string]> = [
      [scope, creds, DATETIME],
      [scope, { ...creds, secretAccessKey: 'two' }, DATETIME],
      [{ ...scope, region: 'eu-west-1' }, creds, DATETIME],
      [{ ...scope, service: 'execute-api' }, creds, DATETIME],
      [scope, creds, '20240301T000000Z'],
    ];
    const leanSigs = variants.map(([s, c, d]) => lean.sign({ ...req, headers: [['host', 'h'], ['x-amz-date', d]] }, s, c, d, 'wire'));
    const aws4Sigs = variants.map(([s, c, d]) => aws4.sign({ ...req, headers: [['host', 'h'], ['x-amz-date', d]] }, s, c, d, 'wire'));
    expect(leanSigs).toEqual(aws4Sigs);
    expect(new Set(leanSigs).size).toBe(variants.length);
  });

  it('refuses to sign without a host header (a programming error, never a request without one)', () => {
    expect(() => lean.sign({ method: 'GET', path: '/', query: '', headers: [['x-amz-date', DATETIME]], body: null }, { region: 'us-east-1', service: 'lambda' }, { accessKeyId: 'a', secretAccessKey: 'b' }, DATETIME, 'wire'))
      .toThrow('SigV4: the headers to sign hold no host');
  });
});

describe('where lean deliberately differs from aws4', () => {
  it('signs a query parameter named __proto__ (AWS signs every parameter); aws4 loses it to the prototype setter', () => {
    const req: SignableRequest = { method: 'GET', path: '/q', query: '__proto__=x&a=1', headers: [['host', 'h'], ['x-amz-date', DATETIME]], body: null };
    const scope = { region: 'us-east-1', service: 'execute-api' };
    const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    const queryLine = (signer: 'lean' | 'aws4'): string => sigV4Signer(signer).explain(req, scope, creds, DATETIME, 'wire').canonicalRequest.split('\n')[2];
    expect({ lean: queryLine('lean'), aws4: queryLine('aws4') }).toEqual({ lean: '__proto__=x&a=1', aws4: 'a=1' });
  });
});

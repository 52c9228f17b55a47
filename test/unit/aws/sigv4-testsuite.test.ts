// AWS's own SigV4 vectors (test/fixtures/sigv4-testsuite, see its README) against each of our signers in 'raw'
// path mode (the suite's paths are unencoded). Every case directory is run: a case we cannot pass
// for a principled reason lives in KNOWN_DIFFERENCES with the reason, and the test asserts that it
// still differs, so the list stays honest.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { explainSigV4, SIGV4_SIGNER_NAMES, type SigV4Credentials, type SigV4SignerName } from '../../../src/aws/sigv4';

const SUITE_ROOT = path.resolve(__dirname, '../../fixtures/sigv4-testsuite');
const CLASSIC = path.join(SUITE_ROOT, 'aws4_testsuite');
const CRT = path.join(SUITE_ROOT, 'aws-signing-test-suite-v4');

const ACCESS_KEY_ID = 'AKIDEXAMPLE';
const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const DATETIME = '20150830T123600Z';
const SCOPE = { region: 'us-east-1', service: 'service' };
/** The README: get-vanilla-with-session-token's token appears only in its .creq/.sreq. */
const VANILLA_SESSION_TOKEN = '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267';

/**
 * Cases we do not pass, by suite-relative directory, with the reason. Each is asserted to differ
 * from the expectation: if one starts passing, remove it from here.
 */
const KNOWN_DIFFERENCES: Readonly<Record<string, string>> = {
  // aws4 always normalizes the path (removes `.`/`..` segments, collapses `//`) for every service
  // but s3. AWS's `normalize: false` vectors are S3-style; we never sign for S3, and API Gateway and
  // Lambda expect normalized paths (the normalize:true twin of each case passes).
  'aws-signing-test-suite-v4/get-relative-relative-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
  'aws-signing-test-suite-v4/get-relative-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
  'aws-signing-test-suite-v4/get-slash-dot-slash-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
  'aws-signing-test-suite-v4/get-slash-pointless-dot-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
  'aws-signing-test-suite-v4/get-slash-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
  'aws-signing-test-suite-v4/get-slashes-unnormalized': 'aws4 always normalizes non-S3 paths (S3-style vector)',
};

interface ParsedRequest {
  method: string;
  /** Unencoded path as text (UTF-8 decoded from the file). */
  path: string;
  /** Query without `?`, as text ('' for none). */
  query: string;
  /** Lower-case names, file order of first appearance; repeated names joined with `,` in order. */
  headers: Array<[string, string]>;
  body: Buffer | null;
}

/** Parses a suite `.req`/`request.txt` (README: request line, headers with obs-fold, optional body). */
export function parseSuiteRequest(text: string): ParsedRequest {
  const lines = text.split('\n');
  const requestLine = lines[0];
  const firstSpace = requestLine.indexOf(' ');
  const lastSpace = requestLine.lastIndexOf(' ');
  if (firstSpace === -1 || lastSpace <= firstSpace) throw new Error(`bad request line: ${JSON.stringify(requestLine)}`);
  const method = requestLine.slice(0, firstSpace);
  const target = requestLine.slice(firstSpace + 1, lastSpace); // paths may hold spaces
  const q = target.indexOf('?');
  const headers: Array<[string, string]> = [];
  let i = 1;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') break;
    if (/^[ \t]/.test(line)) {
      // obs-fold: continues the previous header's value; aws4 collapses the whitespace.
      const last = headers[headers.length - 1];
      if (last === undefined) throw new Error('continuation line before any header');
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1);
    const existing = headers.find(([n]) => n === name);
    if (existing !== undefined) existing[1] += `,${value}`;
    else headers.push([name, value]);
  }
  const bodyLines = lines.slice(i + 1);
  while (bodyLines.length > 0 && bodyLines[bodyLines.length - 1] === '') bodyLines.pop();
  const bodyText = bodyLines.join('\n');
  return {
    method,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    headers,
    body: bodyText === '' ? null : Buffer.from(bodyText, 'utf8'),
  };
}

/** The suite's text is UTF-8; our signer takes byte strings (one char per byte). */
function toByteString(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

function sign(req: ParsedRequest, creds: SigV4Credentials, signer: SigV4SignerName): ReturnType<typeof explainSigV4> {
  return explainSigV4(
    {
      method: req.method,
      path: toByteString(req.path),
      query: toByteString(req.query),
      headers: req.headers.map(([n, v]) => [n, toByteString(v)] as const),
      body: req.body,
    },
    SCOPE,
    creds,
    DATETIME,
    'raw',
    signer,
  );
}

function read(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Directories holding a `<name>.req` (classic) or `request.txt` (CRT), recursively. */
function caseDirs(root: string, marker: (dir: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = path.join(root, name);
    if (!statSync(dir).isDirectory()) continue;
    if (marker(dir)) out.push(dir);
    else out.push(...caseDirs(dir, marker));
  }
  return out;
}

function rel(dir: string): string {
  return path.relative(SUITE_ROOT, dir).split(path.sep).join('/');
}

const suitePresent = existsSync(CLASSIC) && existsSync(CRT);

describe('sigv4 test suite location', () => {
  it(`finds the vectors at ${SUITE_ROOT}`, () => {
    if (!suitePresent) {
      throw new Error(`SigV4 test vectors not found at ${SUITE_ROOT} (expected aws4_testsuite/ and aws-signing-test-suite-v4/). `
        + 'They are checked in under test/fixtures/sigv4-testsuite.');
    }
  });
});

const classicCases = suitePresent
  ? caseDirs(CLASSIC, (dir) => existsSync(path.join(dir, `${path.basename(dir)}.req`))).map((dir) => ({ name: rel(dir), dir }))
  : [];
const crtCases = suitePresent
  ? caseDirs(CRT, (dir) => existsSync(path.join(dir, 'request.txt'))).map((dir) => ({ name: rel(dir), dir }))
  : [];

describe('parseSuiteRequest', () => {
  it('handles obs-fold, repeated names, paths with spaces and a body', () => {
    const req = parseSuiteRequest('POST /a b/?x=1 HTTP/1.1\nHost:h\nMy-H:v1\n  v2\nmy-h:v3\n\nbody line\n\n');
    expect(req).toEqual({
      method: 'POST',
      path: '/a b/',
      query: 'x=1',
      headers: [['host', 'h'], ['my-h', 'v1\n  v2,v3']],
      body: Buffer.from('body line'),
    });
  });
});

describe.each(SIGV4_SIGNER_NAMES)('aws4_testsuite (classic, botocore copy), %s signer', (signer) => {
  it('has every case directory, nested ones included', () => {
    expect(classicCases.length).toBe(34);
    expect(classicCases.map((c) => c.name)).toEqual(expect.arrayContaining([
      'aws4_testsuite/normalize-path/get-special-character',
      'aws4_testsuite/normalize-path/get-space',
      'aws4_testsuite/post-sts-token/post-sts-header-after',
      'aws4_testsuite/post-sts-token/post-sts-header-before',
      'aws4_testsuite/get-vanilla-with-session-token',
    ]));
  });

  it.each(classicCases)('$name', ({ name, dir }) => {
    const base = path.join(dir, path.basename(dir));
    const req = parseSuiteRequest(read(`${base}.req`));
    let creds: SigV4Credentials = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
    if (path.basename(dir) === 'get-vanilla-with-session-token') {
      req.headers.push(['x-amz-security-token', VANILLA_SESSION_TOKEN]);
      creds = { ...creds, sessionToken: VANILLA_SESSION_TOKEN };
    }
    // post-sts-header-before: the token header is in the .req and signed. post-sts-header-after:
    // the token is added after signing, so it is simply not passed.
    const got = sign(req, creds, signer);
    const expected = {
      canonicalRequest: read(`${base}.creq`),
      stringToSign: read(`${base}.sts`),
      authorization: read(`${base}.authz`),
    };
    if (name in KNOWN_DIFFERENCES) {
      expect(got).not.toEqual(expected);
    } else {
      expect(got.canonicalRequest).toBe(expected.canonicalRequest);
      expect(got.stringToSign).toBe(expected.stringToSign);
      expect(got.authorization).toBe(expected.authorization);
    }
  });
});

interface CrtContext {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  normalize: boolean;
  region: string;
  service: string;
  sign_body: boolean;
  timestamp: string;
  omit_session_token?: boolean;
}

describe.each(SIGV4_SIGNER_NAMES)('aws-signing-test-suite-v4 (aws-c-auth), header signing, %s signer', (signer) => {
  it('has all 38 cases', () => {
    expect(crtCases.length).toBe(38);
  });

  it('lists only existing cases in KNOWN_DIFFERENCES, each with a reason', () => {
    const names = new Set([...classicCases, ...crtCases].map((c) => c.name));
    for (const [name, reason] of Object.entries(KNOWN_DIFFERENCES)) {
      expect({ name, exists: names.has(name) }).toEqual({ name, exists: true });
      expect(reason.length).toBeGreaterThan(10);
    }
  });

  it.each(crtCases)('$name', ({ name, dir }) => {
    const ctx = JSON.parse(read(path.join(dir, 'context.json'))) as CrtContext;
    expect({ region: ctx.region, service: ctx.service, timestamp: ctx.timestamp })
      .toEqual({ region: SCOPE.region, service: SCOPE.service, timestamp: '2015-08-30T12:36:00Z' });
    const req = parseSuiteRequest(read(path.join(dir, 'request.txt')));
    // request.txt has no X-Amz-Date: add it (and the body hash, the token) as the signer would.
    req.headers.push(['x-amz-date', DATETIME]);
    if (ctx.sign_body) req.headers.push(['x-amz-content-sha256', createHash('sha256').update(req.body ?? Buffer.alloc(0)).digest('hex')]);
    const token = ctx.credentials.token;
    if (token !== undefined && ctx.omit_session_token !== true) req.headers.push(['x-amz-security-token', token]);
    const got = sign(req, {
      accessKeyId: ctx.credentials.access_key_id,
      secretAccessKey: ctx.credentials.secret_access_key,
      sessionToken: ctx.omit_session_token === true ? undefined : token,
    }, signer);
    const signature = /Signature=([0-9a-f]{64})$/.exec(got.authorization)?.[1];
    const actual = { canonicalRequest: got.canonicalRequest, stringToSign: got.stringToSign, signature };
    const expected = {
      canonicalRequest: read(path.join(dir, 'header-canonical-request.txt')),
      stringToSign: read(path.join(dir, 'header-string-to-sign.txt')),
      signature: read(path.join(dir, 'header-signature.txt')).trim(),
    };
    if (name in KNOWN_DIFFERENCES) {
      expect(ctx.normalize).toBe(false);
      expect(actual).not.toEqual(expected);
    } else {
      expect(actual.canonicalRequest).toBe(expected.canonicalRequest);
      expect(actual.stringToSign).toBe(expected.stringToSign);
      expect(actual.signature).toBe(expected.signature);
    }
  });
});

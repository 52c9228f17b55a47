/**
 * The `lean` SigV4 signer: the canonical request aws4 builds, built directly from our prepared
 * inputs in one pass. What it saves per request (bench/ANALYSIS.md has the numbers): aws4's
 * RequestSigner object, its copy and re-parse of path and query (url/querystring), its per-call
 * join of the signing-key cache key, and its streaming hash objects (`crypto.hash` is one-shot); the
 * empty body's hash is a constant.
 *
 * It follows aws4's rules where they go beyond AWS's documented ones, so the two agree byte for
 * byte (test/unit/aws/sigv4-signers.test.ts checks it over generated requests):
 * - every service but s3 normalises the path (`//` collapsed, `.`/`..` resolved), then encodes each
 *   segment with RFC 3986 (the wire path's escapes encoded once more, `%20` → `%2520`); in `raw`
 *   mode (AWS's test vectors) each segment is first decoded; s3 keeps the path as it is;
 * - query pairs with an empty name are not signed; s3 signs only the first value of a name;
 * - header values are trimmed and inner whitespace runs collapsed; authorization, connection,
 *   x-amzn-trace-id, user-agent, expect, presigned-expires and range are never signed;
 * - service `email` signs as `ses`.
 * One deliberate difference: a query parameter named `__proto__` is signed (aws4 loses it to
 * JavaScript's prototype setter, and AWS rejects such a request).
 */
import * as crypto from 'node:crypto';
import {
  byteStringToText,
  canonicalQueryString,
  type PathEncoding,
  type SigV4Credentials,
  type SigV4Explanation,
  type SigV4Scope,
  type SigV4Signer,
  type SignableRequest,
} from './sigv4';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_BODY_SHA256 = crypto.createHash('sha256').update('').digest('hex');
/** Never signed (aws4's list): a hop may change them. */
const UNSIGNED_HEADERS: ReadonlySet<string> = new Set(['authorization', 'connection', 'x-amzn-trace-id', 'user-agent', 'expect', 'presigned-expires', 'range']);
/** aws4 re-encodes paths holding anything outside this set after a decodeURI/encodeURI round trip. */
const NEEDS_URI_REENCODING = /[^0-9A-Za-z;,/?:@&=+$\-_.!~*'()#%]/;
/** Signing keys kept (one per secret, day, region and service); the map is emptied when full. */
const MAX_CACHED_SIGNING_KEYS = 1000;

const WHITESPACE_RUN = /\s+/g;

function byName(a: readonly [string, string], b: readonly [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

const sha256Hex: (data: string | Buffer) => string = typeof (crypto as { hash?: unknown }).hash === 'function'
  ? (data) => crypto.hash('sha256', data, 'hex')
  : (data) => crypto.createHash('sha256').update(data).digest('hex');

const signingKeys = new Map<string, Buffer>();

function hmac(key: string | Buffer, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${secret}\n${date}\n${region}\n${service}`;
  let key = signingKeys.get(cacheKey);
  if (key === undefined) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
    if (signingKeys.size >= MAX_CACHED_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}

function encodeRfc3986Full(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalPath(path: string, service: string, pathEncoding: PathEncoding): string {
  let p = path === '' ? '/' : path;
  if (NEEDS_URI_REENCODING.test(p)) p = encodeURI(decodeURI(p));
  if (p === '/') return p;
  const s3 = service === 's3';
  const decode = s3 || pathEncoding === 'raw';
  if (!s3) p = p.replace(/\/{2,}/g, '/');
  const out: string[] = [];
  for (let piece of p.split('/')) {
    if (!s3 && piece === '..') {
      out.pop();
    } else if (s3 || piece !== '.') {
      if (decode) piece = decodeURIComponent(piece.replace(/\+/g, ' '));
      out.push(encodeRfc3986Full(piece));
    }
  }
  let joined = out.join('/');
  if (joined.charCodeAt(0) !== 47 /* / */) joined = `/${joined}`;
  return s3 ? joined.replace(/%2F/g, '/') : joined;
}

/** The canonical query of our already canonical one, with aws4's two service rules applied. */
function signedQuery(rawQuery: string, service: string): string {
  const canonical = canonicalQueryString(rawQuery);
  if (canonical === '') return '';
  const s3 = service === 's3';
  let dropped = false;
  const kept: string[] = [];
  let lastName: string | undefined;
  for (const pair of canonical.split('&')) {
    const name = pair.slice(0, pair.indexOf('='));
    if (name === '' || (s3 && name === lastName)) {
      dropped = true;
      continue;
    }
    lastName = name;
    kept.push(pair);
  }
  return dropped ? kept.join('&') : canonical;
}

interface Canonical {
  readonly canonicalRequest: string;
  readonly signedHeaders: string;
}

function canonicalRequestOf(req: SignableRequest, service: string, pathEncoding: PathEncoding): Canonical {
  // First, as aws4 does: an unsignable query is the error a client sees, before any path error.
  const query = signedQuery(req.query, service);
  // Sorted by name (a stable sort keeps a repeated name's values in received order), repeats
  // joined with `,`; no map or intermediate list beyond the sorted copy.
  const sorted = req.headers.length === 1 ? req.headers : [...req.headers].sort(byName);
  let headerBlock = '';
  let signedHeaders = '';
  let host = false;
  let contentSha256: string | undefined;
  for (let i = 0; i < sorted.length; i++) {
    const name = sorted[i][0];
    let value = byteStringToText(sorted[i][1]);
    while (i + 1 < sorted.length && sorted[i + 1][0] === name) value += `,${byteStringToText(sorted[++i][1])}`;
    if (name === 'host') host = true;
    else if (name === 'x-amz-content-sha256') contentSha256 = value;
    if (UNSIGNED_HEADERS.has(name)) continue;
    headerBlock += `${name}:${value.trim().replace(WHITESPACE_RUN, ' ')}\n`;
    signedHeaders = signedHeaders === '' ? name : `${signedHeaders};${name}`;
  }
  if (!host) throw new Error('SigV4: the headers to sign hold no host');
  const bodyHash = contentSha256 ?? (req.body === null || req.body.length === 0 ? EMPTY_BODY_SHA256 : sha256Hex(req.body));
  const path = canonicalPath(pathEncoding === 'raw' ? byteStringToText(req.path) : req.path, service, pathEncoding);
  const canonicalRequest = `${req.method === '' ? 'GET' : req.method}\n${path}\n${query}\n${headerBlock}\n${signedHeaders}\n${bodyHash}`;
  return { canonicalRequest, signedHeaders };
}

function explain(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding): SigV4Explanation {
  const service = scope.service === 'email' ? 'ses' : scope.service;
  const { canonicalRequest, signedHeaders } = canonicalRequestOf(req, service, pathEncoding);
  const date = datetime.slice(0, 8);
  const credentialScope = `${date}/${scope.region}/${service}/aws4_request`;
  const stringToSign = `${ALGORITHM}\n${datetime}\n${credentialScope}\n${sha256Hex(canonicalRequest)}`;
  const signature = crypto.createHmac('sha256', signingKey(creds.secretAccessKey, date, scope.region, service)).update(stringToSign, 'utf8').digest('hex');
  const authorization = `${ALGORITHM} Credential=${creds.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { canonicalRequest, stringToSign, authorization };
}

export const LEAN_SIGNER: SigV4Signer = {
  name: 'lean',
  sign: (req, scope, creds, datetime, pathEncoding) => explain(req, scope, creds, datetime, pathEncoding).authorization,
  explain,
};

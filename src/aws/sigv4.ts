/**
 * AWS Signature Version 4 for the requests we send to a function. Two signers sit behind one
 * interface (`SigV4Signer`): `aws4` (the library) and `lean` (ours, sigv4-lean.ts: the same canonical
 * request built in one pass, the signing key cached, one-shot hashing; the default, being several
 * times cheaper per request, see bench/ANALYSIS.md). Both are run against AWS's vectors and against
 * each other. The inputs are prepared so that what they sign is exactly what travels on the wire (AWS's rules:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 *
 * - Path: we hand aws4 the wire path (percent-encoded ASCII, see wire-path.ts), and aws4 encodes
 *   each segment once more: `%20` → `%2520`, which is AWS's rule for every service but S3.
 * - Query: aws4 re-parses the query with Node's querystring, which reads `+` as a space and keeps
 *   only 1000 keys. We therefore give it a query we have already canonicalised ourselves (each
 *   name/value percent-decoded, `+` kept as a literal plus, then RFC 3986-encoded): re-parsing that
 *   is lossless, and the wire keeps the client's original bytes.
 * - Headers: we sign exactly the headers the caller passes (host, x-amz-*, content-type); repeated
 *   ones are joined with `,` in received order. aws4 trims and collapses inner whitespace.
 *
 * All strings here are byte strings (latin1: one char per byte), as they come off the wire.
 */
// The signers work on JS strings, so only bytes that are valid UTF-8 can be signed.
import { isUtf8 } from 'node:buffer';
import { ERROR_CODES, sidecarError } from '../errors';

export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SigV4Scope {
  readonly region: string;
  readonly service: string;
}

export interface SignableRequest {
  readonly method: string;
  /** Wire path (percent-encoded ASCII), or with pathEncoding 'raw' a path to encode just once. */
  readonly path: string;
  /** Raw query without `?` ('' for none), as bytes on the wire. */
  readonly query: string;
  /** Headers to sign (lower-case names), host and x-amz-date included. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer | null;
}

/** `wire`: production (path already percent-encoded, encoded again). `raw`: AWS test-suite paths. */
export type PathEncoding = 'wire' | 'raw';

/** aws4 parses queries with querystring's default limit of 1000 keys. */
export const MAX_SIGNED_QUERY_PARAMS = 1000;

const UNRESERVED = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~') UNRESERVED[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/**
 * Percent-decodes a byte string into bytes; a `%` not followed by two hex digits stays literal
 * (AWS then signs it as `%25`). `+` is a literal plus, as in RFC 3986.
 */
function percentDecodeBytes(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < s.length) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi !== -1 && lo !== -1) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

function percentEncodeBytes(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) s += UNRESERVED[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return s;
}


/**
 * The SigV4 canonical query string for a raw query: pairs split on `&` and the first `=`, each side
 * percent-decoded and re-encoded with the RFC 3986 unreserved set, sorted by name then value,
 * repeated names kept, `flag` → `flag=`.
 */
export function canonicalQueryString(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    if (pairs.length === MAX_SIGNED_QUERY_PARAMS) {
      throw sidecarError(ERROR_CODES.BAD_REQUEST, `query string has more than ${MAX_SIGNED_QUERY_PARAMS} parameters; it cannot be signed`);
    }
    const eq = part.indexOf('=');
    const name = percentDecodeBytes(eq === -1 ? part : part.slice(0, eq));
    const value = percentDecodeBytes(eq === -1 ? '' : part.slice(eq + 1));
    if (!isUtf8(name) || !isUtf8(value)) {
      throw sidecarError(ERROR_CODES.BAD_REQUEST, 'query string is not valid UTF-8 once percent-decoded; it cannot be signed');
    }
    pairs.push([percentEncodeBytes(name), percentEncodeBytes(value)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

let lastSecond = -1;
let lastAmzDate = '';

/** `20150830T123600Z` from a Date (memoised per second: it is on every signed request). */
export function amzDate(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastAmzDate = date.toISOString().replace(/[:-]|\.\d{3}/g, '');
  }
  return lastAmzDate;
}

/** A byte string as the text the signers hash: valid UTF-8 bytes decoded, anything else left as it is. */
export function byteStringToText(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(s)) return s;
  const bytes = Buffer.from(s, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : s;
}

/** The intermediate SigV4 strings, for tests and troubleshooting. */
export interface SigV4Explanation {
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly authorization: string;
}

/** One SigV4 implementation: same inputs, same Authorization value. */
export interface SigV4Signer {
  readonly name: SigV4SignerName;
  /** The `Authorization` header value for `req`. */
  sign(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding): string;
  explain(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding): SigV4Explanation;
}

export const SIGV4_SIGNER_NAMES = ['lean', 'aws4'] as const;
export type SigV4SignerName = (typeof SIGV4_SIGNER_NAMES)[number];
export const DEFAULT_SIGV4_SIGNER: SigV4SignerName = 'lean';

// Loaded on first use: each module imports this one for the shared pieces above.
let signers: Record<SigV4SignerName, SigV4Signer> | undefined;

export function sigV4Signer(name: SigV4SignerName): SigV4Signer {
  signers ??= {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    lean: (require('./sigv4-lean') as typeof import('./sigv4-lean')).LEAN_SIGNER,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    aws4: (require('./sigv4-aws4') as typeof import('./sigv4-aws4')).AWS4_SIGNER,
  };
  return signers[name];
}

let selected: SigV4Signer | undefined;

/** Which signer `signSigV4` uses from now on (the CLI's `--sigv4-signer`); the default is lean. */
export function useSigV4Signer(name: SigV4SignerName): void {
  selected = sigV4Signer(name);
}

/** The `Authorization` header value for `req`. The caller adds x-amz-date/x-amz-security-token headers. */
export function signSigV4(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding = 'wire'): string {
  selected ??= sigV4Signer(DEFAULT_SIGV4_SIGNER);
  return selected.sign(req, scope, creds, datetime, pathEncoding);
}

/** The intermediate SigV4 strings of one signer (the selected one unless named), for tests and troubleshooting. */
export function explainSigV4(req: SignableRequest, scope: SigV4Scope, creds: SigV4Credentials, datetime: string, pathEncoding: PathEncoding = 'wire', signer?: SigV4SignerName): SigV4Explanation {
  selected ??= sigV4Signer(DEFAULT_SIGV4_SIGNER);
  return (signer === undefined ? selected : sigV4Signer(signer)).explain(req, scope, creds, datetime, pathEncoding);
}

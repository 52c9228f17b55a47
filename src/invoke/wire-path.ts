/**
 * The path we put on the wire to the function: the function_uri's path plus, for a `uri` ending in
 * `*`, the rest of the client's path with exactly one `/` between them. Bytes that may not appear
 * raw in a URI path are percent-encoded; existing escapes (`%2F`, `%20`...) are kept as they are, so
 * the function sees what the client sent.
 */
import { ERROR_CODES, sidecarError } from '../errors';

const ALLOWED = new Uint8Array(256);
// RFC 3986 pchar: unreserved / sub-delims / ":" / "@", plus "/" between segments and "%" escapes.
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") ALLOWED[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

function isHex(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

/** Percent-encodes what must not stay raw; `%` not starting a valid escape becomes `%25`. */
export function toWirePath(path: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 256 && ALLOWED[c] === 1) continue;
    if (c === 37 && i + 2 < path.length && isHex(path.charCodeAt(i + 1)) && isHex(path.charCodeAt(i + 2))) continue;
    out += path.slice(start, i);
    if (c > 255) {
      // Not a byte string: encode the character's UTF-8 bytes (a surrogate pair is one character).
      const cp = path.codePointAt(i) as number;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
      if (cp > 0xffff) i++;
    } else {
      out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    }
    start = i + 1;
  }
  return start === 0 ? path : out + path.slice(start);
}

const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;

/**
 * Joins the function's base path and the forwarded rest. A rest with `.` or `..` segments is
 * refused: it would climb out of the function's path on the API Gateway.
 */
export function forwardedPath(basePath: string, rest: string | undefined): string {
  if (rest === undefined) return basePath;
  if (DOT_SEGMENT.test(rest)) {
    throw sidecarError(ERROR_CODES.BAD_REQUEST, 'path has "." or ".." segments; they cannot be forwarded');
  }
  let b = basePath.length;
  while (b > 0 && basePath.charCodeAt(b - 1) === 47) b--;
  let r = 0;
  while (r < rest.length && rest.charCodeAt(r) === 47) r++;
  return `${basePath.slice(0, b)}/${rest.slice(r)}`;
}

/**
 * Route uris are matched against request paths as they arrive, and HTTP only carries ASCII in a
 * request target (RFC 3986 §2.1; Node's parser answers 400 to a raw byte above 0x7F). A route uri
 * written with non-ASCII characters (`/café`) is therefore stored in the form clients send:
 * each such character as its UTF-8 bytes, percent-encoded with upper-case hex (`/caf%C3%A9`).
 * ASCII, existing escapes included, is kept as written.
 */
const NON_ASCII = /[^\x00-\x7f]+/g;

function percentEncodeUtf8(text: string): string {
  let out = '';
  // Buffer.from turns a lone surrogate into U+FFFD instead of throwing like encodeURIComponent.
  for (const byte of Buffer.from(text, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

export function wireFormUri(uri: string): string {
  return uri.replace(NON_ASCII, percentEncodeUtf8);
}

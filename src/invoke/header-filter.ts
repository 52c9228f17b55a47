/**
 * Which headers cross the sidecar, in each direction.
 */
import type { HeaderList } from './client-request';

/** RFC 9110 §7.6.1 connection-specific headers, plus ones a proxy must not forward. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'proxy-authenticate', 'proxy-authorization', 'http2-settings',
]);

/**
 * Request headers we never forward: hop-by-hop ones, `host` (set to the function's host),
 * `content-length` (recomputed from the body we send), `expect` (we send the whole body at once)
 * and Envoy's internal `x-envoy-*` headers.
 */
function droppedRequestHeader(name: string): boolean {
  return HOP_BY_HOP.has(name) || name === 'host' || name === 'content-length' || name === 'expect'
    || name.startsWith('x-envoy-') || name.charCodeAt(0) === 58 /* ':' pseudo-header */;
}

/** Tokens of every `connection` header: more headers the sender marked as hop-by-hop. */
function connectionTokens(headers: HeaderList): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (const [name, value] of headers) {
    if (name !== 'connection') continue;
    for (const t of value.split(',')) {
      const token = t.trim().toLowerCase();
      if (token !== '') (tokens ??= new Set()).add(token);
    }
  }
  return tokens;
}

export function forwardableRequestHeaders(headers: HeaderList): HeaderList {
  const extra = connectionTokens(headers);
  const out: HeaderList = [];
  for (const h of headers) {
    if (droppedRequestHeader(h[0]) || (extra !== null && extra.has(h[0]))) continue;
    out.push(h);
  }
  return out;
}

/**
 * Response headers relayed to the client: all but connection-specific ones (HTTP/2 forbids them)
 * and `content-length`, which the front sets from the body it actually sends (kept for HEAD, whose
 * Content-Length must be GET's, RFC 9110 §8.6, and only the function knows it).
 */
export function relayableResponseHeaders(headers: HeaderList, keepContentLength = false): HeaderList {
  const extra = connectionTokens(headers);
  const out: HeaderList = [];
  for (const h of headers) {
    if (HOP_BY_HOP.has(h[0]) || (h[0] === 'content-length' && !keepContentLength) || (extra !== null && extra.has(h[0]))) continue;
    out.push(h);
  }
  return out;
}

export function hasHeader(headers: HeaderList, name: string): boolean {
  for (const h of headers) if (h[0] === name) return true;
  return false;
}

/**
 * Headers we sign: `host`, every `x-amz-*`, and `content-type`, i.e. the ones that reach AWS
 * unchanged. Others (user-agent, x-forwarded-*, via...) may be rewritten by a hop on the way and
 * would break the signature. AWS requires `host` and every `x-amz-*` to be signed
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
 */
export function isSignedHeader(name: string): boolean {
  return name === 'host' || name === 'content-type' || name.startsWith('x-amz-');
}

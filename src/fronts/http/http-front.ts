/**
 * The plain HTTP front: the sidecar's own endpoints (`/healthz`, everything under `/_sidecar/`) and
 * every other path answered by the route table, so nginx can `proxy_pass` to it or
 * the sidecar can run standalone. Unmatched paths get 404 `{"message": ...}`.
 */
import * as http from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { asSidecarError, ERROR_CODES, SidecarError, sidecarError } from '../../errors';
import { logRequestFailure } from '../request-failure-log';
import type { Gateway, RoutedRequest } from '../../gateway';
import { errorResponse } from '../../invoke/error-response';
import { HeaderList, LambdaResponse, splitPathAndQuery } from '../../invoke/lambda-request';
import type { LambdaTarget } from '../../invoke/target';

/** Paths the sidecar keeps for itself; never routed to a function. */
export const HEALTH_PATH = '/healthz';
export const RESERVED_PREFIX = '/_sidecar/';
export const DEFAULT_TRUSTED_PROXIES = ['127.0.0.0/8', '::1/128'];
/** Request header a trusted proxy may set to name the route (like x-lambda-route metadata for ext_proc). */
export const ROUTE_HEADER = 'x-lambda-route';

export interface HttpFrontOptions {
  /** CIDRs whose X-Forwarded-Host is believed when matching a route's host. */
  readonly trustedProxies: readonly string[];
  readonly isReady: () => boolean;
}

/** Parses CIDR strings (a bare address is a /32 or /128) into a BlockList; throws on a bad entry. */
export function trustedProxyList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split('/');
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (family === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw sidecarError(ERROR_CODES.CLI_INVALID, `trusted proxy "${cidr}" is not an IP address or CIDR`);
    }
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  return list.check(v4mapped, isIPv4(v4mapped) ? 'ipv4' : 'ipv6');
}

function send(res: http.ServerResponse, answer: LambdaResponse, headOnly: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const flat: string[] = [];
  let headLength: string | undefined;
  for (const [k, v] of answer.headers) {
    if (k === 'content-length') headLength = v; // only present for HEAD (see relayableResponseHeaders)
    else flat.push(k, v);
  }
  if (!headOnly) flat.push('content-length', String(answer.body.length));
  else if (headLength !== undefined) flat.push('content-length', headLength);
  res.writeHead(answer.status, flat);
  res.end(headOnly ? undefined : answer.body);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, { status, headers: [['content-type', 'application/json']], body: Buffer.from(JSON.stringify(body)) }, false);
}

/** Reads the body, refusing (413) past `limit` bytes before buffering more. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(sidecarError(ERROR_CODES.BODY_TOO_LARGE, `request body exceeds max_req_body_size (${limit} bytes)`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', (err) => reject(sidecarError(ERROR_CODES.CLIENT_GONE, 'client went away', err)));
  });
}

export function createHttpFront(gateway: Gateway, log: Logger, opts: HttpFrontOptions): http.Server {
  const trusted = trustedProxyList(opts.trustedProxies);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const target = req.url ?? '/';
    const { path, query } = splitPathAndQuery(target);
    if (path === HEALTH_PATH || path === `${RESERVED_PREFIX}healthz`) {
      if (opts.isReady()) json(res, 200, { status: 'ok' });
      else json(res, 503, { status: 'draining' });
      return;
    }
    if (path.startsWith(RESERVED_PREFIX)) {
      json(res, 404, { message: `no sidecar endpoint at ${path}` });
      return;
    }
    const headers: HeaderList = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name !== ROUTE_HEADER) headers.push([name, raw[i + 1]]);
    }
    let host = req.headers.host ?? '';
    let routeHint: string | undefined;
    if (isTrusted(trusted, req.socket.remoteAddress)) {
      // Only a trusted proxy (nginx beside us) may choose the host we match on or name the route.
      const fwdHost = req.headers['x-forwarded-host'];
      if (typeof fwdHost === 'string' && fwdHost !== '') host = fwdHost.split(',')[0].trim();
      const hint = req.headers[ROUTE_HEADER];
      if (typeof hint === 'string' && hint !== '') routeHint = hint;
    }
    const method = req.method ?? 'GET';
    let routed: RoutedRequest | undefined;
    try {
      routed = gateway.route({ method, path, host }, routeHint);
    } catch (err) {
      req.resume();
      send(res, errorResponse(asSidecarError(err)), method === 'HEAD');
      return;
    }
    if (routed === undefined || routed.target === null) {
      routed?.done();
      req.resume();
      json(res, 404, { message: `no route matches ${method} ${path}` });
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const t = routed.target as LambdaTarget;
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > t.maxBodyBytes) {
        throw sidecarError(ERROR_CODES.BODY_TOO_LARGE, `request body exceeds max_req_body_size (${t.maxBodyBytes} bytes)`);
      }
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      const body = hasBody ? await readBody(req, t.maxBodyBytes) : null;
      const answer = await gateway.invoke({ ...routed, target: t }, { method, path, query, host, headers, body }, abort.signal);
      send(res, answer, method === 'HEAD');
    } catch (err) {
      const e: SidecarError = asSidecarError(err);
      if (e.code === ERROR_CODES.CLIENT_GONE) return;
      logRequestFailure(log, routed.routeId, e);
      // A refused body may still be arriving: answer and close rather than read it.
      if (e.code === ERROR_CODES.BODY_TOO_LARGE) res.setHeader('connection', 'close');
      send(res, errorResponse(e), method === 'HEAD');
    } finally {
      routed.done();
    }
  };

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'http front failed');
      if (!res.headersSent) json(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

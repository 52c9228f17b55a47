/**
 * The plain HTTP front: the sidecar's own endpoints (`/healthz`, everything under `/_sidecar/`) and
 * every other path answered by the route table, so nginx can `proxy_pass` to it or
 * the sidecar can run standalone. Unmatched paths get 404 `{"message": ...}`.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { cidrList, inCidrList } from '../../config/network-address';
import type { Logger } from 'pino';
import { asSidecarError, ERROR_CODES, ErrorCode, SidecarError, sidecarError } from '../../errors';
import type { RequestPipeline, RouteDecision } from '../../request-pipeline';
import { errorResponse } from '../../invoke/error-response';
import { HeaderList, ipOfAddress, LambdaResponse, splitPathAndQuery } from '../../invoke/client-request';
import { bodySizeError } from '../../invoke/target';
import type { RouteTarget } from '../../invoke/route-target';
import { METRICS_PATH } from '../../observability/metrics';
import type { RequestObservation } from '../../observability/request-observer';
import { logRequest, logRequestFailure, REQUEST_ID_HEADER, type TraceContext } from '../request-log';
import { ROUTE_HINT_KEY } from '../route-hint';

/** Paths the sidecar keeps for itself; never routed to a function. */
export const HEALTH_PATH = '/healthz';
export const RESERVED_PREFIX = '/_sidecar/';
export const DEFAULT_TRUSTED_PROXIES = ['127.0.0.0/8', '::1/128'];
/** Request header a trusted proxy may set to name the route (like x-lambda-route metadata for ext_proc). */
export const ROUTE_HEADER = ROUTE_HINT_KEY;
/**
 * How long a client may pause while sending a request: the whole header block must arrive within
 * it, and the body may not go quiet for longer (a slow but steady upload is fine). Then 408 and
 * the connection is closed, so stalled clients cannot pile up connections.
 */
export const DEFAULT_REQUEST_IDLE_TIMEOUT_MS = 30_000;
/** How often Node checks header deadlines: often enough for the timeout, at most once a second. */
const MAX_HEADERS_CHECK_INTERVAL_MS = 1_000;
const MIN_HEADERS_CHECK_INTERVAL_MS = 10;
/** Above nginx's default keepalive_timeout (60 s), so nginx closes idle upstream connections first. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface HttpFrontOptions {
  /** CIDRs whose X-Forwarded-Host is believed when matching a route's host. */
  readonly trustedProxies: readonly string[];
  readonly isReady: () => boolean;
  /** See DEFAULT_REQUEST_IDLE_TIMEOUT_MS; 0 disables. */
  readonly requestIdleTimeoutMs?: number;
  /** Served on GET /metrics (and /_sidecar/metrics); undefined: metrics are off and /metrics is routed like any path. */
  readonly metrics?: MetricsText;
}

/** The Prometheus text exposition, produced at scrape time. */
export interface MetricsText {
  contentType(): string;
  text(): Promise<string>;
}

function serveMetrics(res: http.ServerResponse, metrics: MetricsText, log: Logger): void {
  metrics.text().then(
    (text) => send(res, { status: 200, headers: [['content-type', metrics.contentType()]], body: Buffer.from(text) }, false),
    (err: unknown) => {
      log.error({ err }, 'metrics collection failed');
      json(res, 500, { message: 'metrics collection failed' });
    },
  );
}

/** The trusted proxies' CIDRs as a BlockList (config/network-address.ts). */
export const trustedProxyList = cidrList;

/** nginx's / Envoy's `x-request-id`, for the log lines about this request. */
function requestIdOf(req: http.IncomingMessage): string | undefined {
  const id = req.headers[REQUEST_ID_HEADER];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The request's W3C trace context (for its span). */
function traceContextOfMessage(req: http.IncomingMessage): TraceContext {
  const { traceparent, tracestate } = req.headers;
  return {
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
    tracestate: Array.isArray(tracestate) ? tracestate.join(',') : tracestate,
  };
}

function send(res: http.ServerResponse, answer: LambdaResponse, headOnly: boolean, outcome?: Outcome): void {
  if (res.headersSent || res.destroyed) return;
  if (outcome !== undefined) outcome.responseBytes = headOnly ? 0 : answer.body.length;
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

function json(res: http.ServerResponse, status: number, body: unknown, outcome?: Outcome): void {
  send(res, { status, headers: [['content-type', 'application/json']], body: Buffer.from(JSON.stringify(body)) }, false, outcome);
}

function requestTimeoutError(idleMs: number): SidecarError {
  return sidecarError(ERROR_CODES.REQUEST_TIMEOUT, `the request body stopped arriving for ${idleMs} ms`);
}

/**
 * Calls `onIdle` when the request's body goes quiet for `idleMs` before its end; disarmed at the
 * end, so waiting for the function afterwards is not bounded by it. Our own timer rather than the
 * socket's: Node resets the socket timeout to keepAliveTimeout once an answer is sent.
 */
function armBodyIdleTimer(req: http.IncomingMessage, idleMs: number, onIdle: () => void): void {
  if (idleMs === 0 || req.complete) return;
  const timer = setTimeout(onIdle, idleMs);
  const touch = (): void => {
    timer.refresh();
  };
  const disarm = (): void => {
    clearTimeout(timer);
    req.off('data', touch);
  };
  req.on('data', touch);
  req.once('end', disarm);
  req.once('close', disarm);
}

/** Drops the connection once the answer (if any) is flushed: the rest of the body is never read. */
function closeAfterAnswer(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (res.headersSent && !res.writableFinished) res.once('finish', () => req.socket.destroy());
  else req.socket.destroy();
}

/** Reads the body, refusing (413) past `limit` bytes before buffering more, and (408) when it goes quiet for idleMs. */
function readBody(req: http.IncomingMessage, target: RouteTarget, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    armBodyIdleTimer(req, idleMs, () => reject(requestTimeoutError(idleMs)));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      const tooLarge = bodySizeError(target, size);
      if (tooLarge !== undefined) {
        reject(tooLarge);
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

/** What the request's completion reports; filled in as the request goes. */
interface Outcome {
  route: string | undefined;
  code: ErrorCode | undefined;
  path?: string;
  /** A request to the sidecar's own endpoints. */
  own?: boolean;
  observation?: RequestObservation;
  requestBytes?: number;
  responseBytes?: number;
}

export interface HttpFront {
  readonly server: http.Server;
  /**
   * Shutdown: new routed requests get 503 ERR_DRAINING and /healthz 503 (the listener stays open
   * so health checkers see it), in-flight requests finish; then the listener closes. After
   * `timeoutMs` whatever is still open is cut.
   */
  drain(timeoutMs: number): Promise<void>;
}

export function createHttpFront(pipeline: RequestPipeline, log: Logger, opts: HttpFrontOptions): HttpFront {
  const trusted = trustedProxyList(opts.trustedProxies);
  const idleMs = opts.requestIdleTimeoutMs ?? DEFAULT_REQUEST_IDLE_TIMEOUT_MS;
  const metrics = opts.metrics;

  /** For a request answered without reading its body: read and drop the rest, or close when it stalls. */
  const discardBody = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    armBodyIdleTimer(req, idleMs, () => {
      log.warn({ code: ERROR_CODES.REQUEST_TIMEOUT, requestId: requestIdOf(req) }, `the request body stopped arriving for ${idleMs} ms: closing the connection`);
      closeAfterAnswer(req, res);
    });
    req.resume();
  };

  const observer = pipeline.observer;
  const logRequests = log.isLevelEnabled('debug') || observer !== undefined;

  /** The one completion point of a request (request-log.ts), whether answered or cut. */
  const logWhenDone = (req: http.IncomingMessage, res: http.ServerResponse, outcome: Outcome): void => {
    const startedMs = performance.now();
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : undefined;
      const code = outcome.code ?? (res.writableFinished ? undefined : ERROR_CODES.CLIENT_GONE);
      // The sidecar's own endpoints (/healthz, /metrics) are logged but not observed: probes are no traffic.
      logRequest(log, 'http', startedMs, requestIdOf(req), { route: outcome.route, status, code },
        outcome.own ? undefined : { observer, observation: outcome.observation },
        { method: req.method, path: outcome.path, requestBytes: outcome.requestBytes, responseBytes: outcome.responseBytes, ...traceContextOfMessage(req) });
    });
  };

  /** Routed requests being answered; the drain closes the listener once it is empty. */
  const inFlight = new Set<http.ServerResponse>();
  let draining = false;
  let onIdle: (() => void) | undefined;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const outcome: Outcome = { route: undefined, code: undefined };
    if (logRequests) logWhenDone(req, res, outcome);
    const target = req.url ?? '/';
    const { path, query } = splitPathAndQuery(target);
    outcome.path = path;
    // While draining, tell keep-alive clients (nginx) to go elsewhere after this answer.
    if (draining) res.setHeader('connection', 'close');
    if (metrics !== undefined && (path === METRICS_PATH || path === `${RESERVED_PREFIX}metrics`)) {
      outcome.own = true;
      discardBody(req, res);
      serveMetrics(res, metrics, log);
      return;
    }
    if (path === HEALTH_PATH || path === `${RESERVED_PREFIX}healthz`) {
      outcome.own = true;
      discardBody(req, res);
      if (opts.isReady()) json(res, 200, { status: 'ok' });
      else json(res, 503, { status: 'draining' });
      return;
    }
    if (path.startsWith(RESERVED_PREFIX)) {
      discardBody(req, res);
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
    let sourceIp = req.socket.remoteAddress;
    if (inCidrList(trusted, req.socket.remoteAddress)) {
      // The trusted proxy appends the address it saw (nginx: $proxy_add_x_forwarded_for): the last entry.
      const forwardedFor = req.headers['x-forwarded-for'];
      const last = typeof forwardedFor === 'string' ? forwardedFor.split(',').pop()?.trim() : undefined;
      if (last !== undefined && last !== '') sourceIp = ipOfAddress(last);
      // Only a trusted proxy (nginx beside us) may choose the host we match on or name the route.
      const fwdHost = req.headers['x-forwarded-host'];
      if (typeof fwdHost === 'string' && fwdHost !== '') host = fwdHost.split(',')[0].trim();
      const hint = req.headers[ROUTE_HEADER];
      if (typeof hint === 'string' && hint !== '') routeHint = hint;
    }
    const method = req.method ?? 'GET';
    if (draining) {
      const e = sidecarError(ERROR_CODES.DRAINING, 'the sidecar is shutting down: retry on another instance');
      outcome.code = e.code;
      discardBody(req, res);
      send(res, errorResponse(e), method === 'HEAD', outcome);
      return;
    }
    let routed: RouteDecision;
    try {
      routed = pipeline.route({ method, path, host }, routeHint);
    } catch (err) {
      const e = asSidecarError(err);
      outcome.route = routeHint;
      outcome.code = e.code;
      log.warn({ route: routeHint, code: e.code, status: e.status, requestId: requestIdOf(req) }, e.message);
      discardBody(req, res);
      send(res, errorResponse(e), method === 'HEAD', outcome);
      return;
    }
    outcome.route = routed.routeId;
    outcome.observation = routed.observation;
    inFlight.add(res);
    try {
      await answerRouted(req, res, routed, { method, path, query, host, headers, sourceIp }, outcome);
    } finally {
      inFlight.delete(res);
      if (inFlight.size === 0) onIdle?.();
    }
  };

  const answerRouted = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    routed: RouteDecision,
    { method, path, query, host, headers, sourceIp }: { method: string; path: string; query: string; host: string; headers: HeaderList; sourceIp: string | undefined },
    outcome: Outcome,
  ): Promise<void> => {
    if (routed.action === 'pass') {
      discardBody(req, res);
      json(res, 404, { message: `no route matches ${method} ${path}` }, outcome);
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      const t = routed.target;
      const declared = Number(req.headers['content-length']);
      const tooLarge = bodySizeError(t, Number.isFinite(declared) ? declared : undefined);
      if (tooLarge !== undefined) throw tooLarge;
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      const body = hasBody ? await readBody(req, t, idleMs) : null;
      outcome.requestBytes = body?.length ?? 0;
      const answer = await pipeline.invoke({ ...routed, target: t }, { method, path, query, host, headers, body, sourceIp }, abort.signal);
      send(res, answer, method === 'HEAD', outcome);
    } catch (err) {
      const e: SidecarError = asSidecarError(err);
      outcome.code = e.code;
      logRequestFailure(log, e, { requestId: requestIdOf(req), route: routed.routeId });
      if (e.code === ERROR_CODES.CLIENT_GONE) return;
      // A refused body may still be arriving: answer and close rather than read it.
      if (e.code === ERROR_CODES.BODY_TOO_LARGE || e.code === ERROR_CODES.REQUEST_TIMEOUT) res.setHeader('connection', 'close');
      // With `connection: close` Node ends the socket once the answer is flushed (destroySoon).
      send(res, errorResponse(e), method === 'HEAD', outcome);
    } finally {
      routed.done();
    }
  };

  const server = http.createServer({
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // The body is bounded by the idle timer above, not by a total: a large upload may take long.
    requestTimeout: 0,
    headersTimeout: idleMs,
    connectionsCheckingInterval: idleMs === 0 ? MAX_HEADERS_CHECK_INTERVAL_MS : Math.max(MIN_HEADERS_CHECK_INTERVAL_MS, Math.min(MAX_HEADERS_CHECK_INTERVAL_MS, Math.floor(idleMs / 4))),
  }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, requestId: requestIdOf(req) }, 'http front failed');
      if (!res.headersSent) json(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // headersTimeout: the header block did not complete in time (no request object exists yet).
      log.warn({ code: ERROR_CODES.REQUEST_TIMEOUT, remoteAddress: (socket as Socket).remoteAddress }, `the request headers did not complete within ${idleMs} ms: closing the connection`);
      if (!socket.writable) return void socket.destroy();
      const body = JSON.stringify({ message: `the request headers did not complete within ${idleMs} ms` });
      socket.end(`HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      socket.once('finish', () => socket.destroy());
      return;
    }
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  const drain = (timeoutMs: number): Promise<void> => {
    draining = true;
    // Every answer from now on ends its connection, so no keep-alive socket outlives the drain;
    // a client with more to send opens a new connection and gets 503 (the listener stays open).
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    server.closeIdleConnections();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, timeoutMs);
      const closeListener = (): void => {
        onIdle = undefined;
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      };
      if (inFlight.size === 0) closeListener();
      else onIdle = closeListener;
    });
  };

  return { server, drain };
}

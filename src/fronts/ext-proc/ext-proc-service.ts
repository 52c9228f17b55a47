/**
 * The ext_proc front: one state object per `Process` stream (one stream per HTTP request).
 *
 * Expected exchange (envoy.yaml: request headers SEND, request body BUFFERED, the rest SKIP):
 *   headers(end_of_stream)        → invoke → immediate_response
 *   headers → CONTINUE; body      → invoke → immediate_response
 *   headers of an unmatched path  → we close the stream: Envoy continues to its own upstream
 * Every message Envoy sends is answered exactly once with the matching case; anything the handler
 * throws becomes a 500 immediate response, never an exception into the gRPC server.
 *
 * A stream waiting for Envoy's next message (not while the function runs) is closed after
 * `idleTimeoutMs`: with OK when Envoy may carry on without us, with DEADLINE_EXCEEDED when a
 * matched route still waits for its body (so the request fails rather than reach Envoy's upstream).
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asSidecarError, ERROR_CODES, ErrorCode, SidecarError, sidecarError } from '../../errors';
import type { RequestPipeline, RoutedRequest } from '../../request-pipeline';
import { errorResponse } from '../../invoke/error-response';
import { ipOfAddress, ClientRequest, LambdaResponse, splitPathAndQuery } from '../../invoke/client-request';
import { bodySizeError } from '../../invoke/target';
import type { ExternalProcessorHandlers, ProcessingRequest, ProcessingResponse } from '../grpc-definitions';
import type { DuplexCall } from '../grpc/call-surface';
import { DEFAULT_MAX_GRPC_CALLS, GrpcCallLimit, refusedResponse } from '../grpc-call-limit';
import type { RequestObservation } from '../../observability/request-observer';
import { logRequest, logRequestFailure, requestIdOf, traceContextOf, type TraceContext } from '../request-log';
import { ROUTE_HINT_KEY } from '../route-hint';
import { readRequestHeaders, toHeaderMutations } from './headers';

/**
 * How long a stream may wait for Envoy's next message. Only that wait counts, never the function
 * call; the longest legitimate wait is Envoy buffering a slow client's body, so keep this above the
 * time your clients take to upload one (and above Envoy's own request timeouts, which then win).
 */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 120_000;

/** How long a stream refused by the call limit waits for its request headers to answer 503. */
export const REFUSED_STREAM_WAIT_MS = 1_000;

export interface ExtProcOptions {
  readonly idleTimeoutMs: number;
  /** Shared with ext_authz: streams beyond it are answered 503 with Retry-After. */
  readonly limit: GrpcCallLimit;
}

/** gRPC metadata key Envoy sets per route (ExtProcPerRoute overrides.grpc_initial_metadata). */
export const ROUTE_METADATA_KEY = ROUTE_HINT_KEY;

type Stream = DuplexCall<ProcessingRequest, ProcessingResponse>;

/** The ext_proc filter's name: Envoy keys `ProcessingRequest.attributes` by it. */
const EXT_PROC_FILTER_NAME = 'envoy.filters.http.ext_proc';

/** The client's IP from the `source.address` attribute (`request_attributes: ["source.address"]`); undefined when not sent. */
function sourceIpOf(msg: ProcessingRequest): string | undefined {
  const value = msg.attributes?.[EXT_PROC_FILTER_NAME]?.fields?.['source.address']?.stringValue;
  return value === undefined || value === '' ? undefined : ipOfAddress(value);
}

const CONTINUE_HEADERS: ProcessingResponse = { request_headers: { response: {} } };
const CONTINUE_BODY: ProcessingResponse = { request_body: { response: {} } };

/** Answers for messages we do not ask for (their modes are SKIP), so Envoy is never left waiting. */
function continueFor(kind: ProcessingRequest['request']): ProcessingResponse | undefined {
  switch (kind) {
    case 'response_headers': return { response_headers: { response: {} } };
    case 'response_body': return { response_body: { response: {} } };
    case 'request_trailers': return { request_trailers: {} };
    case 'response_trailers': return { response_trailers: {} };
    default: return undefined;
  }
}

function immediate(res: LambdaResponse, headOnly: boolean, details: string): ProcessingResponse {
  return {
    immediate_response: {
      status: { code: res.status },
      headers: { set_headers: toHeaderMutations(res) },
      body: headOnly ? Buffer.alloc(0) : res.body,
      details,
    },
  };
}

/** Distinct route ids whose `details` string is kept; the cache starts over when it is full. */
const MAX_CACHED_DETAILS = 10_000;
const detailsByRoute = new Map<string, string>();

/** ImmediateResponse.details of a function's answer (Envoy's %RESPONSE_CODE_DETAILS%): computed once per route id. */
function answerDetails(routeId: string): string {
  let details = detailsByRoute.get(routeId);
  if (details === undefined) {
    details = `lambda_sidecar_${routeId}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    if (detailsByRoute.size >= MAX_CACHED_DETAILS) detailsByRoute.clear();
    detailsByRoute.set(routeId, details);
  }
  return details;
}

class ExtProcStream {
  /** awaiting-headers → (awaiting-body) → invoking → closed; 'closed' once we ended or the peer left. */
  private phase: 'awaiting-headers' | 'awaiting-body' | 'invoking' | 'closed' = 'awaiting-headers';
  private routed: RoutedRequest | undefined;
  /** The matched route's id, kept for the request log line after the lease ends. */
  private routeId: string | undefined;
  private request: Omit<ClientRequest, 'body'> | undefined;
  /** From the request_headers message's `source.address` attribute (envoy.yaml's request_attributes), if Envoy sent it. */
  private sourceIp: string | undefined;
  /** The request's W3C trace context, once the request headers arrived (for its span). */
  private traceContext: TraceContext = {};
  /** Envoy's x-request-id, once the request headers arrived. */
  private requestId: string | undefined;
  private readonly startedAtMs = performance.now();
  /** For the observers (README "Observability"): the route's observation and what crossed. */
  private observation: RequestObservation | undefined;
  private requestBytes: number | undefined;
  private responseBytes: number | undefined;
  /** Created when the invoke starts; aborted only if the peer leaves while it runs. */
  private abort: AbortController | undefined;
  /** Armed while we wait for Envoy's next message; cleared while invoking and once closed. */
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: Stream,
    private readonly pipeline: RequestPipeline,
    private readonly log: Logger,
    private readonly opts: ExtProcOptions,
    /** false: over the call limit, the stream only answers 503 (and holds no slot). */
    private readonly admitted: boolean,
  ) {
    call.on('data', (msg: ProcessingRequest) => this.onMessage(msg));
    call.on('end', () => this.onHalfClose());
    call.on('error', () => this.peerGone());
    call.on('cancelled', () => this.peerGone());
    this.waitForEnvoy();
  }

  private waitForEnvoy(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.onIdle(), this.admitted ? this.opts.idleTimeoutMs : REFUSED_STREAM_WAIT_MS);
  }

  private onIdle(): void {
    if (this.phase === 'closed' || this.phase === 'invoking') return;
    if (!this.admitted) {
      // Over the limit and not even headers to answer: free the stream now.
      this.finish(undefined, ERROR_CODES.TOO_MANY_REQUESTS);
      this.call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: this.opts.limit.refusal().message });
      return;
    }
    const fields = { requestId: this.requestId, route: this.routeId, idleTimeoutMs: this.opts.idleTimeoutMs, phase: this.phase };
    if (this.phase === 'awaiting-body') {
      // A matched route: closing with OK would send the request to Envoy's own upstream.
      this.log.warn(fields, 'ext_proc stream idle: no request body from Envoy, stream closed with DEADLINE_EXCEEDED');
      this.finish(undefined, ERROR_CODES.STREAM_IDLE);
      this.call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: `no message from Envoy within ${this.opts.idleTimeoutMs} ms` });
      return;
    }
    this.log.warn(fields, 'ext_proc stream idle: closed');
    this.finish(undefined, ERROR_CODES.STREAM_IDLE);
    this.endCall();
  }

  private onMessage(msg: ProcessingRequest): void {
    // Envoy spoke: the wait is over; whatever we answer re-arms it unless we invoke or close.
    clearTimeout(this.idleTimer);
    try {
      switch (msg.request) {
        case 'request_headers':
          this.sourceIp = sourceIpOf(msg);
          this.onHeaders(msg.request_headers.headers?.headers ?? [], msg.request_headers.end_of_stream === true);
          return;
        case 'request_body':
          this.onBody(msg.request_body.body ?? Buffer.alloc(0));
          return;
        default: {
          const answer = continueFor(msg.request);
          if (answer === undefined) {
            this.fail(sidecarError(ERROR_CODES.BAD_REQUEST, 'ProcessingRequest carries no request message'));
            return;
          }
          if (this.phase !== 'closed') this.continueWith(answer);
        }
      }
    } catch (err) {
      this.fail(asSidecarError(err));
    }
  }

  private onHeaders(list: Parameters<typeof readRequestHeaders>[0], endOfStream: boolean): void {
    if (this.phase !== 'awaiting-headers') {
      this.fail(sidecarError(ERROR_CODES.BAD_REQUEST, 'request headers arrived twice on one ext_proc stream'));
      return;
    }
    const incoming = readRequestHeaders(list);
    this.requestId = incoming === undefined ? undefined : requestIdOf(incoming.headers);
    if (incoming !== undefined) this.traceContext = traceContextOf(incoming.headers);
    if (!this.admitted) {
      const err = this.opts.limit.refusal();
      this.log.warn({ requestId: this.requestId, code: err.code, status: err.status, limit: this.opts.limit.max }, err.message);
      this.answer(refusedResponse(err), `lambda_sidecar_${err.code.toLowerCase()}`, err.code);
      return;
    }
    if (incoming === undefined) {
      this.fail(sidecarError(ERROR_CODES.BAD_REQUEST, 'request has no :method or :path'));
      return;
    }
    const { path, query } = splitPathAndQuery(incoming.target);
    const routeHint = this.call.metadata.get(ROUTE_METADATA_KEY)[0];
    const routed = this.pipeline.route(
      { method: incoming.method, path, host: incoming.authority },
      typeof routeHint === 'string' ? routeHint : undefined,
    );
    this.observation = routed.observation;
    if (routed.action === 'pass') {
      // No route, or a route without the plugin: close cleanly and Envoy carries on upstream.
      this.routeId = routed.routeId;
      this.close();
      return;
    }
    this.routed = routed;
    this.routeId = routed.routeId;
    this.request = { method: incoming.method, path, query, host: incoming.authority, headers: incoming.headers, sourceIp: this.sourceIp };
    if (endOfStream) {
      this.run(null);
      return;
    }
    // Refuse before Envoy buffers a body we would refuse anyway.
    const tooLarge = bodySizeError(routed.target, incoming.contentLength);
    if (tooLarge !== undefined) {
      this.fail(tooLarge);
      return;
    }
    this.phase = 'awaiting-body';
    this.continueWith(CONTINUE_HEADERS);
  }

  /** Answers a message and waits for Envoy's next one. */
  private continueWith(answer: ProcessingResponse): void {
    this.call.write(answer);
    this.waitForEnvoy();
  }

  private onBody(body: Buffer): void {
    if (this.phase !== 'awaiting-body') {
      // A body we did not ask for (e.g. a stream we already closed): let it pass.
      if (this.phase !== 'closed') this.continueWith(CONTINUE_BODY);
      return;
    }
    // BUFFERED mode: the whole body arrives in this one message.
    this.run(body);
  }

  private run(body: Buffer | null): void {
    this.phase = 'invoking';
    const routed = this.routed as RoutedRequest;
    const req: ClientRequest = { ...(this.request as Omit<ClientRequest, 'body'>), body };
    this.requestBytes = body?.length ?? 0;
    this.abort = new AbortController();
    this.pipeline.invoke(routed, req, this.abort.signal).then(
      (res) => this.answer(res, answerDetails(routed.routeId)),
      (err: unknown) => this.fail(asSidecarError(err)),
    );
  }

  private answer(res: LambdaResponse, details: string, code?: ErrorCode): void {
    if (this.phase === 'closed') return;
    this.call.write(immediate(res, this.request?.method === 'HEAD', details));
    this.responseBytes = res.body.length;
    this.finish(res.status, code);
    this.endCall();
  }

  private fail(err: SidecarError): void {
    if (this.phase === 'closed') return;
    if (err.code === ERROR_CODES.CLIENT_GONE) {
      this.finish(undefined, err.code);
      this.endCall();
      return;
    }
    logRequestFailure(this.log, err, { requestId: this.requestId, route: this.routeId });
    this.answer(errorResponse(err), `lambda_sidecar_${err.code.toLowerCase()}`, err.code);
  }

  private peerGone(): void {
    // Envoy resets every stream once it has our answer: that is no reason to abort anything.
    if (this.phase === 'invoking') this.abort?.abort();
    this.finish(undefined, this.phase === 'invoking' ? ERROR_CODES.CLIENT_GONE : undefined);
  }

  /**
   * The peer half-closed: it sends nothing more. A request already invoking still gets its answer
   * (a gRPC client may send the headers and END_STREAM together); otherwise the exchange is over.
   */
  private onHalfClose(): void {
    if (this.phase !== 'invoking') this.close();
  }

  /** End of the request without an answer from us (unmatched path, or Envoy half-closed). */
  private close(): void {
    if (this.phase === 'closed') return;
    this.finish(undefined, undefined);
    this.endCall();
  }

  /** Marks the stream closed, ends the route lease and writes the request log line, once. */
  private finish(status: number | undefined, code: ErrorCode | undefined): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.idleTimer);
    if (this.admitted) this.opts.limit.release();
    this.routed?.done();
    this.routed = undefined;
    logRequest(this.log, 'ext_proc', this.startedAtMs, this.requestId, { route: this.routeId, status, code },
      { observer: this.pipeline.observer, observation: this.observation },
      { method: this.request?.method, path: this.request?.path, requestBytes: this.requestBytes, responseBytes: this.responseBytes, ...this.traceContext });
  }

  private endCall(): void {
    try {
      this.call.end();
    } catch {
      // The transport is already gone; nothing to finish.
    }
  }
}

export function extProcHandlers(pipeline: RequestPipeline, log: Logger, opts: Partial<ExtProcOptions> = {}): ExternalProcessorHandlers {
  const options: ExtProcOptions = {
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    limit: opts.limit ?? new GrpcCallLimit(DEFAULT_MAX_GRPC_CALLS),
  };
  return {
    Process: (call: Stream) => {
      new ExtProcStream(call, pipeline, log, options, options.limit.tryAcquire());
    },
  };
}

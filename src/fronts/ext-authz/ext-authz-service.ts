/**
 * The ext_authz front: one unary `Check` per HTTP request, with the whole body attached by Envoy
 * (envoy/envoy-ext-authz.yaml: with_request_body, pack_as_bytes, encode_raw_headers).
 *
 *   route matched (context extension `lambda_route`, else the route table) → invoke → denied_response
 *   no route, or a route without the plugin                                → ok_response: Envoy
 *                                                                             continues upstream
 * Every call is answered exactly once; anything thrown becomes a JSON error answer, never an
 * exception into the gRPC server. A cancelled call (client gone, deadline) aborts the
 * invoke.
 */
import type { Logger } from 'pino';
import { asSidecarError, ERROR_CODES, ErrorCode, SidecarError, sidecarError } from '../../errors';
import type { RequestPipeline, RoutedRequest } from '../../request-pipeline';
import { errorResponse } from '../../invoke/error-response';
import { ClientRequest, LambdaResponse, splitPathAndQuery } from '../../invoke/client-request';
import { bodySizeError } from '../../invoke/target';
import type { RouteTarget } from '../../invoke/route-target';
import type { AuthorizationHandlers, CheckRequest, CheckResponse } from '../grpc-definitions';
import type { UnaryCall, UnaryCallback } from '../grpc/call-surface';
import { DEFAULT_MAX_GRPC_CALLS, GrpcCallLimit, refusedResponse } from '../grpc-call-limit';
import type { RequestObservation } from '../../observability/request-observer';
import { logRequest, logRequestFailure, requestIdOf, traceContextOf, type TraceContext } from '../request-log';
import { CheckedRequest, readCheckRequest } from './check-request';
import { ALLOW, toCheckResponse, unrelayable } from './check-response';

type Call = UnaryCall<CheckRequest>;
type Callback = UnaryCallback<CheckResponse>;

/** The size check ext_proc makes on content-length, plus what Envoy reports it received. */
function bodyTooLarge(req: CheckedRequest, target: RouteTarget): SidecarError | undefined {
  if (req.partialBody) {
    return sidecarError(
      ERROR_CODES.BODY_TOO_LARGE,
      'request body was cut short by the proxy (ext_authz with_request_body.max_request_bytes); set allow_partial_message: false',
    );
  }
  return bodySizeError(target, Math.max(req.body?.length ?? 0, req.sizeBytes, req.contentLength ?? 0));
}

class CheckCall {
  /** Set once the callback ran; nothing is sent after that. */
  private answered = false;
  /** The route lease, held from routing until the answer. */
  private routed: RoutedRequest | undefined;
  private headOnly = false;
  /** The matched route's id and Envoy's x-request-id, for the log lines. */
  private routeId: string | undefined;
  private requestId: string | undefined;
  private readonly startedAtMs = performance.now();
  /** For the observers (README "Observability"). */
  private observation: RequestObservation | undefined;
  /** The request's W3C trace context (for its span). */
  private traceContext: TraceContext = {};
  private details: { method?: string; path?: string; requestBytes?: number; responseBytes?: number } = {};
  /** Created when the invoke starts; aborted only if the call is cancelled while it runs. */
  private abort: AbortController | undefined;

  constructor(
    private readonly call: Call,
    private readonly callback: Callback,
    private readonly pipeline: RequestPipeline,
    private readonly log: Logger,
    private readonly limit: GrpcCallLimit,
    /** false: over the call limit, answered 503 at once (and holds no slot). */
    private readonly admitted: boolean,
  ) {
    call.once('cancelled', () => {
      if (!this.answered) this.abort?.abort();
    });
  }

  run(): void {
    try {
      this.start();
    } catch (err) {
      this.fail(asSidecarError(err));
    }
  }

  private start(): void {
    const req = readCheckRequest(this.call.request);
    if (req === undefined) {
      this.fail(sidecarError(ERROR_CODES.BAD_REQUEST, 'CheckRequest has no attributes.request.http with a method and a path'));
      return;
    }
    this.requestId = requestIdOf(req.headers);
    this.traceContext = traceContextOf(req.headers);
    if (!this.admitted) {
      const err = this.limit.refusal();
      this.log.warn({ requestId: this.requestId, code: err.code, status: err.status, limit: this.limit.max }, err.message);
      this.finish(toCheckResponse(refusedResponse(err), req.method === 'HEAD'), err.status, err.code);
      return;
    }
    const { path, query } = splitPathAndQuery(req.target);
    const routed = this.pipeline.route({ method: req.method, path, host: req.authority }, req.routeHint);
    this.routeId = routed.routeId;
    this.observation = routed.observation;
    this.details = { method: req.method, path, requestBytes: req.body?.length ?? 0 };
    if (routed.action === 'pass') {
      this.finish(ALLOW, undefined, undefined);
      return;
    }
    this.routed = routed;
    this.headOnly = req.method === 'HEAD';
    const target = routed.target;
    const tooLarge = bodyTooLarge(req, target);
    if (tooLarge !== undefined) {
      this.fail(tooLarge);
      return;
    }
    if (req.body === null && req.contentLength !== undefined && req.contentLength > 0) {
      // Relaying without it would silently drop the body the function expects.
      this.fail(sidecarError(
        ERROR_CODES.INTERNAL,
        'the proxy sent no request body although content-length is set: configure ext_authz with_request_body (envoy/envoy-ext-authz.yaml)',
      ));
      return;
    }
    const clientRequest: ClientRequest = { method: req.method, path, query, host: req.authority, headers: req.headers, body: req.body, sourceIp: req.sourceIp };
    this.abort = new AbortController();
    this.pipeline.invoke(routed, clientRequest, this.abort.signal).then(
      (res) => this.answer(res),
      (err: unknown) => this.fail(asSidecarError(err)),
    );
  }

  private answer(res: LambdaResponse): void {
    const refusal = unrelayable(res, this.headOnly);
    if (refusal !== undefined) {
      this.fail(refusal);
      return;
    }
    this.details = { ...this.details, responseBytes: res.body.length };
    this.finish(toCheckResponse(res, this.headOnly), res.status, undefined);
  }

  private fail(err: SidecarError): void {
    if (this.answered) return;
    logRequestFailure(this.log, err, { requestId: this.requestId, route: this.routeId });
    // After a cancel the gRPC server drops this answer; sending it keeps "one answer per call" simple.
    const heard = err.code === ERROR_CODES.CLIENT_GONE ? undefined : err.status;
    this.finish(toCheckResponse(errorResponse(err), this.headOnly), heard, err.code);
  }

  /** `status`: what the client gets from us; undefined when the request is allowed through. */
  private finish(response: CheckResponse, status: number | undefined, code: ErrorCode | undefined): void {
    if (this.answered) return;
    this.answered = true;
    if (this.admitted) this.limit.release();
    this.routed?.done();
    this.routed = undefined;
    logRequest(this.log, 'ext_authz', this.startedAtMs, this.requestId, { route: this.routeId, status, code },
      { observer: this.pipeline.observer, observation: this.observation }, { ...this.details, ...this.traceContext });
    this.callback(null, response);
  }
}

export function extAuthzHandlers(pipeline: RequestPipeline, log: Logger, limit = new GrpcCallLimit(DEFAULT_MAX_GRPC_CALLS)): AuthorizationHandlers {
  return {
    Check: (call: Call, callback: Callback) => {
      new CheckCall(call, callback, pipeline, log, limit, limit.tryAcquire()).run();
    },
  };
}

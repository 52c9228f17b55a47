/**
 * The ext_proc front: one state object per `Process` stream (one stream per HTTP request).
 *
 * Expected exchange (envoy.yaml: request headers SEND, request body BUFFERED, the rest SKIP):
 *   headers(end_of_stream)        → invoke → immediate_response
 *   headers → CONTINUE; body      → invoke → immediate_response
 *   headers of an unmatched path  → we close the stream: Envoy continues to its own upstream
 * Every message Envoy sends is answered exactly once with the matching case; anything the handler
 * throws becomes a 500 immediate response, never an exception into grpc-js.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { asSidecarError, ERROR_CODES, SidecarError, sidecarError } from '../../errors';
import { logRequestFailure } from '../request-failure-log';
import type { Gateway, RoutedRequest } from '../../gateway';
import { errorResponse } from '../../invoke/error-response';
import { LambdaRequest, LambdaResponse, splitPathAndQuery } from '../../invoke/lambda-request';
import type { LambdaTarget } from '../../invoke/target';
import type { ExternalProcessorHandlers, ProcessingRequest, ProcessingResponse } from '../grpc-definitions';
import { readRequestHeaders, toHeaderMutations } from './headers';

/** gRPC metadata key Envoy sets per route (ExtProcPerRoute overrides.grpc_initial_metadata). */
export const ROUTE_METADATA_KEY = 'x-lambda-route';

type Stream = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

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

class ExtProcStream {
  /** awaiting-headers → (awaiting-body) → invoking → closed; 'closed' once we ended or the peer left. */
  private phase: 'awaiting-headers' | 'awaiting-body' | 'invoking' | 'closed' = 'awaiting-headers';
  private routed: RoutedRequest | undefined;
  private request: Omit<LambdaRequest, 'body'> | undefined;
  /** Created when the invoke starts; aborted only if the peer leaves while it runs. */
  private abort: AbortController | undefined;

  constructor(private readonly call: Stream, private readonly gateway: Gateway, private readonly log: Logger) {
    call.on('data', (msg: ProcessingRequest) => this.onMessage(msg));
    call.on('end', () => this.close());
    call.on('error', () => this.peerGone());
    call.on('cancelled', () => this.peerGone());
  }

  private onMessage(msg: ProcessingRequest): void {
    try {
      switch (msg.request) {
        case 'request_headers':
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
          if (this.phase !== 'closed') this.call.write(answer);
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
    if (incoming === undefined) {
      this.fail(sidecarError(ERROR_CODES.BAD_REQUEST, 'request has no :method or :path'));
      return;
    }
    const { path, query } = splitPathAndQuery(incoming.target);
    const routeHint = this.call.metadata.get(ROUTE_METADATA_KEY)[0];
    const routed = this.gateway.route(
      { method: incoming.method, path, host: incoming.authority },
      typeof routeHint === 'string' ? routeHint : undefined,
    );
    if (routed === undefined || routed.target === null) {
      // No route, or a route without the plugin: close cleanly and Envoy carries on upstream.
      routed?.done();
      this.close();
      return;
    }
    this.routed = routed;
    this.request = { method: incoming.method, path, query, host: incoming.authority, headers: incoming.headers };
    if (endOfStream) {
      this.run(null);
      return;
    }
    if (incoming.contentLength !== undefined && incoming.contentLength > routed.target.maxBodyBytes) {
      // Refuse before Envoy buffers a body we would refuse anyway.
      this.fail(sidecarError(ERROR_CODES.BODY_TOO_LARGE, `request body exceeds max_req_body_size (${routed.target.maxBodyBytes} bytes)`));
      return;
    }
    this.phase = 'awaiting-body';
    this.call.write(CONTINUE_HEADERS);
  }

  private onBody(body: Buffer): void {
    if (this.phase !== 'awaiting-body') {
      // A body we did not ask for (e.g. a stream we already closed): let it pass.
      if (this.phase !== 'closed') this.call.write(CONTINUE_BODY);
      return;
    }
    // BUFFERED mode: the whole body arrives in this one message.
    this.run(body);
  }

  private run(body: Buffer | null): void {
    this.phase = 'invoking';
    const routed = this.routed as RoutedRequest & { target: LambdaTarget };
    const req: LambdaRequest = { ...(this.request as Omit<LambdaRequest, 'body'>), body };
    this.abort = new AbortController();
    this.gateway.invoke(routed, req, this.abort.signal).then(
      (res) => this.answer(res, `lambda_sidecar_${routed.routeId}`.replace(/[^A-Za-z0-9_.-]/g, '_')),
      (err: unknown) => this.fail(asSidecarError(err)),
    );
  }

  private answer(res: LambdaResponse, details: string): void {
    if (this.phase === 'closed') return;
    this.call.write(immediate(res, this.request?.method === 'HEAD', details));
    this.close();
  }

  private fail(err: SidecarError): void {
    if (this.phase === 'closed') return;
    if (err.code === ERROR_CODES.CLIENT_GONE) {
      this.close();
      return;
    }
    const route = this.routed?.routeId;
    logRequestFailure(this.log, route, err);
    this.answer(errorResponse(err), `lambda_sidecar_${err.code.toLowerCase()}`);
  }

  private peerGone(): void {
    // Envoy resets every stream once it has our answer: that is no reason to abort anything.
    if (this.phase === 'invoking') this.abort?.abort();
    this.close();
  }

  private close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.routed?.done();
    this.routed = undefined;
    try {
      this.call.end();
    } catch {
      // The transport is already gone; nothing to finish.
    }
  }
}

export function extProcHandlers(gateway: Gateway, log: Logger): ExternalProcessorHandlers {
  return {
    Process: (call: Stream) => {
      new ExtProcStream(call, gateway, log);
    },
  };
}

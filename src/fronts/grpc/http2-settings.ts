/**
 * HTTP/2 settings of the gRPC listener, the same for both gRPC servers (grpc-listener.ts).
 */

/**
 * Receive windows. Node's defaults are 64 KiB per stream and per connection, so a BUFFERED body
 * larger than that waits for WINDOW_UPDATEs from our busy event loop before the message completes.
 * Measured (64 KiB POSTs, wrk -c64 through Envoy): 1,022 → 1,723 req/s at the same sidecar CPU
 * with these values.
 */
export const GRPC_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const GRPC_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Rate limit on the RST_STREAM frames a peer may send on one connection (nghttp2's token bucket,
 * Node's CVE-2023-44487 rapid-reset guard; `streamResetBurst` / `streamResetRate`, Node ≥ 22.10).
 * Node's default (burst 1000, 33/s) is far below what Envoy sends: without the
 * `ext_proc_graceful_grpc_close` runtime guard Envoy resets every ext_proc stream once it has our
 * ImmediateResponse (envoy #22727), so after about 1,000 requests on one connection Node refused
 * every new stream ("remote refused stream reset", 1.8% of requests lost under load). One reset per
 * request at the sidecar's highest rate must pass; a peer resetting faster than that is still cut.
 */
export const GRPC_STREAM_RESET_BURST = 20_000;
export const GRPC_STREAM_RESET_RATE_PER_S = 20_000;

/**
 * The h2 server's bound on what one connection may hold in nghttp2 and Node (header tables, frames
 * queued to send, unacknowledged data), in MB; Node's default is 10. Past it Node refuses new
 * streams on that connection (RST_STREAM ENHANCE_YOUR_CALM) until it drains, and Envoy fails those
 * requests as its ext_proc/ext_authz failure settings say (failure_mode_allow, status_on_error).
 * One Envoy connection carries all the streams of an Envoy worker, with up to the 16 MiB
 * connection window of bodies in flight plus our answers (up to DEFAULT_MAX_RESPONSE_BYTES, 32 MiB, each) queued
 * for a slow reader: 160 MB leaves room for that. (grpc-js lifts the bound altogether.)
 */
export const GRPC_MAX_SESSION_MEMORY_MB = 160;

/** What both servers pass to http2.createServer (grpc-js through its internals). */
export function grpcHttp2ServerOptions(): { settings: { initialWindowSize: number }; streamResetBurst: number; streamResetRate: number } {
  return {
    settings: { initialWindowSize: GRPC_STREAM_WINDOW_BYTES },
    streamResetBurst: GRPC_STREAM_RESET_BURST,
    streamResetRate: GRPC_STREAM_RESET_RATE_PER_S,
  };
}

/** Widens a new session's connection window (the settings above only cover each stream's). */
export function widenConnectionWindow(session: { setLocalWindowSize(size: number): void }): void {
  try {
    session.setLocalWindowSize(GRPC_CONNECTION_WINDOW_BYTES);
  } catch {
    // The session closed before we could: nothing to widen.
  }
}

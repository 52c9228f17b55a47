/**
 * How a proxy names the sidecar route for a request instead of having it matched: the gRPC
 * metadata key of Envoy's per-route ExtProcPerRoute `grpc_initial_metadata`, and the request header
 * a trusted nginx sets for the HTTP front. One name for both doors.
 */
export const ROUTE_HINT_KEY = 'x-lambda-route';

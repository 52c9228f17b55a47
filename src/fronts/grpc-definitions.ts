/**
 * Loads the hand-written, wire-compatible .proto files in `<repo>/proto` once and exposes the
 * gRPC service definitions Envoy calls (ext_proc, ext_authz) plus gRPC health, together with
 * TypeScript shapes of the JS objects @grpc/proto-loader produces with PROTO_LOADER_OPTIONS.
 *
 * Shape rules that follow from those options (and that the types below encode):
 * - `keepCase: true`: field names are the proto snake_case names. The google.protobuf types are
 *   protobufjs' bundled copies, whose Struct/Value fields are camelCase (`stringValue`, ...).
 * - `defaults: false`: a field at its default (0, '', false, empty list/map, unset message) is
 *   absent from decoded objects, so every field is optional.
 * - `longs: Number`: int64 fields (HttpRequest.size, Timestamp/Duration seconds) are numbers.
 * - `enums: Number`: enum fields are numbers; proto3 enums are open, so any number round-trips.
 * - `bytes: Buffer`: bytes fields decode to Buffer. When encoding, give a Buffer/Uint8Array: a
 *   JS string in a bytes field is treated as BASE64 by protobufjs, not as text.
 * - `oneofs: true`: decoded objects carry a virtual field named after the oneof whose value is
 *   the name of the set case (e.g. `request: 'request_headers'`). The encoder ignores it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// ---------------------------------------------------------------------------------------------
// Loader configuration
// ---------------------------------------------------------------------------------------------

/** Options given to @grpc/proto-loader; the interfaces below describe objects shaped by them. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: false,
  oneofs: true,
  bytes: Buffer,
} as const;

/** Entry files, relative to the proto directory; their imports are resolved from it too. */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/ext_proc/v3/external_processor.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'grpc/health/v1/health.proto',
];

/** Fully-qualified service names (package + service). */
export const SERVICE_NAMES = {
  externalProcessor: 'envoy.service.ext_proc.v3.ExternalProcessor',
  authorization: 'envoy.service.auth.v3.Authorization',
  health: 'grpc.health.v1.Health',
} as const;

/** gRPC method paths as they appear on the wire (HTTP/2 `:path`). */
export const METHOD_PATHS = {
  externalProcessorProcess: '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
  authorizationCheck: '/envoy.service.auth.v3.Authorization/Check',
  healthCheck: '/grpc.health.v1.Health/Check',
  healthWatch: '/grpc.health.v1.Health/Watch',
} as const;

/**
 * `<repo>/proto`. This file runs as `dist/fronts/grpc-definitions.js` (build, rootDir src) and as
 * `src/fronts/grpc-definitions.ts` (ts-jest): both are two levels below the repo root.
 */
export function resolveProtoDir(): string {
  const dir = path.resolve(__dirname, '..', '..', 'proto');
  const probe = path.join(dir, PROTO_FILES[0]);
  if (!fs.existsSync(probe)) {
    throw new Error(
      `gRPC proto files not found: expected ${probe} (proto dir resolved as ${dir} from ${__dirname}). ` +
        'The "proto" directory must ship next to "dist" (package.json "files").',
    );
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Oneof helpers (proto-loader `oneofs: true`)
// ---------------------------------------------------------------------------------------------

type CaseName<Cases> = keyof Cases & string;

/** Exactly one case set, and the virtual field `D` names it (what the decoder produces). */
export type OneofSet<D extends string, Cases> = {
  [K in CaseName<Cases>]: { [P in D]: K } & { [P in K]: Cases[K] } & {
    [P in Exclude<CaseName<Cases>, K>]?: never;
  };
}[CaseName<Cases>];

/** No case set: neither the virtual field nor any case field is present. */
export type OneofUnset<D extends string, Cases> = { [P in D | CaseName<Cases>]?: never };

/** A decoded oneof: one case (named by `D`) or none. */
export type DecodedOneof<D extends string, Cases> = OneofSet<D, Cases> | OneofUnset<D, Cases>;

/** A oneof to encode: exactly one case; naming it in `D` is optional (the encoder ignores it). */
export type OneofInput<D extends string, Cases> = {
  [K in CaseName<Cases>]: { [P in D]?: K } & { [P in K]: Cases[K] } & {
    [P in Exclude<CaseName<Cases>, K>]?: never;
  };
}[CaseName<Cases>];

// ---------------------------------------------------------------------------------------------
// google.protobuf well-known types (protobufjs bundled copies) and google.rpc.Status
// ---------------------------------------------------------------------------------------------

export interface BoolValue {
  value?: boolean;
}

/** google.protobuf.Duration; `seconds` is int64 (a number with longs: Number). */
export interface Duration {
  seconds?: number;
  nanos?: number;
}

/** google.protobuf.Timestamp; `seconds` is int64 (a number with longs: Number). */
export interface Timestamp {
  seconds?: number;
  nanos?: number;
}

export interface ProtoAny {
  type_url?: string;
  value?: Buffer;
}

/** google.protobuf.Value: the bundled definition uses camelCase names, oneof `kind`. */
export interface ProtoValue {
  nullValue?: number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: ProtoListValue;
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
}

export interface ProtoListValue {
  values?: ProtoValue[];
}

/** google.protobuf.Struct. */
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}

/** google.rpc.Status: code 0 = OK. */
export interface RpcStatus {
  code?: number;
  message?: string;
  details?: ProtoAny[];
}

/** JSON values convertible to and from google.protobuf.Struct / Value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Converts a decoded google.protobuf.Value to plain JSON (unset kind becomes null). */
export function protoValueToJson(value: ProtoValue | undefined): JsonValue {
  if (value === undefined) return null;
  if (value.structValue !== undefined) return protoStructToJson(value.structValue);
  if (value.listValue !== undefined) return (value.listValue.values ?? []).map(protoValueToJson);
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.numberValue !== undefined) return value.numberValue;
  if (value.boolValue !== undefined) return value.boolValue;
  return null;
}

/** Converts a decoded google.protobuf.Struct to a plain JSON object. */
export function protoStructToJson(struct: ProtoStruct | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = protoValueToJson(value);
  return out;
}

/** Converts plain JSON to a google.protobuf.Value to encode. */
export function jsonToProtoValue(value: JsonValue): ProtoValue {
  if (value === null) return { nullValue: 0 };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(jsonToProtoValue) } };
  return { structValue: jsonToProtoStruct(value) };
}

/** Converts a plain JSON object to a google.protobuf.Struct to encode. */
export function jsonToProtoStruct(value: { [key: string]: JsonValue }): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, v] of Object.entries(value)) fields[key] = jsonToProtoValue(v);
  return { fields };
}

// ---------------------------------------------------------------------------------------------
// envoy.config.core.v3 / envoy.type.v3
// ---------------------------------------------------------------------------------------------

/**
 * envoy.config.core.v3.HeaderValue. ext_proc: Envoy sends the value in `raw_value` and reads only
 * `raw_value` back (a header set only in `value` arrives empty; setting both is an error).
 * ext_authz DeniedHttpResponse/OkHttpResponse: Envoy reads `value`.
 */
export interface HeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer;
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction (ignored by ext_proc). */
export const HeaderAppendAction = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
} as const;

/**
 * envoy.config.core.v3.HeaderValueOption. `append` is a wrapped BoolValue: unset/false
 * overwrites, `{ value: true }` appends (needed for repeated headers such as set-cookie).
 */
export interface HeaderValueOption {
  header?: HeaderValue;
  append?: BoolValue;
  /** HeaderAppendAction value. */
  append_action?: number;
  keep_empty_value?: boolean;
}

/** envoy.config.core.v3.HeaderMap: a repeated list (duplicates kept), not a proto map. */
export interface HeaderMap {
  headers?: HeaderValue[];
}

/** envoy.config.core.v3.Metadata. */
export interface Metadata {
  filter_metadata?: Record<string, ProtoStruct>;
}

/** envoy.config.core.v3.SocketAddress.Protocol. */
export const SocketAddressProtocol = { TCP: 0, UDP: 1 } as const;

/** envoy.config.core.v3.SocketAddress (subset). */
export type SocketAddress = {
  /** SocketAddressProtocol value. */
  protocol?: number;
  address?: string;
} & DecodedOneof<'port_specifier', { port_value: number; named_port: string }>;

/** envoy.config.core.v3.Pipe. */
export interface Pipe {
  path?: string;
  mode?: number;
}

/** envoy.config.core.v3.Address (envoy_internal_address = 3 not declared). */
export type Address = DecodedOneof<'address', { socket_address: SocketAddress; pipe: Pipe }>;

/** envoy.type.v3.HttpStatus: `code` is the plain HTTP status number. */
export interface HttpStatus {
  code?: number;
}

// ---------------------------------------------------------------------------------------------
// envoy.extensions.filters.http.ext_proc.v3
// ---------------------------------------------------------------------------------------------

export const HeaderSendMode = { DEFAULT: 0, SEND: 1, SKIP: 2 } as const;

export const BodySendMode = {
  NONE: 0,
  STREAMED: 1,
  BUFFERED: 2,
  BUFFERED_PARTIAL: 3,
  FULL_DUPLEX_STREAMED: 4,
} as const;

/** envoy.extensions.filters.http.ext_proc.v3.ProcessingMode (enum fields: HeaderSendMode / BodySendMode values). */
export interface ProcessingMode {
  request_header_mode?: number;
  response_header_mode?: number;
  request_body_mode?: number;
  response_body_mode?: number;
  request_trailer_mode?: number;
  response_trailer_mode?: number;
}

// ---------------------------------------------------------------------------------------------
// envoy.service.ext_proc.v3
// ---------------------------------------------------------------------------------------------

/** Sent on the first ProcessingRequest of a stream only (BodySendMode values). */
export interface ProtocolConfiguration {
  request_body_mode?: number;
  response_body_mode?: number;
  send_body_without_waiting_for_header_response?: boolean;
}

export interface HttpHeaders {
  headers?: HeaderMap;
  /** true: no body follows. */
  end_of_stream?: boolean;
}

export interface HttpBody {
  body?: Buffer;
  end_of_stream?: boolean;
}

export interface HttpTrailers {
  trailers?: HeaderMap;
}

/** The cases of ProcessingRequest's oneof `request`. */
export interface ProcessingRequestCases {
  request_headers: HttpHeaders;
  response_headers: HttpHeaders;
  request_body: HttpBody;
  response_body: HttpBody;
  request_trailers: HttpTrailers;
  response_trailers: HttpTrailers;
}

export type ProcessingRequestCase = keyof ProcessingRequestCases;

export interface ProcessingRequestFields {
  metadata_context?: Metadata;
  /** request/response attributes keyed by filter name, e.g. `envoy.filters.http.ext_proc`. */
  attributes?: Record<string, ProtoStruct>;
  observability_mode?: boolean;
  protocol_config?: ProtocolConfiguration;
}

/**
 * A decoded envoy.service.ext_proc.v3.ProcessingRequest: narrow on `request`, e.g.
 * `if (msg.request === 'request_headers') msg.request_headers.headers`.
 */
export type ProcessingRequest = ProcessingRequestFields & DecodedOneof<'request', ProcessingRequestCases>;

export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

export interface StreamedBodyResponse {
  body?: Uint8Array;
  end_of_stream?: boolean;
}

/** envoy.service.ext_proc.v3.BodyMutation: oneof `mutation`. */
export type BodyMutation = OneofInput<
  'mutation',
  { body: Uint8Array; clear_body: boolean; streamed_response: StreamedBodyResponse }
> | OneofUnset<'mutation', { body: Uint8Array; clear_body: boolean; streamed_response: StreamedBodyResponse }>;

/** envoy.service.ext_proc.v3.CommonResponse.ResponseStatus. */
export const CommonResponseStatus = { CONTINUE: 0, CONTINUE_AND_REPLACE: 1 } as const;

export interface CommonResponse {
  /** CommonResponseStatus value; unset = CONTINUE. */
  status?: number;
  header_mutation?: HeaderMutation;
  body_mutation?: BodyMutation;
  trailers?: HeaderMap;
  clear_route_cache?: boolean;
}

export interface HeadersResponse {
  response?: CommonResponse;
}

export interface BodyResponse {
  response?: CommonResponse;
}

export interface TrailersResponse {
  header_mutation?: HeaderMutation;
}

export interface GrpcStatus {
  status?: number;
}

/** envoy.service.ext_proc.v3.ImmediateResponse. Statuses below 200 become 200 in Envoy. */
export interface ImmediateResponse {
  status?: HttpStatus;
  /** Header values must be in `raw_value`. */
  headers?: HeaderMutation;
  /** bytes on the wire: pass a Buffer (a string would be read as base64). */
  body?: Uint8Array;
  grpc_status?: GrpcStatus;
  details?: string;
}

/** The cases of ProcessingResponse's oneof `response`. */
export interface ProcessingResponseCases {
  request_headers: HeadersResponse;
  response_headers: HeadersResponse;
  request_body: BodyResponse;
  response_body: BodyResponse;
  request_trailers: TrailersResponse;
  response_trailers: TrailersResponse;
  immediate_response: ImmediateResponse;
}

export type ProcessingResponseCase = keyof ProcessingResponseCases;

export interface ProcessingResponseFields {
  dynamic_metadata?: ProtoStruct;
  mode_override?: ProcessingMode;
  override_message_timeout?: Duration;
}

/** envoy.service.ext_proc.v3.ProcessingResponse: exactly one `response` case. */
export type ProcessingResponse = ProcessingResponseFields & OneofInput<'response', ProcessingResponseCases>;

// ---------------------------------------------------------------------------------------------
// envoy.service.auth.v3
// ---------------------------------------------------------------------------------------------

export interface AttributeContextPeer {
  address?: Address;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

/** envoy.service.auth.v3.AttributeContext.HttpRequest. */
export interface AttributeContextHttpRequest {
  id?: string;
  method?: string;
  /** Lower-case keys, repeated values merged; absent with encode_raw_headers (see header_map). */
  headers?: Record<string, string>;
  /** Path and query. */
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  /** int64; -1 when unknown. */
  size?: number;
  protocol?: string;
  body?: string;
  /** Set instead of `body` with with_request_body.pack_as_bytes. */
  raw_body?: Buffer;
  /** Set instead of `headers` with encode_raw_headers (values in raw_value). */
  header_map?: HeaderMap;
}

export interface AttributeContextRequest {
  time?: Timestamp;
  http?: AttributeContextHttpRequest;
}

export interface AttributeContextTlsSession {
  sni?: string;
}

export interface AttributeContext {
  source?: AttributeContextPeer;
  destination?: AttributeContextPeer;
  request?: AttributeContextRequest;
  context_extensions?: Record<string, string>;
  metadata_context?: Metadata;
  tls_session?: AttributeContextTlsSession;
  route_metadata_context?: Metadata;
}

export interface CheckRequest {
  attributes?: AttributeContext;
}

/** envoy.service.auth.v3.DeniedHttpResponse. Header values go in `value`; body is a proto string. */
export interface DeniedHttpResponse {
  status?: HttpStatus;
  headers?: HeaderValueOption[];
  body?: string;
}

export interface OkHttpResponse {
  headers?: HeaderValueOption[];
  headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
}

export interface CheckResponseHttpCases {
  denied_response: DeniedHttpResponse;
  ok_response: OkHttpResponse;
}

export interface CheckResponseFields {
  /** Allow/deny is decided by `status.code` only: 0 allows. */
  status?: RpcStatus;
  dynamic_metadata?: ProtoStruct;
}

/** envoy.service.auth.v3.CheckResponse: oneof `http_response` (at most one case). */
export type CheckResponse = CheckResponseFields &
  (OneofInput<'http_response', CheckResponseHttpCases> | OneofUnset<'http_response', CheckResponseHttpCases>);

// ---------------------------------------------------------------------------------------------
// grpc.health.v1
// ---------------------------------------------------------------------------------------------

export interface HealthCheckRequest {
  service?: string;
}

export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

export interface HealthCheckResponse {
  /** ServingStatus value. */
  status?: number;
}

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

export type ExternalProcessorService = {
  readonly Process: grpc.MethodDefinition<ProcessingRequest, ProcessingResponse>;
};

export type AuthorizationService = {
  readonly Check: grpc.MethodDefinition<CheckRequest, CheckResponse>;
};

export type HealthService = {
  readonly Check: grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse>;
  readonly Watch: grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse>;
};

/** Server implementation of ExternalProcessor, for `server.addService(defs.externalProcessor, impl)`. */
export interface ExternalProcessorHandlers extends grpc.UntypedServiceImplementation {
  Process: grpc.handleBidiStreamingCall<ProcessingRequest, ProcessingResponse>;
}

export interface AuthorizationHandlers extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<CheckRequest, CheckResponse>;
}

export interface HealthHandlers extends grpc.UntypedServiceImplementation {
  Check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
  Watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
}

export interface GrpcDefinitions {
  /** Absolute path of the proto directory that was loaded. */
  readonly protoDir: string;
  /** The whole proto-loader package definition (messages and services). */
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly externalProcessor: ExternalProcessorService;
  readonly authorization: AuthorizationService;
  readonly health: HealthService;
}

type LoadedMethod = protoLoader.MethodDefinition<object, object>;

function isServiceDefinition(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  return def !== undefined && !('format' in def);
}

function requireMethod(
  packageDefinition: protoLoader.PackageDefinition,
  serviceName: string,
  methodName: string,
  expected: { path: string; requestStream: boolean; responseStream: boolean },
): LoadedMethod {
  const service = packageDefinition[serviceName];
  if (!isServiceDefinition(service)) {
    throw new Error(`gRPC service ${serviceName} missing from the loaded protos`);
  }
  const method = service[methodName];
  if (
    method === undefined ||
    method.path !== expected.path ||
    method.requestStream !== expected.requestStream ||
    method.responseStream !== expected.responseStream
  ) {
    throw new Error(
      `gRPC method ${serviceName}.${methodName} does not match ${expected.path} ` +
        `(requestStream ${expected.requestStream}, responseStream ${expected.responseStream})`,
    );
  }
  return method;
}

/**
 * Builds a typed service definition. proto-loader's (de)serializers produce and accept the
 * shapes described above; TypeScript cannot see that, so the one conversion lives here.
 */
function typedMethod<Req, Res>(method: LoadedMethod): grpc.MethodDefinition<Req, Res> {
  return method as unknown as grpc.MethodDefinition<Req, Res>;
}

let cached: GrpcDefinitions | undefined;

/** Loads the protos (once per process) and returns the service definitions. */
export function loadGrpcDefinitions(): GrpcDefinitions {
  if (cached) return cached;
  const protoDir = resolveProtoDir();
  const packageDefinition = protoLoader.loadSync([...PROTO_FILES], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [protoDir],
  });
  const ep = SERVICE_NAMES.externalProcessor;
  const az = SERVICE_NAMES.authorization;
  const hl = SERVICE_NAMES.health;
  cached = {
    protoDir,
    packageDefinition,
    externalProcessor: {
      Process: typedMethod<ProcessingRequest, ProcessingResponse>(
        requireMethod(packageDefinition, ep, 'Process', {
          path: METHOD_PATHS.externalProcessorProcess,
          requestStream: true,
          responseStream: true,
        }),
      ),
    },
    authorization: {
      Check: typedMethod<CheckRequest, CheckResponse>(
        requireMethod(packageDefinition, az, 'Check', {
          path: METHOD_PATHS.authorizationCheck,
          requestStream: false,
          responseStream: false,
        }),
      ),
    },
    health: {
      Check: typedMethod<HealthCheckRequest, HealthCheckResponse>(
        requireMethod(packageDefinition, hl, 'Check', {
          path: METHOD_PATHS.healthCheck,
          requestStream: false,
          responseStream: false,
        }),
      ),
      Watch: typedMethod<HealthCheckRequest, HealthCheckResponse>(
        requireMethod(packageDefinition, hl, 'Watch', {
          path: METHOD_PATHS.healthWatch,
          requestStream: false,
          responseStream: true,
        }),
      ),
    },
  };
  return cached;
}

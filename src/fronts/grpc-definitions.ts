/**
 * Loads the hand-written, wire-compatible .proto files in `<repo>/proto` once and exposes the
 * gRPC service definitions Envoy calls (ext_proc, ext_authz) plus gRPC health.
 *
 * The message shapes are generated (`npm run gen:protos`: proto-loader-gen-types with the options
 * below, output in ./grpc/generated, checked by test/unit/fronts/grpc-definitions.test.ts). We use
 * the generated `__Output` types, the strict ones (bytes are Buffer, no null, longs are numbers),
 * for what we decode and for what we build; this file only narrows what they leave loose:
 * - `oneofs: true`: a decoded object names its set case in a virtual field (`request:
 *   'request_headers'`); the generated types make every case optional, we make them a union, so
 *   narrowing on that field gives the case, and a response we build carries exactly one case.
 * - envoy.type.v3.HttpStatus.code is a proto3 (open) enum: any HTTP status, 418 included, goes
 *   on the wire, while the generated type allows only the codes StatusCode names.
 * - `defaults: false`: a field at its default (0, '', false, empty, unset message) is absent.
 * - A JS string in a bytes field would be read as base64 by protobufjs: the strict types take Buffer.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import type { DuplexCall, ServerStreamCall, UnaryCall, UnaryCallback } from './grpc/call-surface';
import type { HeaderValue__Output } from './grpc/generated/envoy/config/core/v3/HeaderValue';
import {
  _envoy_config_core_v3_HeaderValueOption_HeaderAppendAction,
  type HeaderValueOption__Output,
} from './grpc/generated/envoy/config/core/v3/HeaderValueOption';
import {
  _envoy_extensions_filters_http_ext_proc_v3_ProcessingMode_BodySendMode,
  _envoy_extensions_filters_http_ext_proc_v3_ProcessingMode_HeaderSendMode,
} from './grpc/generated/envoy/extensions/filters/http/ext_proc/v3/ProcessingMode';
import type { _envoy_service_auth_v3_AttributeContext_HttpRequest__Output } from './grpc/generated/envoy/service/auth/v3/AttributeContext';
import type { CheckRequest__Output } from './grpc/generated/envoy/service/auth/v3/CheckRequest';
import type { CheckResponse__Output } from './grpc/generated/envoy/service/auth/v3/CheckResponse';
import type { DeniedHttpResponse__Output } from './grpc/generated/envoy/service/auth/v3/DeniedHttpResponse';
import { _envoy_service_ext_proc_v3_CommonResponse_ResponseStatus } from './grpc/generated/envoy/service/ext_proc/v3/CommonResponse';
import type { ImmediateResponse__Output } from './grpc/generated/envoy/service/ext_proc/v3/ImmediateResponse';
import type { ProcessingRequest__Output } from './grpc/generated/envoy/service/ext_proc/v3/ProcessingRequest';
import type { ProcessingResponse__Output } from './grpc/generated/envoy/service/ext_proc/v3/ProcessingResponse';
import type { HealthCheckRequest__Output } from './grpc/generated/grpc/health/v1/HealthCheckRequest';
import {
  _grpc_health_v1_HealthCheckResponse_ServingStatus,
  type HealthCheckResponse__Output,
} from './grpc/generated/grpc/health/v1/HealthCheckResponse';

// ---------------------------------------------------------------------------------------------
// Loader configuration
// ---------------------------------------------------------------------------------------------

/** Options given to @grpc/proto-loader; `npm run gen:protos` passes the same ones (the test checks). */
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
// Messages: the generated types, with the oneofs and the open HTTP status narrowed
// ---------------------------------------------------------------------------------------------

type CaseOf<T, D extends keyof T> = Extract<NonNullable<T[D]>, keyof T>;
type NoCase<T, D extends keyof T> = { [P in D | CaseOf<T, D>]?: never };
type OnlyCase<T, D extends keyof T, K extends CaseOf<T, D>> = { [P in K]-?: NonNullable<T[P]> } & {
  [P in Exclude<CaseOf<T, D>, K>]?: never;
};

/** As decoded: one case, named by the virtual field `D`, or none. */
type DecodedOneof<T, D extends keyof T> = Omit<T, D | CaseOf<T, D>> &
  ({ [K in CaseOf<T, D>]: { [P in D]: K } & OnlyCase<T, D, K> }[CaseOf<T, D>] | NoCase<T, D>);

/** To encode: exactly one case; naming it in `D` is optional (the encoder ignores the field). */
type OneCase<T, D extends keyof T> = Omit<T, D | CaseOf<T, D>> &
  { [K in CaseOf<T, D>]: { [P in D]?: K } & OnlyCase<T, D, K> }[CaseOf<T, D>];

/** To encode: at most one case. */
type AtMostOneCase<T, D extends keyof T> = OneCase<T, D> | (Omit<T, D | CaseOf<T, D>> & NoCase<T, D>);

/** envoy.type.v3.HttpStatus: the plain HTTP status number (proto3 enums are open). */
export interface HttpStatus {
  code?: number;
}

/** envoy.config.core.v3.HeaderValue. ext_proc reads only `raw_value`; ext_authz denied/ok responses read `value`. */
export type HeaderValue = HeaderValue__Output;
/** envoy.config.core.v3.HeaderValueOption: `append` is a wrapped BoolValue (unset/false overwrites). */
export type HeaderValueOption = HeaderValueOption__Output;

export const HeaderAppendAction = _envoy_config_core_v3_HeaderValueOption_HeaderAppendAction;
export const HeaderSendMode = _envoy_extensions_filters_http_ext_proc_v3_ProcessingMode_HeaderSendMode;
export const BodySendMode = _envoy_extensions_filters_http_ext_proc_v3_ProcessingMode_BodySendMode;
export const CommonResponseStatus = _envoy_service_ext_proc_v3_CommonResponse_ResponseStatus;
export const ServingStatus = _grpc_health_v1_HealthCheckResponse_ServingStatus;
export type ServingStatusValue = (typeof ServingStatus)[keyof typeof ServingStatus];

/** A decoded ProcessingRequest: narrow on `request`, e.g. `if (msg.request === 'request_headers') msg.request_headers.headers`. */
export type ProcessingRequest = DecodedOneof<ProcessingRequest__Output, 'request'>;

/** envoy.service.ext_proc.v3.ImmediateResponse. Header values go in `raw_value`; statuses below 200 become 200 in Envoy. */
export type ImmediateResponse = Omit<ImmediateResponse__Output, 'status'> & { status?: HttpStatus };

/** envoy.service.ext_proc.v3.ProcessingResponse: exactly one `response` case. */
export type ProcessingResponse = OneCase<
  Omit<ProcessingResponse__Output, 'immediate_response'> & { immediate_response?: ImmediateResponse },
  'response'
>;

/** envoy.service.auth.v3.AttributeContext.HttpRequest: `headers` (merged map) or, with encode_raw_headers, `header_map`. */
export type AttributeContextHttpRequest = _envoy_service_auth_v3_AttributeContext_HttpRequest__Output;
export type CheckRequest = CheckRequest__Output;

/** envoy.service.auth.v3.DeniedHttpResponse. Header values go in `value`; body is a proto string. */
export type DeniedHttpResponse = Omit<DeniedHttpResponse__Output, 'status'> & { status?: HttpStatus };

/** envoy.service.auth.v3.CheckResponse: Envoy allows or denies on `status.code` alone (0 allows). */
export type CheckResponse = AtMostOneCase<
  Omit<CheckResponse__Output, 'denied_response'> & { denied_response?: DeniedHttpResponse },
  'http_response'
>;

export type HealthCheckRequest = HealthCheckRequest__Output;
export type HealthCheckResponse = HealthCheckResponse__Output;

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

/**
 * Server implementation of ExternalProcessor, for `addService(defs.externalProcessor, impl)`. The
 * handlers take the call surface both gRPC servers provide (grpc/call-surface.ts).
 */
export interface ExternalProcessorHandlers extends grpc.UntypedServiceImplementation {
  Process: (call: DuplexCall<ProcessingRequest, ProcessingResponse>) => void;
}

export interface AuthorizationHandlers extends grpc.UntypedServiceImplementation {
  Check: (call: UnaryCall<CheckRequest>, callback: UnaryCallback<CheckResponse>) => void;
}

export interface HealthHandlers extends grpc.UntypedServiceImplementation {
  Check: (call: UnaryCall<HealthCheckRequest>, callback: UnaryCallback<HealthCheckResponse>) => void;
  Watch: (call: ServerStreamCall<HealthCheckRequest, HealthCheckResponse>) => void;
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

/**
 * The protobufjs root of the same files, for the encoders below. Well-known google/protobuf
 * imports resolve to protobufjs's bundled copies, as in proto-loader.
 */
function protobufRoot(protoDir: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const inDir = path.join(protoDir, target);
    return fs.existsSync(inDir) ? inDir : target;
  };
  return root.loadSync([...PROTO_FILES], { keepCase: true });
}

/**
 * The method with a direct encoder for what we send: proto-loader's serializer first converts
 * the object with `fromObject` (a second copy of every message, ~2 µs of a 2.5 µs ImmediateResponse);
 * what we build already has the wire types (numbers, Buffers, one oneof case), so `encode` takes
 * it as it is. test/unit/fronts/grpc-definitions.test.ts checks both give the same bytes.
 */
function withDirectEncoder(method: LoadedMethod, type: protobuf.Type): LoadedMethod {
  return { ...method, responseSerialize: (value: object) => type.encode(value).finish() as Buffer };
}

/**
 * The method decoding what it receives with our protobufjs root (`toObject(decode)` with the loader
 * options, exactly what proto-loader's deserializer does), so neither gRPC server goes through
 * proto-loader per message.
 */
function withDirectDecoder(method: LoadedMethod, type: protobuf.Type): LoadedMethod {
  return { ...method, requestDeserialize: (bytes: Buffer) => type.toObject(type.decode(bytes), PROTO_LOADER_OPTIONS) };
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
  const root = protobufRoot(protoDir);
  /** The loaded method with our protobufjs codecs for `requestType` in and `responseType` out. */
  const method = (service: string, name: string, expected: Parameters<typeof requireMethod>[3], requestType: string, responseType: string): LoadedMethod =>
    withDirectDecoder(withDirectEncoder(requireMethod(packageDefinition, service, name, expected), root.lookupType(responseType)), root.lookupType(requestType));
  const ep = SERVICE_NAMES.externalProcessor;
  const az = SERVICE_NAMES.authorization;
  const hl = SERVICE_NAMES.health;
  const healthCheck = ['grpc.health.v1.HealthCheckRequest', 'grpc.health.v1.HealthCheckResponse'] as const;
  cached = {
    protoDir,
    packageDefinition,
    externalProcessor: {
      Process: typedMethod<ProcessingRequest, ProcessingResponse>(method(ep, 'Process',
        { path: METHOD_PATHS.externalProcessorProcess, requestStream: true, responseStream: true },
        'envoy.service.ext_proc.v3.ProcessingRequest', 'envoy.service.ext_proc.v3.ProcessingResponse')),
    },
    authorization: {
      Check: typedMethod<CheckRequest, CheckResponse>(method(az, 'Check',
        { path: METHOD_PATHS.authorizationCheck, requestStream: false, responseStream: false },
        'envoy.service.auth.v3.CheckRequest', 'envoy.service.auth.v3.CheckResponse')),
    },
    health: {
      Check: typedMethod<HealthCheckRequest, HealthCheckResponse>(method(hl, 'Check',
        { path: METHOD_PATHS.healthCheck, requestStream: false, responseStream: false }, ...healthCheck)),
      Watch: typedMethod<HealthCheckRequest, HealthCheckResponse>(method(hl, 'Watch',
        { path: METHOD_PATHS.healthWatch, requestStream: false, responseStream: true }, ...healthCheck)),
    },
  };
  return cached;
}

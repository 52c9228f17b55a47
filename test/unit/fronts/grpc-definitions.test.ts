import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Root, Type } from 'protobufjs';
import {
  BodySendMode,
  CheckRequest,
  CheckResponse,
  CommonResponseStatus,
  ExternalProcessorHandlers,
  HeaderAppendAction,
  HeaderSendMode,
  HealthHandlers,
  HealthCheckResponse,
  METHOD_PATHS,
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  ProcessingRequest,
  ProcessingResponse,
  ServingStatus,
  loadGrpcDefinitions,
  resolveProtoDir,
} from '../../../src/fronts/grpc-definitions';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const PROTO_DIR = path.join(REPO_ROOT, 'proto');

/** The same protos, loaded independently with protobufjs (proto-loader's own parser). */
function loadRoot(): Root {
  const root = new Root();
  root.resolvePath = (_origin: string, target: string): string =>
    path.isAbsolute(target) ? target : path.join(PROTO_DIR, target);
  root.loadSync([...PROTO_FILES], { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot();
const type = (name: string): Type => root.lookupType(name);

function encode(typeName: string, obj: Record<string, unknown>): string {
  const t = type(typeName);
  // No t.verify(): it rejects enum numbers the .proto does not declare (e.g. HttpStatus 418),
  // which fromObject/encode (and so proto-loader) pass through, as proto3 open enums require.
  return Buffer.from(t.encode(t.fromObject(obj)).finish()).toString('hex');
}

/** Hex with spaces/comments allowed: "0a 03 // x" -> "0a03". */
function hex(...parts: string[]): string {
  return parts
    .map((p) => p.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''))
    .join('')
    .toLowerCase();
}

const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

type FieldRow = [number, string] | [number, string, 'repeated' | 'map'];

describe('proto files: field numbers and wire types match upstream Envoy / gRPC', () => {
  // message → { field: [number, proto type, 'repeated' | 'map'?] }: the fields we declare, as upstream numbers them
  const table: Array<[string, Record<string, FieldRow>]> = [
    ['envoy.config.core.v3.HeaderValue', { key: [1, 'string'], value: [2, 'string'], raw_value: [3, 'bytes'] }],
    ['envoy.config.core.v3.HeaderValueOption', {
      header: [1, 'HeaderValue'], append: [2, 'google.protobuf.BoolValue'], append_action: [3, 'HeaderAppendAction'],
      keep_empty_value: [4, 'bool'],
    }],
    ['envoy.config.core.v3.HeaderMap', { headers: [1, 'HeaderValue', 'repeated'] }],
    ['envoy.config.core.v3.Metadata', { filter_metadata: [1, 'google.protobuf.Struct', 'map'] }],
    ['envoy.config.core.v3.Address', { socket_address: [1, 'SocketAddress'] }],
    ['envoy.config.core.v3.SocketAddress', { address: [2, 'string'], port_value: [3, 'uint32'] }],
    ['envoy.type.v3.HttpStatus', { code: [1, 'StatusCode'] }],
    ['envoy.service.ext_proc.v3.ProcessingRequest', {
      request_headers: [2, 'HttpHeaders'], response_headers: [3, 'HttpHeaders'], request_body: [4, 'HttpBody'],
      response_body: [5, 'HttpBody'], request_trailers: [6, 'HttpTrailers'], response_trailers: [7, 'HttpTrailers'],
      metadata_context: [8, 'envoy.config.core.v3.Metadata'], attributes: [9, 'google.protobuf.Struct', 'map'],
      observability_mode: [10, 'bool'], protocol_config: [11, 'ProtocolConfiguration'],
    }],
    ['envoy.service.ext_proc.v3.ProcessingResponse', {
      request_headers: [1, 'HeadersResponse'], response_headers: [2, 'HeadersResponse'],
      request_body: [3, 'BodyResponse'], response_body: [4, 'BodyResponse'], request_trailers: [5, 'TrailersResponse'],
      response_trailers: [6, 'TrailersResponse'], immediate_response: [7, 'ImmediateResponse'],
      dynamic_metadata: [8, 'google.protobuf.Struct'],
      mode_override: [9, 'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode'],
      override_message_timeout: [10, 'google.protobuf.Duration'],
    }],
    ['envoy.service.ext_proc.v3.HttpHeaders', {
      headers: [1, 'envoy.config.core.v3.HeaderMap'], end_of_stream: [3, 'bool'],
    }],
    ['envoy.service.ext_proc.v3.HttpBody', { body: [1, 'bytes'], end_of_stream: [2, 'bool'] }],
    ['envoy.service.ext_proc.v3.HttpTrailers', { trailers: [1, 'envoy.config.core.v3.HeaderMap'] }],
    ['envoy.service.ext_proc.v3.HeadersResponse', { response: [1, 'CommonResponse'] }],
    ['envoy.service.ext_proc.v3.BodyResponse', { response: [1, 'CommonResponse'] }],
    ['envoy.service.ext_proc.v3.TrailersResponse', { header_mutation: [1, 'HeaderMutation'] }],
    ['envoy.service.ext_proc.v3.CommonResponse', {
      status: [1, 'ResponseStatus'], header_mutation: [2, 'HeaderMutation'], body_mutation: [3, 'BodyMutation'],
      trailers: [4, 'envoy.config.core.v3.HeaderMap'], clear_route_cache: [5, 'bool'],
    }],
    ['envoy.service.ext_proc.v3.ImmediateResponse', {
      status: [1, 'envoy.type.v3.HttpStatus'], headers: [2, 'HeaderMutation'], body: [3, 'bytes'],
      grpc_status: [4, 'GrpcStatus'], details: [5, 'string'],
    }],
    ['envoy.service.ext_proc.v3.GrpcStatus', { status: [1, 'uint32'] }],
    ['envoy.service.ext_proc.v3.HeaderMutation', {
      set_headers: [1, 'envoy.config.core.v3.HeaderValueOption', 'repeated'],
      remove_headers: [2, 'string', 'repeated'],
    }],
    ['envoy.service.ext_proc.v3.BodyMutation', { body: [1, 'bytes'], clear_body: [2, 'bool'] }],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', {
      request_header_mode: [1, 'HeaderSendMode'], response_header_mode: [2, 'HeaderSendMode'],
      request_body_mode: [3, 'BodySendMode'], response_body_mode: [4, 'BodySendMode'],
      request_trailer_mode: [5, 'HeaderSendMode'], response_trailer_mode: [6, 'HeaderSendMode'],
    }],
    ['envoy.service.auth.v3.CheckRequest', { attributes: [1, 'AttributeContext'] }],
    ['envoy.service.auth.v3.AttributeContext', {
      source: [1, 'Peer'], destination: [2, 'Peer'], request: [4, 'Request'],
      context_extensions: [10, 'string', 'map'], metadata_context: [11, 'envoy.config.core.v3.Metadata'],
      route_metadata_context: [13, 'envoy.config.core.v3.Metadata'],
    }],
    ['envoy.service.auth.v3.AttributeContext.Peer', { address: [1, 'envoy.config.core.v3.Address'] }],
    ['envoy.service.auth.v3.AttributeContext.Request', {
      time: [1, 'google.protobuf.Timestamp'], http: [2, 'HttpRequest'],
    }],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', {
      id: [1, 'string'], method: [2, 'string'], headers: [3, 'string', 'map'], path: [4, 'string'],
      host: [5, 'string'], scheme: [6, 'string'], size: [9, 'int64'], protocol: [10, 'string'], body: [11, 'string'],
      raw_body: [12, 'bytes'], header_map: [13, 'envoy.config.core.v3.HeaderMap'],
    }],
    ['envoy.service.auth.v3.CheckResponse', {
      status: [1, 'google.rpc.Status'], denied_response: [2, 'DeniedHttpResponse'], ok_response: [3, 'OkHttpResponse'],
      dynamic_metadata: [4, 'google.protobuf.Struct'],
    }],
    ['envoy.service.auth.v3.DeniedHttpResponse', {
      status: [1, 'envoy.type.v3.HttpStatus'], headers: [2, 'envoy.config.core.v3.HeaderValueOption', 'repeated'],
      body: [3, 'string'],
    }],
    ['envoy.service.auth.v3.OkHttpResponse', {
      headers: [2, 'envoy.config.core.v3.HeaderValueOption', 'repeated'], headers_to_remove: [5, 'string', 'repeated'],
      response_headers_to_add: [6, 'envoy.config.core.v3.HeaderValueOption', 'repeated'],
    }],
    ['google.rpc.Status', {
      code: [1, 'int32'], message: [2, 'string'], details: [3, 'google.protobuf.Any', 'repeated'],
    }],
    ['grpc.health.v1.HealthCheckRequest', { service: [1, 'string'] }],
    ['grpc.health.v1.HealthCheckResponse', { status: [1, 'ServingStatus'] }],
  ];

  it.each(table)('%s', (message, fields) => {
    const declared = type(message).fields;
    // Compare plain values only: protobufjs reflection objects are huge cyclic graphs.
    const actual = Object.fromEntries(
      Object.keys(fields).map((name) => {
        const f = declared[name];
        return [name, f ? [f.id, f.type, ...(f.repeated ? ['repeated'] : f.map ? ['map'] : [])] : `no field ${name}`];
      }),
    );
    expect(actual).toEqual(fields);
  });

  it('oneofs group the right fields', () => {
    expect(type('envoy.service.ext_proc.v3.ProcessingRequest').oneofs.request.oneof).toEqual([
      'request_headers',
      'response_headers',
      'request_body',
      'response_body',
      'request_trailers',
      'response_trailers',
    ]);
    expect(type('envoy.service.ext_proc.v3.ProcessingResponse').oneofs.response.oneof).toHaveLength(7);
    expect(type('envoy.service.auth.v3.CheckResponse').oneofs.http_response.oneof).toEqual([
      'denied_response',
      'ok_response',
    ]);
    expect(type('envoy.service.ext_proc.v3.BodyMutation').oneofs.mutation.oneof).toEqual([
      'body',
      'clear_body',
      'streamed_response',
    ]);
  });

  it('enum values match upstream (in the .proto files and in the generated constants)', () => {
    const e = (name: string): Record<string, number> => root.lookupEnum(name).values;
    const upstream: Array<[string, Record<string, number>, Record<string, number>]> = [
      ['envoy.service.ext_proc.v3.CommonResponse.ResponseStatus', CommonResponseStatus, { CONTINUE: 0, CONTINUE_AND_REPLACE: 1 }],
      ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode', HeaderSendMode, { DEFAULT: 0, SEND: 1, SKIP: 2 }],
      [
        'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode',
        BodySendMode,
        { NONE: 0, STREAMED: 1, BUFFERED: 2, BUFFERED_PARTIAL: 3, FULL_DUPLEX_STREAMED: 4 },
      ],
      ['grpc.health.v1.HealthCheckResponse.ServingStatus', ServingStatus, { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 }],
      [
        'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction',
        HeaderAppendAction,
        { APPEND_IF_EXISTS_OR_ADD: 0, ADD_IF_ABSENT: 1, OVERWRITE_IF_EXISTS_OR_ADD: 2, OVERWRITE_IF_EXISTS: 3 },
      ],
    ];
    for (const [name, generated, values] of upstream) {
      expect({ name, proto: e(name), generated }).toEqual({ name, proto: values, generated: values });
    }
    const status = e('envoy.type.v3.StatusCode');
    expect(status).toMatchObject({ Empty: 0, Continue: 100, OK: 200, NotFound: 404, GatewayTimeout: 504 });
    expect(Object.keys(status)).toHaveLength(57);
  });

  it('well-known types come from protobufjs without include-path warnings', () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      protoLoader.loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('generated types (src/fronts/grpc/generated, `npm run gen:protos`)', () => {
  const GENERATED_DIR = 'src/fronts/grpc/generated';
  const script = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts['gen:protos'] ?? '(no gen:protos script in package.json)';
  const [tool, ...args] = script.split(/\s+/);
  const outDirFlag = `--outDir=${GENERATED_DIR}`;

  it('are generated with the options the loader decodes with, from the same entry files', () => {
    // The generator's defaults are enums as numbers and bytes as Buffer: no flag for those.
    expect({ enums: PROTO_LOADER_OPTIONS.enums, bytes: PROTO_LOADER_OPTIONS.bytes }).toEqual({ enums: Number, bytes: Buffer });
    const optionFlags = [
      PROTO_LOADER_OPTIONS.keepCase ? '--keepCase' : [],
      `--longs=${PROTO_LOADER_OPTIONS.longs.name}`,
      PROTO_LOADER_OPTIONS.defaults ? '--defaults' : [],
      PROTO_LOADER_OPTIONS.oneofs ? '--oneofs' : [],
    ].flat();
    expect(tool).toBe('proto-loader-gen-types');
    expect(args.filter((a) => a.startsWith('--')).sort()).toEqual(
      [...optionFlags, '--grpcLib=@grpc/grpc-js', '--includeDirs=proto', outDirFlag].sort(),
    );
    expect(args.filter((a) => !a.startsWith('--'))).toEqual(PROTO_FILES);
  });

  it('are up to date: regenerating gives the committed files byte for byte', () => {
    const listFiles = (root: string, dir = ''): string[] =>
      readdirSync(path.join(root, dir), { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? listFiles(root, path.join(dir, e.name)) : [path.join(dir, e.name)]))
        .sort();
    const fresh = mkdtempSync(path.join(tmpdir(), 'gen-protos-'));
    try {
      // Run from the repo root as `npm run gen:protos` does: the files record their proto's path.
      const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
      execFileSync(process.execPath, [bin, ...args.map((a) => (a === outDirFlag ? `--outDir=${fresh}` : a))], {
        cwd: REPO_ROOT,
        stdio: 'pipe',
      });
      const committed = path.join(REPO_ROOT, GENERATED_DIR);
      const freshFiles = listFiles(fresh);
      // Stale files are reported too (delete the folder, then run `npm run gen:protos`).
      expect(listFiles(committed)).toEqual(freshFiles);
      const outdated = freshFiles.filter(
        (f) => !readFileSync(path.join(fresh, f)).equals(readFileSync(path.join(committed, f))),
      );
      expect({ outdated, fix: 'npm run gen:protos' }).toEqual({ outdated: [], fix: 'npm run gen:protos' });
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe('hand-computed encodings', () => {
  // ProcessingRequest{ request_headers{ headers{ [ {key ":method", raw_value "GET"} ] }, end_of_stream } }
  const requestHeadersHex = hex(
    '12 14', //            ProcessingRequest.request_headers = 2, LEN 20
    '0a 10', //              HttpHeaders.headers = 1, LEN 16
    '0a 0e', //                HeaderMap.headers = 1, LEN 14
    '0a 07', ascii(':method'), //  HeaderValue.key = 1
    '1a 03', ascii('GET'), //      HeaderValue.raw_value = 3 (bytes)
    '18 01', //              HttpHeaders.end_of_stream = 3, varint 1
  );

  it('ProcessingRequest.request_headers is field 2 (first byte 0x12), HeaderValue.raw_value is tag 0x1a', () => {
    const bytes = encode('envoy.service.ext_proc.v3.ProcessingRequest', {
      request_headers: {
        headers: { headers: [{ key: ':method', raw_value: Buffer.from('GET') }] },
        end_of_stream: true,
      },
    });
    expect(bytes).toBe(requestHeadersHex);
    expect(bytes.slice(0, 2)).toBe('12');
  });

  it('decodes a hand-built ProcessingRequest into the documented JS shape', () => {
    const attributes = hex(
      '4a 37', //             ProcessingRequest.attributes = 9 (map entry), LEN 55
      '0a 1b', ascii('envoy.filters.http.ext_proc'), // entry key
      '12 18', //               entry value: Struct, LEN 24
      '0a 16', //                 Struct.fields entry, LEN 22
      '0a 0e', ascii('xds.route_name'),
      '12 04', //                   Value, LEN 4
      '1a 02', ascii('r1'), //        Value.string_value = 3
    );
    const extraUnknown = hex('60 01'); // field 12 varint: not declared, must be skipped
    const bytes = Buffer.from(requestHeadersHex + attributes + extraUnknown, 'hex');

    const defs = loadGrpcDefinitions();
    const decoded: ProcessingRequest = defs.externalProcessor.Process.requestDeserialize(bytes);
    expect(decoded).toEqual({
      request: 'request_headers',
      request_headers: {
        headers: { headers: [{ key: ':method', raw_value: Buffer.from('GET') }] },
        end_of_stream: true,
      },
      attributes: {
        'envoy.filters.http.ext_proc': {
          fields: { 'xds.route_name': { stringValue: 'r1', kind: 'stringValue' } },
        },
      },
    });
    if (decoded.request !== 'request_headers') throw new Error('oneof case not named');
    expect(Buffer.isBuffer(decoded.request_headers.headers?.headers?.[0].raw_value)).toBe(true);

    // Envoy's deprecated HttpHeaders.attributes = 2 (undeclared here) is skipped.
    const withDeprecated = Buffer.from(hex('12 04', '12 00', '18 01'), 'hex');
    expect(defs.externalProcessor.Process.requestDeserialize(withDeprecated)).toEqual({
      request: 'request_headers',
      request_headers: { end_of_stream: true },
    });

    // A body message.
    const body = Buffer.from(hex('22 07', '0a 03', '00ff41', '10 01'), 'hex');
    expect(defs.externalProcessor.Process.requestDeserialize(body)).toEqual({
      request: 'request_body',
      request_body: { body: Buffer.from([0x00, 0xff, 0x41]), end_of_stream: true },
    });
  });

  // ProcessingResponse{ immediate_response{ status{418}, headers{set_headers[{set-cookie: a=1, append true}]},
  //                                         body "hi", details "x" } }
  const immediateHex = hex(
    '3a 27', //           ProcessingResponse.immediate_response = 7, LEN 39
    '0a 03', //             ImmediateResponse.status = 1, LEN 3
    '08 a2 03', //            HttpStatus.code = 1, varint 418
    '12 19', //             ImmediateResponse.headers = 2, LEN 25
    '0a 17', //               HeaderMutation.set_headers = 1, LEN 23
    '0a 11', //                 HeaderValueOption.header = 1, LEN 17
    '0a 0a', ascii('set-cookie'),
    '1a 03', ascii('a=1'), //     raw_value = 3
    '12 02', //                 HeaderValueOption.append = 2, BoolValue LEN 2
    '08 01', //                   BoolValue.value = 1, true
    '1a 02', ascii('hi'), //  ImmediateResponse.body = 3 (bytes)
    '2a 01', ascii('x'), //   ImmediateResponse.details = 5
  );
  const immediate: ProcessingResponse = {
    immediate_response: {
      status: { code: 418 },
      headers: {
        set_headers: [{ header: { key: 'set-cookie', raw_value: Buffer.from('a=1') }, append: { value: true } }],
      },
      body: Buffer.from('hi'),
      details: 'x',
    },
  };

  it('ProcessingResponse.immediate_response is field 7 (tag 0x3a), body = 3, append is a wrapped BoolValue at 2', () => {
    expect(encode('envoy.service.ext_proc.v3.ProcessingResponse', { ...immediate })).toBe(immediateHex);
  });

  it('the server-side serializer produces the same bytes, with or without the virtual oneof field', () => {
    const { Process } = loadGrpcDefinitions().externalProcessor;
    expect(Process.responseSerialize(immediate).toString('hex')).toBe(immediateHex);
    const named: ProcessingResponse = { response: 'immediate_response', ...immediate };
    expect(Process.responseSerialize(named).toString('hex')).toBe(immediateHex);
  });

  it('the direct encoders give the bytes proto-loader\'s own serializers (fromObject, then encode) give', () => {
    const pkg = protoLoader.loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    const method = (service: string, name: string) => (pkg[service] as protoLoader.ServiceDefinition)[name];
    const reference = { process: method('envoy.service.ext_proc.v3.ExternalProcessor', 'Process'), check: method('envoy.service.auth.v3.Authorization', 'Check') };
    const defs = loadGrpcDefinitions();
    const processing: ProcessingResponse[] = [
      immediate,
      { request_headers: { response: {} } },
      { request_body: { response: {} } },
      { response_headers: { response: {} } },
      { request_trailers: {} },
      { immediate_response: { status: { code: 503 }, headers: { set_headers: [{ header: { key: 'retry-after', raw_value: Buffer.from('1') }, append: { value: false } }] }, body: Buffer.alloc(0), details: 'lambda_sidecar_err_overloaded' } },
      { immediate_response: { status: { code: 200 }, headers: { set_headers: [] }, body: Buffer.from([0, 255, 1]), details: '' } },
    ];
    for (const msg of processing) {
      expect(defs.externalProcessor.Process.responseSerialize(msg).toString('hex')).toBe(reference.process.responseSerialize(msg).toString('hex'));
    }
    const checks: CheckResponse[] = [
      { status: { code: 7, message: 'no' }, denied_response: { status: { code: 404 }, headers: [{ header: { key: 'content-type', value: 'application/json' }, append: { value: true } }], body: '{"message":"x"}' } },
      { status: {}, ok_response: { headers_to_remove: ['authorization'] }, dynamic_metadata: { fields: { a: { boolValue: true }, b: { stringValue: 's' } } } },
    ];
    for (const msg of checks) {
      expect(defs.authorization.Check.responseSerialize(msg).toString('hex')).toBe(reference.check.responseSerialize(msg).toString('hex'));
    }
    expect(Buffer.isBuffer(defs.externalProcessor.Process.responseSerialize(immediate))).toBe(true);
  });

  it('the direct decoders give the objects proto-loader\'s own deserializers give', () => {
    const pkg = protoLoader.loadSync([...PROTO_FILES], { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    const method = (service: string, name: string) => (pkg[service] as protoLoader.ServiceDefinition)[name];
    const defs = loadGrpcDefinitions();
    const cases: Array<[protoLoader.MethodDefinition<object, object>, (b: Buffer) => unknown, object]> = [
      [method('envoy.service.ext_proc.v3.ExternalProcessor', 'Process'), defs.externalProcessor.Process.requestDeserialize, {
        request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/a?b=1') }] }, end_of_stream: true },
        attributes: { 'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: '10.0.0.1:5' } } } },
      }],
      [method('envoy.service.ext_proc.v3.ExternalProcessor', 'Process'), defs.externalProcessor.Process.requestDeserialize, { request_body: { body: Buffer.from([0, 1, 255]), end_of_stream: true } }],
      [method('envoy.service.auth.v3.Authorization', 'Check'), defs.authorization.Check.requestDeserialize, {
        attributes: { request: { http: { method: 'POST', path: '/x', headers: { a: 'b' }, size: 3, raw_body: Buffer.from('abc') } }, context_extensions: { lambda_route: 'r' } },
      }],
      [method('grpc.health.v1.Health', 'Check'), defs.health.Check.requestDeserialize, { service: 'envoy.service.auth.v3.Authorization' }],
    ];
    for (const [reference, direct, msg] of cases) {
      const bytes = reference.requestSerialize(msg);
      expect(direct(bytes)).toEqual(reference.requestDeserialize(bytes));
    }
  });

  it('HeadersResponse CONTINUE with no mutation encodes as an empty CommonResponse', () => {
    const { Process } = loadGrpcDefinitions().externalProcessor;
    // request_headers = 1, LEN 2 { HeadersResponse.response = 1, LEN 0 }
    expect(Process.responseSerialize({ request_headers: { response: {} } }).toString('hex')).toBe('0a020a00');
    // protobufjs writes a scalar that is explicitly set even at its default (status = 1, varint 0):
    // still valid proto3 wire data, decoded by Envoy as CONTINUE. Omit defaults for minimal bytes.
    expect(
      Process.responseSerialize({
        request_headers: { response: { status: CommonResponseStatus.CONTINUE } },
      }).toString('hex'),
    ).toBe(hex('0a 04', '0a 02', '08 00'));
  });

  it('append: absent vs explicit false are different bytes (both mean overwrite)', () => {
    const t = 'envoy.config.core.v3.HeaderValueOption';
    expect(encode(t, { header: { key: 'a' } })).toBe(hex('0a 03', '0a 01', ascii('a')));
    // append = 2 (LEN 2) { BoolValue.value = 1, varint 0 }: the wrapper is present, value false.
    expect(encode(t, { header: { key: 'a' }, append: { value: false } })).toBe(
      hex('0a 03', '0a 01', ascii('a'), '12 02', '08 00'),
    );
    expect(encode(t, { append_action: 2, keep_empty_value: true })).toBe(hex('18 02', '20 01'));
  });

  it('an HTTP status the StatusCode enum does not name (418) still encodes and decodes', () => {
    const { Process } = loadGrpcDefinitions().externalProcessor;
    const bytes = Process.responseSerialize({ immediate_response: { status: { code: 418 } } });
    expect(bytes.toString('hex')).toBe(hex('3a 05', '0a 03', '08 a2 03'));
    expect(Process.responseDeserialize(bytes)).toEqual({
      response: 'immediate_response',
      immediate_response: { status: { code: 418 } },
    });
  });

  it('override_message_timeout is a Duration at field 10; mode_override a ProcessingMode at 9', () => {
    const bytes = loadGrpcDefinitions()
      .externalProcessor.Process.responseSerialize({
        request_headers: {},
        mode_override: { request_body_mode: BodySendMode.BUFFERED },
        override_message_timeout: { seconds: 30 },
      })
      .toString('hex');
    expect(bytes).toBe(hex('0a 00', '4a 02', '18 02', '52 02', '08 1e'));
  });

  // CheckRequest{ attributes{ request{ http{ method POST, headers{content-type: a/b}, path /p?q=1,
  //                                          size 5, raw_body 00 ff } }, context_extensions{route: r1} } }
  const checkRequestHex = hex(
    '0a 3a', //               CheckRequest.attributes = 1, LEN 58
    '22 2b', //                 AttributeContext.request = 4, LEN 43
    '12 29', //                   Request.http = 2, LEN 41
    '12 04', ascii('POST'), //      HttpRequest.method = 2
    '1a 13', //                     HttpRequest.headers = 3 (map entry), LEN 19
    '0a 0c', ascii('content-type'),
    '12 03', ascii('a/b'),
    '22 06', ascii('/p?q=1'), //    HttpRequest.path = 4
    '48 05', //                     HttpRequest.size = 9, varint 5
    '62 02', '00 ff', //            HttpRequest.raw_body = 12, bytes
    '52 0b', //                 AttributeContext.context_extensions = 10 (map entry), LEN 11
    '0a 05', ascii('route'),
    '12 02', ascii('r1'),
  );

  it('CheckRequest.attributes=1 -> request=4 -> http=2 -> raw_body=12 (tag 0x62), headers map=3', () => {
    const obj: CheckRequest = {
      attributes: {
        request: {
          http: {
            method: 'POST',
            headers: { 'content-type': 'a/b' },
            path: '/p?q=1',
            size: 5,
            raw_body: Buffer.from([0x00, 0xff]),
          },
        },
        context_extensions: { route: 'r1' },
      },
    };
    expect(encode('envoy.service.auth.v3.CheckRequest', { ...obj })).toBe(checkRequestHex);

    const decoded: CheckRequest = loadGrpcDefinitions().authorization.Check.requestDeserialize(
      Buffer.from(checkRequestHex, 'hex'),
    );
    expect(decoded).toEqual(obj);
    expect(typeof decoded.attributes?.request?.http?.size).toBe('number');
    expect(Buffer.isBuffer(decoded.attributes?.request?.http?.raw_body)).toBe(true);
  });

  it('HttpRequest.header_map is field 13 (tag 0x6a) and decodes raw values', () => {
    const t = 'envoy.service.auth.v3.AttributeContext.HttpRequest';
    const expected = hex('6a 08', '0a 06', '0a 01', ascii('x'), '1a 01', ascii('y'));
    expect(encode(t, { header_map: { headers: [{ key: 'x', raw_value: Buffer.from('y') }] } })).toBe(expected);
  });

  it('AttributeContext.source.address.socket_address decodes the peer IP and port', () => {
    // AttributeContext.source = 1 { Peer.address = 1 { Address.socket_address = 1 {address = 2, port_value = 3} } }
    const bytes = hex('0a 11', '0a 0f', '0a 0d', '12 08', ascii('10.0.0.1'), '18 b9 60');
    const decoded: CheckRequest = loadGrpcDefinitions().authorization.Check.requestDeserialize(
      Buffer.from(hex('0a 13', bytes), 'hex'),
    );
    expect(decoded.attributes?.source?.address).toEqual({
      address: 'socket_address',
      socket_address: { address: '10.0.0.1', port_value: 12345, port_specifier: 'port_value' },
    });
  });

  // CheckResponse{ status{code 7, message "no"}, denied_response{ status{200},
  //                headers[{content-type: text/plain (value)}], body "hello" } }
  const checkResponseHex = hex(
    '0a 06', //                CheckResponse.status = 1, LEN 6
    '08 07', //                  Status.code = 1
    '12 02', ascii('no'), //     Status.message = 2
    '12 2a', //                CheckResponse.denied_response = 2, LEN 42
    '0a 03', '08 c8 01', //      DeniedHttpResponse.status = 1 { code 200 }
    '12 1c', //                  DeniedHttpResponse.headers = 2, LEN 28
    '0a 1a', //                    HeaderValueOption.header = 1, LEN 26
    '0a 0c', ascii('content-type'),
    '12 0a', ascii('text/plain'), // HeaderValue.value = 2 (string: ext_authz reads value)
    '1a 05', ascii('hello'), //  DeniedHttpResponse.body = 3, a string
  );

  it('CheckResponse.denied_response = 2 and DeniedHttpResponse.body = 3 is a string', () => {
    const obj: CheckResponse = {
      status: { code: 7, message: 'no' },
      denied_response: {
        status: { code: 200 },
        headers: [{ header: { key: 'content-type', value: 'text/plain' } }],
        body: 'hello',
      },
    };
    expect(type('envoy.service.auth.v3.DeniedHttpResponse').fields.body.type).toBe('string');
    expect(encode('envoy.service.auth.v3.CheckResponse', { ...obj })).toBe(checkResponseHex);
    expect(loadGrpcDefinitions().authorization.Check.responseSerialize(obj).toString('hex')).toBe(checkResponseHex);
    const roundTrip: CheckResponse = loadGrpcDefinitions().authorization.Check.responseDeserialize(
      Buffer.from(checkResponseHex, 'hex'),
    );
    expect(roundTrip).toEqual({ ...obj, http_response: 'denied_response' });
  });

  it('CheckResponse ok_response and dynamic_metadata', () => {
    const obj: CheckResponse = {
      status: {},
      ok_response: { headers_to_remove: ['authorization'] },
      dynamic_metadata: { fields: { a: { boolValue: true } } },
    };
    // status = 1 LEN 0; ok_response = 3 { headers_to_remove = 5 }; dynamic_metadata = 4 { fields{a: bool} }
    expect(loadGrpcDefinitions().authorization.Check.responseSerialize(obj).toString('hex')).toBe(
      hex('0a 00', '1a 0f', '2a 0d', ascii('authorization'), '22 09', '0a 07', '0a 01', ascii('a'), '12 02', '20 01'),
    );
  });

  it('HealthCheckResponse SERVING is 08 01', () => {
    const { Check, Watch } = loadGrpcDefinitions().health;
    const serving: HealthCheckResponse = { status: ServingStatus.SERVING };
    expect(Check.responseSerialize(serving).toString('hex')).toBe('0801');
    expect(Watch.responseSerialize({ status: ServingStatus.SERVICE_UNKNOWN }).toString('hex')).toBe('0803');
    expect(Check.requestDeserialize(Buffer.from(hex('0a 03', ascii('abc')), 'hex'))).toEqual({ service: 'abc' });
  });
});

describe('loadGrpcDefinitions()', () => {
  it('finds <repo>/proto from the module location', () => {
    expect(resolveProtoDir()).toBe(PROTO_DIR);
    expect(loadGrpcDefinitions().protoDir).toBe(PROTO_DIR);
  });

  it('loads once and returns the same definitions', () => {
    expect(loadGrpcDefinitions()).toBe(loadGrpcDefinitions());
  });

  it('exposes the exact wire method paths and streaming flags', () => {
    const defs = loadGrpcDefinitions();
    const shape = (m: { path: string; requestStream: boolean; responseStream: boolean }): [string, boolean, boolean] => [
      m.path,
      m.requestStream,
      m.responseStream,
    ];
    expect({
      externalProcessor: Object.values(defs.externalProcessor).map(shape),
      authorization: Object.values(defs.authorization).map(shape),
      health: Object.values(defs.health).map(shape),
    }).toEqual({
      externalProcessor: [['/envoy.service.ext_proc.v3.ExternalProcessor/Process', true, true]],
      authorization: [['/envoy.service.auth.v3.Authorization/Check', false, false]],
      health: [
        ['/grpc.health.v1.Health/Check', false, false],
        ['/grpc.health.v1.Health/Watch', false, true],
      ],
    });
    expect(Object.values(METHOD_PATHS).sort()).toEqual(
      [...Object.values(defs.externalProcessor), ...Object.values(defs.authorization), ...Object.values(defs.health)]
        .map((m) => m.path)
        .sort(),
    );
  });
});

describe('the definitions serve real gRPC calls (grpc-js server and client)', () => {
  let server: grpc.Server;
  let client: grpc.Client;

  beforeAll(async () => {
    const defs = loadGrpcDefinitions();
    server = new grpc.Server();
    const extProc: ExternalProcessorHandlers = {
      Process(call) {
        call.on('data', (msg: ProcessingRequest) => {
          if (msg.request === 'request_headers') {
            const method = msg.request_headers.headers?.headers?.find((h) => h.key === ':method');
            call.write({
              immediate_response: {
                status: { code: 201 },
                body: Buffer.concat([Buffer.from('method='), method?.raw_value ?? Buffer.alloc(0)]),
              },
            });
          }
        });
        call.on('end', () => call.end());
      },
    };
    const health: HealthHandlers = {
      Check(_call, callback) {
        callback(null, { status: ServingStatus.SERVING });
      },
      Watch(call) {
        call.write({ status: ServingStatus.SERVING });
        call.end();
      },
    };
    server.addService(defs.externalProcessor, extProc);
    server.addService(defs.health, health);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('ExternalProcessor/Process: a bidi stream answers request_headers', async () => {
    const { Process } = loadGrpcDefinitions().externalProcessor;
    const stream = client.makeBidiStreamRequest(Process.path, Process.requestSerialize, Process.responseDeserialize);
    const answers: ProcessingResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (r: ProcessingResponse) => answers.push(r));
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    stream.write({
      request: 'request_headers',
      request_headers: { headers: { headers: [{ key: ':method', raw_value: Buffer.from('GET') }] }, end_of_stream: true },
    });
    stream.end();
    await done;
    expect(answers).toEqual([
      {
        response: 'immediate_response',
        immediate_response: { status: { code: 201 }, body: Buffer.from('method=GET') },
      },
    ]);
  });

  it('grpc.health.v1.Health/Check answers SERVING', async () => {
    const { Check } = loadGrpcDefinitions().health;
    const reply = await new Promise<HealthCheckResponse>((resolve, reject) => {
      client.makeUnaryRequest(Check.path, Check.requestSerialize, Check.responseDeserialize, {}, (err, value) =>
        err || !value ? reject(err ?? new Error('no value')) : resolve(value),
      );
    });
    expect(reply).toEqual({ status: ServingStatus.SERVING });
  });
});

// Compile-time checks (enforced by `tsc -p tsconfig.json`, which includes test/).
export const typeChecks: ProcessingResponse[] = [
  { request_headers: {} },
  { response: 'immediate_response', immediate_response: { status: { code: 404 }, body: Buffer.from('x') } },
  // @ts-expect-error at most one case of the oneof `response`
  { request_headers: {}, immediate_response: {} },
  // @ts-expect-error exactly one case is required
  { dynamic_metadata: {} },
  // @ts-expect-error bytes fields take a Buffer: a string would be read as base64
  { immediate_response: { body: 'text' } },
  // Any HTTP status, including ones Envoy's StatusCode enum does not name (proto3 enums are open).
  { immediate_response: { status: { code: 418 } } },
];

export const checkResponseTypeChecks: CheckResponse[] = [
  { status: { code: 0 } },
  { status: { code: 0 }, ok_response: {} },
  { status: { code: 7 }, http_response: 'denied_response', denied_response: { status: { code: 299 }, body: 'text' } },
  // @ts-expect-error at most one case of the oneof `http_response`
  { ok_response: {}, denied_response: {} },
];

/** A decoded oneof narrows on its virtual field to a present case. */
export function typeCheckNarrowing(msg: ProcessingRequest): boolean | undefined {
  if (msg.request === 'request_body') return msg.request_body.end_of_stream;
  // @ts-expect-error the other cases are absent once `request` names one
  if (msg.request === 'request_headers') return msg.request_body.end_of_stream;
  return undefined;
}

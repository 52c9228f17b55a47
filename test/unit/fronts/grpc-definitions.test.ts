import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Root, Type } from 'protobufjs';
import {
  BodySendMode,
  CheckRequest,
  CheckResponse,
  CommonResponseStatus,
  ExternalProcessorHandlers,
  HeaderSendMode,
  HealthHandlers,
  HealthCheckResponse,
  METHOD_PATHS,
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  ProcessingRequest,
  ProcessingResponse,
  ServingStatus,
  jsonToProtoStruct,
  loadGrpcDefinitions,
  protoStructToJson,
  resolveProtoDir,
} from '../../../src/fronts/grpc-definitions';

const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

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

describe('proto files: field numbers and wire types match upstream Envoy / gRPC', () => {
  // [message, field, number, proto type, repeated/map]
  const table: Array<[string, string, number, string, ('repeated' | 'map')?]> = [
    ['envoy.config.core.v3.HeaderValue', 'key', 1, 'string'],
    ['envoy.config.core.v3.HeaderValue', 'value', 2, 'string'],
    ['envoy.config.core.v3.HeaderValue', 'raw_value', 3, 'bytes'],
    ['envoy.config.core.v3.HeaderValueOption', 'header', 1, 'HeaderValue'],
    ['envoy.config.core.v3.HeaderValueOption', 'append', 2, 'google.protobuf.BoolValue'],
    ['envoy.config.core.v3.HeaderValueOption', 'append_action', 3, 'HeaderAppendAction'],
    ['envoy.config.core.v3.HeaderValueOption', 'keep_empty_value', 4, 'bool'],
    ['envoy.config.core.v3.HeaderMap', 'headers', 1, 'HeaderValue', 'repeated'],
    ['envoy.config.core.v3.Metadata', 'filter_metadata', 1, 'google.protobuf.Struct', 'map'],
    ['envoy.config.core.v3.Address', 'socket_address', 1, 'SocketAddress'],
    ['envoy.config.core.v3.SocketAddress', 'address', 2, 'string'],
    ['envoy.config.core.v3.SocketAddress', 'port_value', 3, 'uint32'],
    ['envoy.type.v3.HttpStatus', 'code', 1, 'StatusCode'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'request_headers', 2, 'HttpHeaders'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'response_headers', 3, 'HttpHeaders'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'request_body', 4, 'HttpBody'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'response_body', 5, 'HttpBody'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'request_trailers', 6, 'HttpTrailers'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'response_trailers', 7, 'HttpTrailers'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'metadata_context', 8, 'envoy.config.core.v3.Metadata'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'attributes', 9, 'google.protobuf.Struct', 'map'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'observability_mode', 10, 'bool'],
    ['envoy.service.ext_proc.v3.ProcessingRequest', 'protocol_config', 11, 'ProtocolConfiguration'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'request_headers', 1, 'HeadersResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'response_headers', 2, 'HeadersResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'request_body', 3, 'BodyResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'response_body', 4, 'BodyResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'request_trailers', 5, 'TrailersResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'response_trailers', 6, 'TrailersResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'immediate_response', 7, 'ImmediateResponse'],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'dynamic_metadata', 8, 'google.protobuf.Struct'],
    [
      'envoy.service.ext_proc.v3.ProcessingResponse',
      'mode_override',
      9,
      'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode',
    ],
    ['envoy.service.ext_proc.v3.ProcessingResponse', 'override_message_timeout', 10, 'google.protobuf.Duration'],
    ['envoy.service.ext_proc.v3.HttpHeaders', 'headers', 1, 'envoy.config.core.v3.HeaderMap'],
    ['envoy.service.ext_proc.v3.HttpHeaders', 'end_of_stream', 3, 'bool'],
    ['envoy.service.ext_proc.v3.HttpBody', 'body', 1, 'bytes'],
    ['envoy.service.ext_proc.v3.HttpBody', 'end_of_stream', 2, 'bool'],
    ['envoy.service.ext_proc.v3.HttpTrailers', 'trailers', 1, 'envoy.config.core.v3.HeaderMap'],
    ['envoy.service.ext_proc.v3.HeadersResponse', 'response', 1, 'CommonResponse'],
    ['envoy.service.ext_proc.v3.BodyResponse', 'response', 1, 'CommonResponse'],
    ['envoy.service.ext_proc.v3.TrailersResponse', 'header_mutation', 1, 'HeaderMutation'],
    ['envoy.service.ext_proc.v3.CommonResponse', 'status', 1, 'ResponseStatus'],
    ['envoy.service.ext_proc.v3.CommonResponse', 'header_mutation', 2, 'HeaderMutation'],
    ['envoy.service.ext_proc.v3.CommonResponse', 'body_mutation', 3, 'BodyMutation'],
    ['envoy.service.ext_proc.v3.CommonResponse', 'trailers', 4, 'envoy.config.core.v3.HeaderMap'],
    ['envoy.service.ext_proc.v3.CommonResponse', 'clear_route_cache', 5, 'bool'],
    ['envoy.service.ext_proc.v3.ImmediateResponse', 'status', 1, 'envoy.type.v3.HttpStatus'],
    ['envoy.service.ext_proc.v3.ImmediateResponse', 'headers', 2, 'HeaderMutation'],
    ['envoy.service.ext_proc.v3.ImmediateResponse', 'body', 3, 'bytes'],
    ['envoy.service.ext_proc.v3.ImmediateResponse', 'grpc_status', 4, 'GrpcStatus'],
    ['envoy.service.ext_proc.v3.ImmediateResponse', 'details', 5, 'string'],
    ['envoy.service.ext_proc.v3.GrpcStatus', 'status', 1, 'uint32'],
    [
      'envoy.service.ext_proc.v3.HeaderMutation',
      'set_headers',
      1,
      'envoy.config.core.v3.HeaderValueOption',
      'repeated',
    ],
    ['envoy.service.ext_proc.v3.HeaderMutation', 'remove_headers', 2, 'string', 'repeated'],
    ['envoy.service.ext_proc.v3.BodyMutation', 'body', 1, 'bytes'],
    ['envoy.service.ext_proc.v3.BodyMutation', 'clear_body', 2, 'bool'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'request_header_mode', 1, 'HeaderSendMode'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'response_header_mode', 2, 'HeaderSendMode'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'request_body_mode', 3, 'BodySendMode'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'response_body_mode', 4, 'BodySendMode'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'request_trailer_mode', 5, 'HeaderSendMode'],
    ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', 'response_trailer_mode', 6, 'HeaderSendMode'],
    ['envoy.service.auth.v3.CheckRequest', 'attributes', 1, 'AttributeContext'],
    ['envoy.service.auth.v3.AttributeContext', 'source', 1, 'Peer'],
    ['envoy.service.auth.v3.AttributeContext', 'destination', 2, 'Peer'],
    ['envoy.service.auth.v3.AttributeContext', 'request', 4, 'Request'],
    ['envoy.service.auth.v3.AttributeContext', 'context_extensions', 10, 'string', 'map'],
    ['envoy.service.auth.v3.AttributeContext', 'metadata_context', 11, 'envoy.config.core.v3.Metadata'],
    ['envoy.service.auth.v3.AttributeContext', 'route_metadata_context', 13, 'envoy.config.core.v3.Metadata'],
    ['envoy.service.auth.v3.AttributeContext.Peer', 'address', 1, 'envoy.config.core.v3.Address'],
    ['envoy.service.auth.v3.AttributeContext.Request', 'time', 1, 'google.protobuf.Timestamp'],
    ['envoy.service.auth.v3.AttributeContext.Request', 'http', 2, 'HttpRequest'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'id', 1, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'method', 2, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'headers', 3, 'string', 'map'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'path', 4, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'host', 5, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'scheme', 6, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'size', 9, 'int64'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'protocol', 10, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'body', 11, 'string'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'raw_body', 12, 'bytes'],
    ['envoy.service.auth.v3.AttributeContext.HttpRequest', 'header_map', 13, 'envoy.config.core.v3.HeaderMap'],
    ['envoy.service.auth.v3.CheckResponse', 'status', 1, 'google.rpc.Status'],
    ['envoy.service.auth.v3.CheckResponse', 'denied_response', 2, 'DeniedHttpResponse'],
    ['envoy.service.auth.v3.CheckResponse', 'ok_response', 3, 'OkHttpResponse'],
    ['envoy.service.auth.v3.CheckResponse', 'dynamic_metadata', 4, 'google.protobuf.Struct'],
    ['envoy.service.auth.v3.DeniedHttpResponse', 'status', 1, 'envoy.type.v3.HttpStatus'],
    [
      'envoy.service.auth.v3.DeniedHttpResponse',
      'headers',
      2,
      'envoy.config.core.v3.HeaderValueOption',
      'repeated',
    ],
    ['envoy.service.auth.v3.DeniedHttpResponse', 'body', 3, 'string'],
    ['envoy.service.auth.v3.OkHttpResponse', 'headers', 2, 'envoy.config.core.v3.HeaderValueOption', 'repeated'],
    ['envoy.service.auth.v3.OkHttpResponse', 'headers_to_remove', 5, 'string', 'repeated'],
    [
      'envoy.service.auth.v3.OkHttpResponse',
      'response_headers_to_add',
      6,
      'envoy.config.core.v3.HeaderValueOption',
      'repeated',
    ],
    ['google.rpc.Status', 'code', 1, 'int32'],
    ['google.rpc.Status', 'message', 2, 'string'],
    ['google.rpc.Status', 'details', 3, 'google.protobuf.Any', 'repeated'],
    ['grpc.health.v1.HealthCheckRequest', 'service', 1, 'string'],
    ['grpc.health.v1.HealthCheckResponse', 'status', 1, 'ServingStatus'],
  ];

  // Rest parameters: rows have 4 or 5 items, and a callback declaring more parameters than a row
  // has items would make Jest treat the last one as a `done` callback and wait for it.
  it.each(table)('%s.%s = %i (%s)', (...row) => {
    const [message, fieldName, id, protoType, label] = row;
    const field = type(message).fields[fieldName];
    // Compare plain values only: protobufjs reflection objects are huge cyclic graphs.
    const actual = field
      ? { id: field.id, type: field.type, repeated: field.repeated, map: field.map }
      : `no field ${fieldName}`;
    expect(actual).toEqual({ id, type: protoType, repeated: label === 'repeated', map: label === 'map' });
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

  it('enum values match upstream', () => {
    const e = (name: string): Record<string, number> => root.lookupEnum(name).values;
    expect(e('envoy.service.ext_proc.v3.CommonResponse.ResponseStatus')).toEqual(CommonResponseStatus);
    expect(e('envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode')).toEqual(HeaderSendMode);
    expect(e('envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode')).toEqual(BodySendMode);
    expect(e('grpc.health.v1.HealthCheckResponse.ServingStatus')).toEqual(ServingStatus);
    expect(e('envoy.config.core.v3.HeaderValueOption.HeaderAppendAction')).toEqual({
      APPEND_IF_EXISTS_OR_ADD: 0,
      ADD_IF_ABSENT: 1,
      OVERWRITE_IF_EXISTS_OR_ADD: 2,
      OVERWRITE_IF_EXISTS: 3,
    });
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
    expect(Buffer.isBuffer(decoded.request_headers?.headers?.headers?.[0].raw_value)).toBe(true);
    if (decoded.request !== 'request_headers') throw new Error('oneof case not named');
    expect(decoded.request_headers.end_of_stream).toBe(true);
    expect(protoStructToJson(decoded.attributes?.['envoy.filters.http.ext_proc'])).toEqual({
      'xds.route_name': 'r1',
    });

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
      dynamic_metadata: jsonToProtoStruct({ a: true }),
    };
    // status = 1 LEN 0; ok_response = 3 { headers_to_remove = 5 }; dynamic_metadata = 4 { fields{a: bool} }
    expect(loadGrpcDefinitions().authorization.Check.responseSerialize(obj).toString('hex')).toBe(
      hex('0a 00', '1a 0f', '2a 0d', ascii('authorization'), '22 09', '0a 07', '0a 01', ascii('a'), '12 02', '20 01'),
    );
  });

  it('google.protobuf.Struct helpers round-trip through the wire', () => {
    const json = { s: 'x', n: 1.5, b: false, z: null, l: [1, 'two'], o: { k: 'v' } };
    const T = type('google.protobuf.Struct');
    const wire = T.encode(T.fromObject(jsonToProtoStruct(json))).finish();
    const back = T.toObject(T.decode(wire), { oneofs: true });
    expect(protoStructToJson(back)).toEqual(json);
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
    const process = defs.externalProcessor.Process;
    expect(process.path).toBe('/envoy.service.ext_proc.v3.ExternalProcessor/Process');
    expect(process.requestStream).toBe(true);
    expect(process.responseStream).toBe(true);

    expect(defs.authorization.Check.path).toBe('/envoy.service.auth.v3.Authorization/Check');
    expect(defs.authorization.Check.requestStream).toBe(false);
    expect(defs.authorization.Check.responseStream).toBe(false);

    expect(defs.health.Check.path).toBe('/grpc.health.v1.Health/Check');
    expect(defs.health.Check.requestStream).toBe(false);
    expect(defs.health.Check.responseStream).toBe(false);
    expect(defs.health.Watch.path).toBe('/grpc.health.v1.Health/Watch');
    expect(defs.health.Watch.requestStream).toBe(false);
    expect(defs.health.Watch.responseStream).toBe(true);

    expect(Object.keys(defs.externalProcessor)).toEqual(['Process']);
    expect(Object.keys(defs.authorization)).toEqual(['Check']);
    expect(Object.keys(defs.health).sort()).toEqual(['Check', 'Watch']);
    expect(Object.values(METHOD_PATHS).sort()).toEqual(
      [process.path, defs.authorization.Check.path, defs.health.Check.path, defs.health.Watch.path].sort(),
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
];

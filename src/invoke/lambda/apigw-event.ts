/**
 * API Gateway proxy events built from a neutral request, field for field as API Gateway builds
 * them, so a function written for API Gateway (or a function URL) runs unchanged behind us:
 *
 * - payload format 2.0 (HTTP API, function URLs):
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 * - payload format 1.0 (REST API proxy integration, HTTP API 1.0):
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 *
 * Request strings are latin1 byte strings (lambda-request.ts); events carry text, so path, query
 * and header bytes are read as UTF-8 (invalid sequences become U+FFFD, as in any JSON encoder).
 * Header names are lower-case (our fronts receive them so; HTTP/2 and Envoy lower-case them too),
 * where a REST API would keep the client's case. `path` / `rawPath` / `http.path` are the path as
 * the client sent it (percent-encoding kept, so `%2F` stays distinguishable from `/`).
 */
import { isUtf8 } from 'node:buffer';
import type { ClientRequest } from '../client-request';

/** `requestContext.accountId` when the route names none: AWS's documentation placeholder. */
export const DEFAULT_EVENT_ACCOUNT_ID = '123456789012';
/** `requestContext.apiId` (and `domainPrefix` when the host has no dot): there is no API Gateway. */
export const DEFAULT_EVENT_API_ID = 'aws-lambda-sidecar';
/** Stage of both formats: an HTTP API's default stage. */
export const EVENT_STAGE = '$default';
/** Route key of format 2.0: the HTTP API catch-all route. */
export const EVENT_ROUTE_KEY = '$default';

/** What an event needs besides the request, decided by the caller per request. */
export interface EventContext {
  /** The forwarded rest of the path for a route `uri` ending in `*` (`pathParameters.proxy`); undefined otherwise. */
  readonly rest?: string;
  /** The client's IP address ('' when unknown, e.g. no `source.address` from Envoy). */
  readonly sourceIp: string;
  /** The client's protocol, e.g. `HTTP/1.1`, `HTTP/2.0`. */
  readonly protocol: string;
  /** The request id (`x-request-id` or a fresh UUID): `requestContext.requestId`. */
  readonly requestId: string;
  /** The time the request arrived, ms since the epoch (injectable for tests). */
  readonly nowMs: number;
  /** Default DEFAULT_EVENT_ACCOUNT_ID; the function's account when its ARN names one. */
  readonly accountId?: string;
  /** Default DEFAULT_EVENT_API_ID. */
  readonly apiId?: string;
  /** Format 1.0 `resource` / `requestContext.resourcePath`; default `/{proxy+}` with a rest, else the path. */
  readonly resource?: string;
}

export interface ApiGatewayV2Event {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  pathParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

export interface ApiGatewayV1Event {
  version: '1.0';
  resource: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string> | null;
  multiValueHeaders: Record<string, string[]> | null;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: Record<string, string[]> | null;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    extendedRequestId: string;
    httpMethod: string;
    identity: Record<string, string | null>;
    path: string;
    protocol: string;
    requestId: string;
    requestTime: string;
    requestTimeEpoch: number;
    resourceId: null;
    resourcePath: string;
    stage: string;
  };
  pathParameters: Record<string, string> | null;
  stageVariables: null;
  body: string | null;
  isBase64Encoded: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** API Gateway's `$context.requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000` (CLF), always UTC. */
export function apiGatewayTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
}

/** Latin1 byte string → the text its bytes spell in UTF-8. */
function text(bytes: string): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes.charCodeAt(i) > 0x7f) return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return bytes;
}

const TEXTUAL_APPLICATION_TYPES: ReadonlySet<string> = new Set([
  'application/json', 'application/xml', 'application/x-www-form-urlencoded', 'application/javascript',
  'application/ecmascript', 'application/x-javascript',
]);

/** Whether a body of this content type is passed as text (given valid UTF-8) rather than base64. */
export function isTextualContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type.startsWith('text/') || TEXTUAL_APPLICATION_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

/** `body` and `isBase64Encoded`: text for textual types with valid UTF-8 bytes, base64 otherwise. */
export function eventBody(body: Buffer | null, contentType: string | undefined): { body: string | null; isBase64Encoded: boolean } {
  if (body === null || body.length === 0) return { body: null, isBase64Encoded: false };
  if (isTextualContentType(contentType) && isUtf8(body)) return { body: body.toString('utf8'), isBase64Encoded: false };
  return { body: body.toString('base64'), isBase64Encoded: true };
}

/** Percent-decoding of a query name or value, `+` as a space (as browsers' forms send it). */
function decodeQueryComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  if (plus.indexOf('%') === -1) return text(plus);
  // Decode %XX to bytes, then read the bytes as UTF-8; a stray `%` stays as it is.
  const bytes = plus.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return text(bytes);
}

/** The query's parameters in order, decoded; `flag` (no `=`) has the value ''. */
function queryPairs(query: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(eq === -1 ? [decodeQueryComponent(part), ''] : [decodeQueryComponent(part.slice(0, eq)), decodeQueryComponent(part.slice(eq + 1))]);
  }
  return out;
}

function grouped(pairs: ReadonlyArray<readonly [string, string]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of pairs) {
    const values = out.get(name);
    if (values === undefined) out.set(name, [value]);
    else values.push(value);
  }
  return out;
}

function firstHeader(request: ClientRequest, name: string): string | undefined {
  for (const [n, v] of request.headers) if (n === name) return v;
  return undefined;
}

/** The request's cookies: every `cookie` header split on `;`, each trimmed (format 2.0 `cookies`). */
function requestCookies(request: ClientRequest): string[] {
  const out: string[] = [];
  for (const [name, value] of request.headers) {
    if (name !== 'cookie') continue;
    for (const c of value.split(';')) {
      const cookie = c.trim();
      if (cookie !== '') out.push(text(cookie));
    }
  }
  return out;
}

/**
 * `domainName`: the client's host without its port; `domainPrefix`: its first label (the whole
 * name for an IP address or a single label, the apiId when there is no host).
 */
function domain(request: ClientRequest, apiId: string): { domainName: string; domainPrefix: string } {
  const host = text(request.host === '' ? (firstHeader(request, 'host') ?? '') : request.host);
  const domainName = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  if (domainName === '') return { domainName, domainPrefix: apiId };
  const dot = domainName.indexOf('.');
  const isIp = domainName.startsWith('[') || /^[\d.]+$/.test(domainName);
  return { domainName, domainPrefix: dot > 0 && !isIp ? domainName.slice(0, dot) : domainName };
}

/** Headers as a v2 event has them: repeats comma-joined, `cookie` left to `cookies`; `host` from the authority. */
function eventHeaderPairs(request: ClientRequest): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let sawHost = false;
  for (const [name, value] of request.headers) {
    if (name === 'host') sawHost = true;
    pairs.push([name, text(value)]);
  }
  // HTTP/2 clients and ext_proc carry the authority as :authority, not as a host header.
  if (!sawHost && request.host !== '') pairs.unshift(['host', text(request.host)]);
  return pairs;
}

/** A payload format 2.0 event (HTTP API / function URL). */
export function buildApiGatewayV2Event(request: ClientRequest, context: EventContext): ApiGatewayV2Event {
  const apiId = context.apiId ?? DEFAULT_EVENT_API_ID;
  const headers: Record<string, string> = {};
  for (const [name, values] of grouped(eventHeaderPairs(request).filter(([n]) => n !== 'cookie'))) headers[name] = values.join(',');
  const path = text(request.path);
  const event: ApiGatewayV2Event = {
    version: '2.0',
    routeKey: EVENT_ROUTE_KEY,
    rawPath: path,
    rawQueryString: text(request.query),
    headers,
    requestContext: {
      accountId: context.accountId ?? DEFAULT_EVENT_ACCOUNT_ID,
      apiId,
      ...domain(request, apiId),
      http: {
        method: request.method,
        path,
        protocol: context.protocol,
        sourceIp: context.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: context.requestId,
      routeKey: EVENT_ROUTE_KEY,
      stage: EVENT_STAGE,
      time: apiGatewayTime(context.nowMs),
      timeEpoch: context.nowMs,
    },
    isBase64Encoded: false,
  };
  const cookies = requestCookies(request);
  if (cookies.length > 0) event.cookies = cookies;
  const query = queryPairs(request.query);
  if (query.length > 0) {
    const params: Record<string, string> = {};
    for (const [name, values] of grouped(query)) params[name] = values.join(',');
    event.queryStringParameters = params;
  }
  if (context.rest !== undefined) event.pathParameters = { proxy: text(context.rest) };
  const body = eventBody(request.body, firstHeader(request, 'content-type'));
  if (body.body !== null) event.body = body.body;
  event.isBase64Encoded = body.isBase64Encoded;
  return event;
}

/** Format 1.0's single-value view: the last value of each name (as API Gateway does). */
function lastValues(groups: Map<string, string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of groups) out[name] = values[values.length - 1] ?? '';
  return out;
}

function multiValues(groups: Map<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of groups) out[name] = values;
  return out;
}

/** Format 1.0's `requestContext.identity` without an authorizer: everything null but IP and agent. */
function identity(sourceIp: string, userAgent: string): Record<string, string | null> {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    caller: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp,
    user: null,
    userAgent,
    userArn: null,
  };
}

/** A payload format 1.0 event (REST API proxy integration). */
export function buildApiGatewayV1Event(request: ClientRequest, context: EventContext): ApiGatewayV1Event {
  const apiId = context.apiId ?? DEFAULT_EVENT_API_ID;
  const headerGroups = grouped(eventHeaderPairs(request));
  const queryGroups = grouped(queryPairs(request.query));
  const path = text(request.path);
  const resource = context.resource ?? (context.rest !== undefined ? '/{proxy+}' : path);
  const userAgent = headerGroups.get('user-agent')?.at(-1) ?? '';
  const body = eventBody(request.body, firstHeader(request, 'content-type'));
  return {
    version: '1.0',
    resource,
    path,
    httpMethod: request.method,
    headers: headerGroups.size === 0 ? null : lastValues(headerGroups),
    multiValueHeaders: headerGroups.size === 0 ? null : multiValues(headerGroups),
    queryStringParameters: queryGroups.size === 0 ? null : lastValues(queryGroups),
    multiValueQueryStringParameters: queryGroups.size === 0 ? null : multiValues(queryGroups),
    requestContext: {
      accountId: context.accountId ?? DEFAULT_EVENT_ACCOUNT_ID,
      apiId,
      ...domain(request, apiId),
      extendedRequestId: context.requestId,
      httpMethod: request.method,
      identity: identity(context.sourceIp, userAgent),
      path,
      protocol: context.protocol,
      requestId: context.requestId,
      requestTime: apiGatewayTime(context.nowMs),
      requestTimeEpoch: context.nowMs,
      resourceId: null,
      resourcePath: resource,
      stage: EVENT_STAGE,
    },
    pathParameters: context.rest !== undefined ? { proxy: text(context.rest) } : null,
    stageVariables: null,
    body: body.body,
    isBase64Encoded: body.isBase64Encoded,
  };
}

/** Format `raw`: the request body is the payload unchanged, `{}` when empty. */
export function rawPayload(request: ClientRequest): Buffer {
  return request.body === null || request.body.length === 0 ? Buffer.from('{}') : request.body;
}

export type EventFormat = 'apigw_v2' | 'apigw_v1' | 'raw';

/** The Invoke API payload for a request in the route's event format. */
export function buildInvokePayload(format: EventFormat, request: ClientRequest, context: EventContext): Buffer {
  switch (format) {
    case 'apigw_v2':
      return Buffer.from(JSON.stringify(buildApiGatewayV2Event(request, context)));
    case 'apigw_v1':
      return Buffer.from(JSON.stringify(buildApiGatewayV1Event(request, context)));
    case 'raw':
      return rawPayload(request);
  }
}

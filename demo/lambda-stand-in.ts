// A local stand-in for API Gateway in front of a Lambda function, for tests and the demo (AWS is not
// reachable). It enforces x-api-key and SigV4 like API Gateway and answers with a scriptable
// "function" driven by x-stand-in-* request headers.
//
// SigV4 is verified with the AWS SDK's own signer (@smithy/signature-v4), never with ours, so a
// green test means the sidecar agrees with an independent implementation on the exact wire bytes.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4, getCanonicalHeaders, getPayloadHash } from '@smithy/signature-v4';
import { generateTlsMaterial } from './tls';

export interface StandInOptions {
  /** HTTPS when set, plain HTTP otherwise. */
  tls?: { cert: string; key: string };
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** When set, require header x-api-key === apiKey. */
  apiKey?: string;
  /**
   * When set, require a valid SigV4 Authorization header: by one fixed key, or (`issuedKeys`) by any
   * key the AWS stand-ins issued, with its session token, unexpired (test/support/aws/issued-keys.ts).
   */
  iam?: { accessKeyId: string; secretAccessKey: string; region: string; service: string } | { issuedKeys: IssuedKeyChecker; region: string; service: string };
}

/** The shape of IssuedKeys.check (test/support/aws), so the demo does not import test code. */
export interface IssuedKeyChecker {
  check(
    accessKeyId: string,
    sessionToken: string | undefined,
    nowMs?: number,
  ): { readonly ok: true; readonly credentials: { readonly secretAccessKey: string } } | { readonly ok: false; readonly code: string; readonly message: string };
}

export interface ReceivedRequest {
  method: string;
  /** The path as it arrived on the wire, still percent-encoded. */
  rawPath: string;
  /** Everything after the first `?`, as it arrived (no `?`). */
  rawQuery: string;
  /** Raw order from req.rawHeaders, names lower-cased, duplicates kept. */
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface StandIn {
  /** e.g. https://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Every request that reached the server, rejected ones included; the last MAX_RECEIVED_REQUESTS. */
  received: ReceivedRequest[];
  close(): Promise<void>;
}

export const MAX_RECEIVED_REQUESTS = 200;
const DEFAULT_HOST = '127.0.0.1';
// Longer than the usual 60 s idle timeouts of clients/proxies, so the client closes idle sockets
// first and never writes into one we are closing (the classic keep-alive race).
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const HEADERS_TIMEOUT_MS = KEEP_ALIVE_TIMEOUT_MS + 1_000;
// AWS refuses requests whose x-amz-date is more than 5 minutes away from its clock.
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_DELAY_MS = 10 * 60 * 1000;
const MAX_COOKIES = 1000;
const MAX_BINARY_BYTES = 256 * 1024 * 1024;
const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const MALFORMED_PERCENT_PATTERN = /%(?![0-9A-Fa-f]{2})/;

/** What the "function" answers when auth passes. */
interface FunctionResponse {
  status: number;
  headers: Array<[string, string | string[]]>;
  body: Buffer;
}

interface Rejection {
  status: number;
  errorType: string;
  payload: Record<string, string>;
}

/**
 * Parses a raw query string the way a SigV4 verifier must: split on `&`, then on the first `=`,
 * percent-decode each side. A literal `+` stays `+` (it is not a space: that is form encoding,
 * not RFC 3986). Repeated keys become arrays in received order; `flag` becomes `flag: ""`.
 * Throws on malformed percent-encoding.
 */
export function parseRawQuery(raw: string): Record<string, string | string[]> {
  // Null prototype: keys such as `__proto__` or `constructor` must be plain data.
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  if (raw === '') return query;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const key = decodeQueryComponent(rawKey);
    const value = decodeQueryComponent(rawValue);
    const previous = query[key];
    if (previous === undefined) query[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[key] = [previous, value];
  }
  return query;
}

function decodeQueryComponent(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw new Error(`malformed percent-encoding in query component ${JSON.stringify(component)}`);
  }
}

/** smithy's request interface (from @smithy/types, which is not our direct dependency). */
type SignableRequest = Parameters<typeof getCanonicalHeaders>[0];

/** Exposes smithy's own canonical request and string to sign, for the mismatch diagnostics. */
class InspectableSignatureV4 extends SignatureV4 {
  explainCanonicalRequest(request: SignableRequest, canonicalHeaders: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
  }

  explainStringToSign(longDate: string, scope: string, canonicalRequest: string): Promise<string> {
    return this.createStringToSign(longDate, scope, canonicalRequest, SIGV4_ALGORITHM);
  }
}

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  scopeRegion: string;
  scopeService: string;
  credential: string;
  signedHeaders: string[];
  signature: string;
}

/** Returns the parsed header, or an AWS-like message naming what is missing. */
function parseAuthorization(value: string): ParsedAuthorization | string {
  const spaceAt = value.indexOf(' ');
  const algorithm = spaceAt === -1 ? value : value.slice(0, spaceAt);
  if (algorithm !== SIGV4_ALGORITHM) {
    return `Authorization header algorithm must be ${SIGV4_ALGORITHM}, got ${JSON.stringify(algorithm)}`;
  }
  const params = new Map<string, string>();
  for (const part of value.slice(spaceAt + 1).split(',')) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf('=');
    if (eq === -1) {
      return `Invalid key=value pair (missing equal-sign) in Authorization header: ${JSON.stringify(trimmed)}`;
    }
    params.set(trimmed.slice(0, eq), trimmed.slice(eq + 1));
  }
  const credential = params.get('Credential');
  const signedHeaders = params.get('SignedHeaders');
  const signature = params.get('Signature');
  const missing = [
    credential === undefined ? "Authorization header requires 'Credential' parameter." : '',
    signedHeaders === undefined ? "Authorization header requires 'SignedHeaders' parameter." : '',
    signature === undefined ? "Authorization header requires 'Signature' parameter." : '',
  ].filter((m) => m !== '');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return missing.join(' ');
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    return `Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request, got ${JSON.stringify(credential)}`;
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    return 'Signature must be 64 lower-case hex digits';
  }
  const [accessKeyId = '', scopeDate = '', scopeRegion = '', scopeService = ''] = scope;
  return {
    accessKeyId,
    scopeDate,
    scopeRegion,
    scopeService,
    credential,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE_PATTERN.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls over out-of-range fields (month 13, second 61): reject instead.
  return formatAmzDate(date) === value ? date : undefined;
}

function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function headerValues(headers: ReadonlyArray<[string, string]>, name: string): string[] {
  return headers.filter(([k]) => k === name).map(([, v]) => v);
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function forbidden(errorType: string, message: string, extra: Record<string, string> = {}): Rejection {
  return { status: 403, errorType, payload: { message, ...extra } };
}

async function verifySigV4(
  iam: NonNullable<StandInOptions['iam']>,
  request: ReceivedRequest,
  secure: boolean,
  nowMs: number,
): Promise<Rejection | undefined> {
  const authorizations = headerValues(request.headers, 'authorization');
  const authorization = authorizations[0];
  if (authorization === undefined) {
    return forbidden('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  if (authorizations.length > 1) {
    return forbidden('IncompleteSignatureException', 'More than one Authorization header');
  }
  const parsed = parseAuthorization(authorization);
  if (typeof parsed === 'string') return forbidden('IncompleteSignatureException', parsed);

  const amzDate = headerValues(request.headers, 'x-amz-date')[0];
  if (amzDate === undefined) {
    // smithy always drops a client's `date` header and signs x-amz-date, so we only support the latter.
    return forbidden(
      'IncompleteSignatureException',
      "Authorization header requires existence of a 'X-Amz-Date' header (this stand-in does not accept 'Date').",
    );
  }
  const signingDate = parseAmzDate(amzDate);
  if (signingDate === undefined) {
    return forbidden('IncompleteSignatureException', `X-Amz-Date must be YYYYMMDDTHHMMSSZ, got ${JSON.stringify(amzDate)}`);
  }
  const skewMs = signingDate.getTime() - nowMs;
  if (skewMs < -MAX_CLOCK_SKEW_MS) {
    return forbidden(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(nowMs - MAX_CLOCK_SKEW_MS))} (${formatAmzDate(new Date(nowMs))} - 5 min.)`,
    );
  }
  if (skewMs > MAX_CLOCK_SKEW_MS) {
    return forbidden(
      'InvalidSignatureException',
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(new Date(nowMs + MAX_CLOCK_SKEW_MS))} (${formatAmzDate(new Date(nowMs))} + 5 min.)`,
    );
  }
  const sessionToken = headerValues(request.headers, 'x-amz-security-token')[0];
  let secretAccessKey: string;
  if ('issuedKeys' in iam) {
    const key = iam.issuedKeys.check(parsed.accessKeyId, sessionToken, nowMs);
    if (!key.ok) return forbidden(key.code === 'ExpiredToken' ? 'ExpiredTokenException' : 'UnrecognizedClientException', key.message);
    if (sessionToken !== undefined && !parsed.signedHeaders.includes('x-amz-security-token')) {
      return forbidden('InvalidSignatureException', 'x-amz-security-token must be signed');
    }
    secretAccessKey = key.credentials.secretAccessKey;
  } else {
    if (parsed.accessKeyId !== iam.accessKeyId) {
      return forbidden('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    secretAccessKey = iam.secretAccessKey;
  }
  if (parsed.scopeDate !== amzDate.slice(0, 8)) {
    return forbidden('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${amzDate.slice(0, 8)}'`);
  }
  if (parsed.scopeRegion !== iam.region) {
    return forbidden('InvalidSignatureException', `Credential should be scoped to a valid region, not '${parsed.scopeRegion}'. Expected '${iam.region}'.`);
  }
  if (parsed.scopeService !== iam.service) {
    return forbidden('InvalidSignatureException', `Credential should be scoped to correct service: '${iam.service}'.`);
  }
  if (!parsed.signedHeaders.includes('host')) {
    return forbidden('InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (MALFORMED_PERCENT_PATTERN.test(request.rawPath)) {
    return forbidden('InvalidSignatureException', `Malformed percent-encoding in path ${JSON.stringify(request.rawPath)}`);
  }
  let query: Record<string, string | string[]>;
  try {
    query = parseRawQuery(request.rawQuery);
  } catch (err) {
    return forbidden('InvalidSignatureException', `Cannot verify the signature: ${(err as Error).message}`);
  }

  // Only the headers the client says it signed, values as received, repeats joined with `,`
  // (Node already trimmed each value, as the SigV4 spec wants before joining).
  const signedHeaderSet = new Set(parsed.signedHeaders);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of request.headers) {
    if (!signedHeaderSet.has(name)) continue;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous},${value}`;
  }
  // When x-amz-content-sha256 is among the headers it signs, smithy takes its value as the payload
  // hash instead of hashing the body, so a stale header would let a tampered body through. A sent
  // value must therefore match the body, signed or not (like S3's XAmzContentSHA256Mismatch).
  const contentSha256 = headerValues(request.headers, 'x-amz-content-sha256')[0];
  if (contentSha256 !== undefined && contentSha256 !== sha256Hex(request.body)) {
    return forbidden(
      'InvalidSignatureException',
      contentSha256 === 'UNSIGNED-PAYLOAD'
        ? 'UNSIGNED-PAYLOAD is not accepted: sign the payload.'
        : "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }

  const hostHeader = headers['host'] ?? '';
  const hostUrl = safeUrl(`http://${hostHeader}`);
  const signer = new InspectableSignatureV4({
    credentials: { accessKeyId: parsed.accessKeyId, secretAccessKey, sessionToken },
    region: iam.region,
    service: iam.service,
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  const toSign = new HttpRequest({
    method: request.method,
    protocol: secure ? 'https:' : 'http:',
    hostname: hostUrl?.hostname ?? hostHeader,
    port: hostUrl?.port ? Number(hostUrl.port) : undefined,
    path: request.rawPath,
    query,
    headers,
    body: request.body,
  });
  // signableHeaders: smithy silently drops user-agent, expect, proxy-* ... from the canonical
  // headers otherwise; we must sign exactly the list the client claims it signed.
  const signed = await signer.sign(toSign, { signingDate, signableHeaders: signedHeaderSet });
  const expected = signed.headers['authorization'] ?? '';
  const expectedParsed = parseAuthorization(expected);
  if (typeof expectedParsed === 'string') {
    throw new Error(`smithy produced an Authorization header we cannot parse: ${expected}`);
  }
  const matches =
    expectedParsed.credential === parsed.credential &&
    expectedParsed.signedHeaders.join(';') === parsed.signedHeaders.join(';') &&
    timingSafeEqual(Buffer.from(expectedParsed.signature), Buffer.from(parsed.signature));
  if (matches) return undefined;

  const canonicalRequest = signer.explainCanonicalRequest(
    signed,
    getCanonicalHeaders(signed, undefined, signedHeaderSet),
    await getPayloadHash(signed, Sha256),
  );
  const scope = `${parsed.scopeDate}/${iam.region}/${iam.service}/aws4_request`;
  const stringToSign = await signer.explainStringToSign(amzDate, scope, canonicalRequest);
  return forbidden(
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    { expected, received: authorization, canonicalRequest, stringToSign },
  );
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function checkApiKey(apiKey: string, request: ReceivedRequest): Rejection | undefined {
  const given = headerValues(request.headers, 'x-api-key');
  if (given.length === 1 && given[0] === apiKey) return undefined;
  return forbidden('ForbiddenException', 'Forbidden');
}

interface Controls {
  delayMs: number;
  reset: boolean;
  status: number;
  cookies: number;
  binaryBytes: number | undefined;
}

/** Reads the x-stand-in-* headers; a string is the message of a 400 answer. */
function readControls(req: http.IncomingMessage): Controls | string {
  const problems: string[] = [];
  const integer = (name: string, min: number, max: number): number | undefined => {
    const raw = req.headers[name];
    if (raw === undefined) return undefined;
    const text = Array.isArray(raw) ? (raw[0] ?? '') : raw;
    const value = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
    if (value >= min && value <= max) return value;
    problems.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}`);
    return undefined;
  };
  const controls: Controls = {
    delayMs: integer('x-stand-in-delay-ms', 0, MAX_DELAY_MS) ?? 0,
    reset: req.headers['x-stand-in-reset'] === '1',
    status: integer('x-stand-in-status', 200, 599) ?? 200,
    cookies: integer('x-stand-in-cookies', 0, MAX_COOKIES) ?? 0,
    binaryBytes: integer('x-stand-in-binary', 0, MAX_BINARY_BYTES),
  };
  return problems.length > 0 ? problems.join('; ') : controls;
}

// Period 256 and 31 is odd, so every byte value appears in each 256-byte run.
const BINARY_PATTERN = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 31 + 7) & 255));

export function standInBinaryBody(lengthBytes: number): Buffer {
  const body = Buffer.allocUnsafe(lengthBytes);
  if (lengthBytes > 0) body.fill(BINARY_PATTERN);
  return body;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function runFunction(request: ReceivedRequest, query: Record<string, string | string[]>, controls: Controls): FunctionResponse {
  const { status, cookies, binaryBytes } = controls;
  const headers: FunctionResponse['headers'] = [];
  if (cookies > 0) {
    headers.push(['set-cookie', Array.from({ length: cookies }, (_, i) => `c${i + 1}=v${i + 1}; Path=/`)]);
  }
  if (binaryBytes !== undefined) {
    const body = standInBinaryBody(binaryBytes);
    headers.push(['content-type', 'application/octet-stream'], ['x-body-sha256', sha256Hex(body)]);
    return { status, headers, body };
  }
  headers.push(['content-type', 'application/json']);
  const name = query['name'];
  const firstName = Array.isArray(name) ? name[0] : name;
  if (firstName !== undefined) {
    return { status, headers, body: json(`Hello, ${firstName}!`) };
  }
  return {
    status,
    headers,
    body: json({
      method: request.method,
      rawPath: request.rawPath,
      rawQuery: request.rawQuery,
      headers: request.headers,
      bodyBase64: request.body.toString('base64'),
      bodySha256: sha256Hex(request.body),
      bodyLength: request.body.length,
    }),
  };
}

function apiGatewayId(): string {
  // Real ids look like `Ab1CdEfGhIjKlMn=`: 16 base64 characters.
  return randomBytes(11).toString('base64');
}

function writeResponse(req: http.IncomingMessage, res: http.ServerResponse, response: FunctionResponse): void {
  if (res.destroyed || res.headersSent) return;
  res.statusCode = response.status;
  res.setHeader('x-amzn-requestid', randomUUID());
  res.setHeader('x-amz-apigw-id', apiGatewayId());
  // Hop-by-hop noise: the sidecar must strip these before answering (HTTP/2 clients reject them).
  res.setHeader('connection', 'keep-alive');
  res.setHeader('keep-alive', 'timeout=5');
  for (const [name, value] of response.headers) res.setHeader(name, value);
  const bodyless = req.method === 'HEAD' || response.status === 204 || response.status === 304;
  if (bodyless) {
    // HEAD mirrors GET's length; 204/304 must not carry one.
    if (req.method === 'HEAD' && response.status !== 204 && response.status !== 304) {
      res.setHeader('content-length', String(response.body.length));
    }
    res.end();
    return;
  }
  res.end(response.body);
}

function rejectionResponse(rejection: Rejection): FunctionResponse {
  return {
    status: rejection.status,
    headers: [
      ['content-type', 'application/json'],
      ['x-amzn-errortype', rejection.errorType],
    ],
    body: json(rejection.payload),
  };
}

export async function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const received: ReceivedRequest[] = [];
  // Pending x-stand-in-delay-ms waits; close() settles them so no timer outlives the server.
  const pendingDelays = new Map<NodeJS.Timeout, () => void>();
  const secure = opts.tls !== undefined;

  const delay = (delayMs: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        pendingDelays.delete(timer);
        resolve();
      }, delayMs);
      pendingDelays.set(timer, resolve);
    });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // client went away mid-body: nothing to answer
    }
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const headers: Array<[string, string]> = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([(req.rawHeaders[i] ?? '').toLowerCase(), req.rawHeaders[i + 1] ?? '']);
    }
    const request: ReceivedRequest = {
      method: req.method ?? 'GET',
      rawPath: queryAt === -1 ? url : url.slice(0, queryAt),
      rawQuery: queryAt === -1 ? '' : url.slice(queryAt + 1),
      headers,
      body: Buffer.concat(chunks),
    };
    received.push(request);
    if (received.length > MAX_RECEIVED_REQUESTS) received.splice(0, received.length - MAX_RECEIVED_REQUESTS);

    // Like API Gateway: IAM authorization first, then the API key.
    const rejection =
      (opts.iam !== undefined ? await verifySigV4(opts.iam, request, secure, Date.now()) : undefined) ??
      (opts.apiKey !== undefined ? checkApiKey(opts.apiKey, request) : undefined);
    if (rejection !== undefined) {
      writeResponse(req, res, rejectionResponse(rejection));
      return;
    }
    if (MALFORMED_PERCENT_PATTERN.test(request.rawPath)) {
      writeResponse(req, res, rejectionResponse(forbidden('ForbiddenException', `Malformed percent-encoding in path ${JSON.stringify(request.rawPath)}`)));
      return;
    }
    let query: Record<string, string | string[]>;
    try {
      query = parseRawQuery(request.rawQuery);
    } catch (err) {
      writeResponse(req, res, rejectionResponse(forbidden('ForbiddenException', (err as Error).message)));
      return;
    }

    const controls = readControls(req);
    if (typeof controls === 'string') {
      writeResponse(req, res, { status: 400, headers: [['content-type', 'application/json']], body: json({ message: controls }) });
      return;
    }
    if (controls.delayMs > 0) await delay(controls.delayMs);
    if (controls.reset) {
      req.socket.destroy();
      return;
    }
    writeResponse(req, res, runFunction(request, query, controls));
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // A write after the peer vanished must not become an unhandled 'error' event.
    res.on('error', () => undefined);
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) {
        req.socket.destroy();
        return;
      }
      writeResponse(req, res, { status: 500, headers: [['content-type', 'application/json']], body: json({ message: `stand-in error: ${String(err)}` }) });
    });
  };

  const server = opts.tls !== undefined ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;

  const host = opts.host ?? DEFAULT_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `${secure ? 'https' : 'http'}://${urlHost}:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        for (const [timer, settle] of pendingDelays) {
          clearTimeout(timer);
          settle();
        }
        pendingDelays.clear();
      }),
  };
}

async function main(): Promise<void> {
  const port = Number(process.env['STAND_IN_PORT'] ?? '9443');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`STAND_IN_PORT must be a port number, got ${JSON.stringify(process.env['STAND_IN_PORT'])}`);
  }
  const opts: StandInOptions = { port, host: process.env['STAND_IN_HOST'] ?? DEFAULT_HOST };
  let caCertPath: string | undefined;
  if (process.env['STAND_IN_TLS'] === '1') {
    const material = generateTlsMaterial();
    opts.tls = { cert: material.cert, key: material.key };
    caCertPath = material.caCertPath;
  }
  const apiKey = process.env['STAND_IN_API_KEY'];
  if (apiKey) opts.apiKey = apiKey;
  const iam = process.env['STAND_IN_IAM'];
  if (iam) {
    const [accessKeyId, secretAccessKey, region, service] = iam.split(':');
    if (!accessKeyId || !secretAccessKey || !region || !service) {
      throw new Error('STAND_IN_IAM must be accessKeyId:secretAccessKey:region:service');
    }
    opts.iam = { accessKeyId, secretAccessKey, region, service };
  }
  const standIn = await startStandIn(opts);
  console.log(standIn.url);
  if (caCertPath !== undefined) console.error(`CA certificate (NODE_EXTRA_CA_CERTS): ${caCertPath}`);
  const stop = (): void => {
    standIn.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

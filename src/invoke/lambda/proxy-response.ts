/**
 * A function's Invoke API payload → the client's response, decoded as API Gateway decodes it
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html#http-api-develop-integrations-lambda.response
 * and set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format).
 * A payload API Gateway would answer 502 for throws ERR_FUNCTION_RESPONSE.
 *
 * Header values are text in the payload and latin1 byte strings in our response (lambda-request.ts):
 * they are encoded as UTF-8 bytes. Hop-by-hop headers are dropped (relayableResponseHeaders).
 */
import { ERROR_CODES, sidecarError, type SidecarError } from '../../errors';
import { relayableResponseHeaders } from '../header-filter';
import type { HeaderList, LambdaResponse } from '../client-request';
import type { EventFormat } from './apigw-event';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 field-value: no CR, LF or NUL (they would split or end the header on the wire).
const FORBIDDEN_IN_VALUE = /[\r\n\0]/;

function malformed(why: string): SidecarError {
  return sidecarError(ERROR_CODES.FUNCTION_RESPONSE, `the function's response is not a valid proxy response: ${why}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON payload text → value; Lambda always sends JSON, anything else is malformed. */
function parsePayload(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    throw malformed('the payload is not JSON');
  }
}

/** `statusCode`: an integer 100–599, as a number or a numeric string. */
function statusOf(value: unknown): number {
  const status = typeof value === 'number' ? value : typeof value === 'string' && /^\d{3}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(status) || status < 100 || status > 599) throw malformed('statusCode must be an integer from 100 to 599');
  return status;
}

/** A header value as API Gateway takes it: strings, numbers and booleans (printed). */
function headerValue(name: string, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw malformed(`header ${JSON.stringify(name)} must be a string`);
  const s = String(value);
  if (FORBIDDEN_IN_VALUE.test(s)) throw malformed(`header ${JSON.stringify(name)} contains CR, LF or NUL`);
  return Buffer.from(s, 'utf8').toString('latin1');
}

function headerName(name: string): string {
  if (!TOKEN.test(name)) throw malformed(`${JSON.stringify(name)} is not a valid header name`);
  return name.toLowerCase();
}

function bodyOf(value: unknown, isBase64Encoded: unknown): Buffer {
  if (isBase64Encoded !== undefined && isBase64Encoded !== null && typeof isBase64Encoded !== 'boolean') throw malformed('isBase64Encoded must be a boolean');
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value !== 'string') throw malformed('body must be a string');
  return isBase64Encoded === true ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8');
}

function singleValueHeaders(value: unknown, into: HeaderList, skip?: ReadonlySet<string>): void {
  if (value === undefined || value === null) return;
  if (!isRecord(value)) throw malformed('headers must be an object');
  for (const [name, v] of Object.entries(value)) {
    const lower = headerName(name);
    if (skip?.has(lower) === true) continue;
    into.push([lower, headerValue(name, v)]);
  }
}

function jsonAnswer(body: Buffer): LambdaResponse {
  return { status: 200, headers: [['content-type', 'application/json']], body };
}

/**
 * Format 2.0: an object with `statusCode` is a proxy response (`headers`, `cookies` → one
 * `set-cookie` each, `body`, `isBase64Encoded`); any other valid JSON is a 200 `application/json`
 * answer whose body is the payload, except a JSON string, whose body is the string itself (AWS's
 * table: `"Hello from Lambda!"` → body `Hello from Lambda!`).
 */
export function decodeV2Response(payload: Buffer): LambdaResponse {
  const value = parsePayload(payload);
  if (!isRecord(value) || !('statusCode' in value)) {
    return jsonAnswer(typeof value === 'string' ? Buffer.from(value, 'utf8') : payload);
  }
  const status = statusOf(value.statusCode);
  const headers: HeaderList = [];
  singleValueHeaders(value.headers, headers);
  const cookies = value.cookies;
  if (cookies !== undefined && cookies !== null) {
    if (!Array.isArray(cookies) || !cookies.every((c): c is string => typeof c === 'string')) throw malformed('cookies must be an array of strings');
    for (const c of cookies) headers.push(['set-cookie', headerValue('set-cookie', c)]);
  }
  return { status, headers: relayableResponseHeaders(headers), body: bodyOf(value.body, value.isBase64Encoded) };
}

/**
 * Format 1.0: `statusCode` required; `headers` and `multiValueHeaders` merged, a name present in
 * both taking only the `multiValueHeaders` values (AWS: "only the values from multiValueHeaders
 * will appear in the merged list"); `body`, `isBase64Encoded`.
 */
export function decodeV1Response(payload: Buffer): LambdaResponse {
  const value = parsePayload(payload);
  if (!isRecord(value)) throw malformed('the payload is not an object');
  if (!('statusCode' in value)) throw malformed('statusCode is missing');
  const status = statusOf(value.statusCode);
  const headers: HeaderList = [];
  const multi = value.multiValueHeaders;
  const multiNames = new Set<string>();
  if (multi !== undefined && multi !== null) {
    if (!isRecord(multi)) throw malformed('multiValueHeaders must be an object');
    for (const [name, values] of Object.entries(multi)) {
      if (!Array.isArray(values)) throw malformed(`multiValueHeaders ${JSON.stringify(name)} must be an array`);
      const lower = headerName(name);
      multiNames.add(lower);
      for (const v of values as unknown[]) headers.push([lower, headerValue(name, v)]);
    }
  }
  singleValueHeaders(value.headers, headers, multiNames);
  return { status, headers: relayableResponseHeaders(headers), body: bodyOf(value.body, value.isBase64Encoded) };
}

/** Format `raw`: the payload, unchanged, as a 200 `application/json` body. */
export function decodeRawResponse(payload: Buffer): LambdaResponse {
  return jsonAnswer(payload);
}

export function decodeFunctionResponse(format: EventFormat, payload: Buffer): LambdaResponse {
  switch (format) {
    case 'apigw_v2':
      return decodeV2Response(payload);
    case 'apigw_v1':
      return decodeV1Response(payload);
    case 'raw':
      return decodeRawResponse(payload);
  }
}

/**
 * Checks a SigV4-signed request the way an AWS service does, with the AWS SDK's own signer
 * (@smithy/signature-v4) as the oracle: the key must be one the stand-ins issued (IssuedKeys), with
 * its session token in `x-amz-security-token`, unexpired, and the signature must be what smithy
 * computes over exactly the headers the caller says it signed. Shared by the STS stand-in and the
 * API-Gateway stand-in to come.
 *
 * Limit: header values come from Node's `req.headers`, which joins most repeated headers with ", "
 * where SigV4 joins with ","; fine for STS calls, but a stand-in that must accept repeated signed
 * headers should build `headers` from `rawHeaders` instead.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IssuedCredentials, IssuedKeys } from './issued-keys';
import type { StandInRequest } from './loopback-server';

const AUTHORIZATION_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export type SignatureCheck =
  | { readonly ok: true; readonly credentials: IssuedCredentials; readonly region: string; readonly service: string }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

function refuse(code: string, message: string, status = 403): SignatureCheck {
  return { ok: false, status, code, message };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

export async function verifySigV4(request: StandInRequest, keys: IssuedKeys, service: string, nowMs = Date.now()): Promise<SignatureCheck> {
  const authorization = single(request.headers.authorization);
  if (authorization === undefined) return refuse('MissingAuthenticationToken', 'Request is missing Authentication Token');
  const m = AUTHORIZATION_PATTERN.exec(authorization);
  if (m === null) return refuse('IncompleteSignature', 'The request signature does not conform to AWS standards.');
  const [, accessKeyId = '', scopeDate = '', region = '', scopeService = '', signedHeaderList = ''] = m;
  const amzDate = single(request.headers['x-amz-date']) ?? '';
  const d = AMZ_DATE_PATTERN.exec(amzDate);
  if (d === null) return refuse('IncompleteSignature', "Authorization header requires existence of a 'X-Amz-Date' header.");
  const signingDate = new Date(`${d[1]}-${d[2]}-${d[3]}T${d[4]}:${d[5]}:${d[6]}Z`);
  if (Math.abs(signingDate.getTime() - nowMs) > MAX_CLOCK_SKEW_MS) return refuse('SignatureDoesNotMatch', 'Signature expired');
  if (scopeDate !== amzDate.slice(0, 8)) return refuse('SignatureDoesNotMatch', 'Date in Credential scope does not match X-Amz-Date');
  if (scopeService !== service) return refuse('SignatureDoesNotMatch', `Credential should be scoped to correct service: '${service}'.`);
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return refuse('SignatureDoesNotMatch', "'Host' must be a 'SignedHeader' in the AWS Authorization.");

  const sessionToken = single(request.headers['x-amz-security-token']);
  const key = keys.check(accessKeyId, sessionToken, nowMs);
  if (!key.ok) return refuse(key.code, key.message);
  if (sessionToken !== undefined && !signedHeaders.includes('x-amz-security-token')) {
    return refuse('SignatureDoesNotMatch', 'x-amz-security-token must be signed');
  }

  // smithy takes a signed x-amz-content-sha256 as the payload hash instead of hashing the body, so
  // the header must match the body, or a tampered body would verify.
  const contentSha256 = single(request.headers['x-amz-content-sha256']);
  if (contentSha256 !== undefined && contentSha256 !== createHash('sha256').update(request.body).digest('hex')) {
    return refuse('SignatureDoesNotMatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = single(request.headers[name]);
    if (value === undefined) return refuse('SignatureDoesNotMatch', `Signed header ${name} is missing`);
    headers[name] = value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(request.query)) {
    const existing = query[name];
    query[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: key.credentials.secretAccessKey, sessionToken },
    region,
    service,
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({ method: request.method, protocol: 'http:', hostname: headers.host ?? '', path: request.path, query, headers, body: request.body }),
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const expected = AUTHORIZATION_PATTERN.exec(String(signed.headers.authorization ?? ''));
  const matches =
    expected !== null &&
    expected[5] === signedHeaderList &&
    timingSafeEqual(Buffer.from(expected[6] ?? ''), Buffer.from(m[6] ?? ''));
  if (!matches) {
    return refuse(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { ok: true, credentials: key.credentials, region, service };
}

// The independent SigV4 oracle for tests: the AWS SDK's own signer, @smithy/signature-v4.
// Not a test file itself (no .test.ts): sigv4-oracle.test.ts and invoke.test.ts share it.
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SigV4Credentials, SigV4Scope } from '../../../src/aws/sigv4';

type Query = Record<string, string | string[]>;

/** Split `&`, split the first `=`, decodeURIComponent each side (`+` stays `+`), repeats → arrays. */
export function parseQueryForOracle(raw: string): Query {
  const out: Query = {};
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

export function signingDateOf(datetime: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(datetime);
  if (m === null) throw new Error(`bad datetime ${datetime}`);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

/**
 * The Authorization the SDK computes for a request: `path` is the wire path, `query` the raw query
 * (parsed with parseQueryForOracle), `headers` exactly the headers to sign (host and x-amz-date
 * included; repeated names joined with ","), `datetime` the x-amz-date value.
 */
export async function oracleAuthorization(
  req: { method: string; path: string; query: string; headers: ReadonlyArray<readonly [string, string]>; body: Buffer | null },
  scope: SigV4Scope,
  creds: SigV4Credentials,
  datetime: string,
  defaultHost = 'example.amazonaws.com',
): Promise<string> {
  const headers: Record<string, string> = {};
  for (const [n, v] of req.headers) headers[n] = n in headers ? `${headers[n]},${v}` : v;
  const signer = new SignatureV4({
    credentials: creds,
    region: scope.region,
    service: scope.service,
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  const host = headers['host'] ?? defaultHost;
  const signed = await signer.sign(
    new HttpRequest({
      method: req.method,
      protocol: 'https:',
      hostname: host.replace(/:\d+$/, ''),
      path: req.path,
      query: parseQueryForOracle(req.query),
      headers,
      body: req.body ?? undefined,
    }),
    { signingDate: signingDateOf(datetime) },
  );
  return signed.headers['authorization'] as string;
}


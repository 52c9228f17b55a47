/**
 * An EC2 Instance Metadata Service stand-in that only speaks IMDSv2 (an instance with
 * `HttpTokens: required`), as documented in the EC2 user guide ("Use IMDSv2"):
 *
 * - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600` → a session token
 *   (the TTL echoed in the same header); without a valid TTL 400; with `X-Forwarded-For` 403.
 * - Every `GET` needs `X-aws-ec2-metadata-token: <token>`, else 401.
 * - `GET /latest/meta-data/iam/security-credentials/` → the role name.
 * - `GET /latest/meta-data/iam/security-credentials/<role>` → `{Code, LastUpdated, Type, AccessKeyId,
 *   SecretAccessKey, Token, Expiration}`. Unlike EC2 (which rotates about hourly), every read issues
 *   fresh credentials of `lifetimeMs`, so a test sees each refresh as a new key.
 */
import { randomBytes } from 'node:crypto';
import { awsTimestamp, type IssuedCredentials, IssuedKeys } from './issued-keys';
import { type LoopbackServer, type LoopbackServerOptions, startLoopbackServer, type StandInAnswer } from './loopback-server';

export const IMDS_TOKEN_PATH = '/latest/api/token';
export const IMDS_CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';
const MAX_TOKEN_TTL_SECONDS = 21600;

export interface ImdsStandInOptions extends LoopbackServerOptions {
  readonly keys: IssuedKeys;
  readonly roleName?: string;
  readonly lifetimeMs: number;
}

export interface ImdsStandIn extends LoopbackServer {
  /** Credentials handed out, in order. */
  readonly issued: readonly IssuedCredentials[];
  /** Session tokens handed out (they are secrets too: the log scan looks for them). */
  readonly sessionTokens: readonly string[];
  setLifetimeMs(lifetimeMs: number): void;
}

export async function startImdsStandIn(options: ImdsStandInOptions): Promise<ImdsStandIn> {
  const roleName = options.roleName ?? 'sidecar-instance-role';
  const tokens = new Map<string, number>(); // token → expiry (ms)
  const issued: IssuedCredentials[] = [];
  let lifetimeMs = options.lifetimeMs;
  const text = (status: number, body: string, operation: string): StandInAnswer => ({
    status,
    headers: { 'content-type': 'text/plain' },
    body,
    operation,
  });

  const server = await startLoopbackServer((req) => {
    if (req.method === 'PUT' && req.path === IMDS_TOKEN_PATH) {
      if (req.headers['x-forwarded-for'] !== undefined) return text(403, 'Forbidden', 'token-refused');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) return text(400, 'Bad Request', 'token-refused');
      const token = randomBytes(32).toString('base64');
      tokens.set(token, Date.now() + ttl * 1000);
      return {
        status: 200,
        headers: { 'content-type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) },
        body: token,
        operation: 'token',
      };
    }
    if (req.method !== 'GET') return text(405, 'Method Not Allowed', 'refused');
    const token = req.headers['x-aws-ec2-metadata-token'];
    const expiry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry <= Date.now()) return text(401, 'Unauthorized', 'unauthorized');
    if (req.path === IMDS_CREDENTIALS_PATH) return text(200, roleName, 'role');
    if (req.path === `${IMDS_CREDENTIALS_PATH}${roleName}`) {
      const c = options.keys.issueTemporary('imds', lifetimeMs);
      issued.push(c);
      return {
        status: 200,
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify(
          {
            Code: 'Success',
            LastUpdated: awsTimestamp(new Date()),
            Type: 'AWS-HMAC',
            AccessKeyId: c.accessKeyId,
            SecretAccessKey: c.secretAccessKey,
            Token: c.sessionToken,
            Expiration: awsTimestamp(c.expiration ?? new Date()),
          },
          null,
          2,
        ),
        operation: 'credentials',
      };
    }
    return text(404, 'Not Found', 'not-found');
  }, options);
  return Object.assign(server, {
    issued,
    get sessionTokens() {
      return [...tokens.keys()];
    },
    setLifetimeMs: (ms: number) => {
      lifetimeMs = ms;
    },
  });
}

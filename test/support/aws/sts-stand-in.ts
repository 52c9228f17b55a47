/**
 * An AWS STS stand-in speaking STS's Query protocol (POST form `Action=...&Version=2011-06-15`,
 * XML answers in the `https://sts.amazonaws.com/doc/2011-06-15/` namespace, as in the STS API
 * reference's AssumeRole and AssumeRoleWithWebIdentity examples):
 *
 * - `AssumeRole`: SigV4-signed (service `sts`), verified against the keys the stand-ins issued
 *   (sigv4-verifier.ts); answers `AssumeRoleResponse` with fresh credentials.
 * - `AssumeRoleWithWebIdentity`: unsigned; the `WebIdentityToken` must be the one the test wrote.
 * - Errors: `ErrorResponse` with `Type`, `Code`, `Message` (403 for signature and key problems).
 *
 * Credentials last `lifetimeMs` (a test's choice), whatever `DurationSeconds` asked for; the
 * requests are recorded so tests can check RoleArn, RoleSessionName, ExternalId, DurationSeconds
 * and the signing region.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { awsTimestamp, type IssuedCredentials, IssuedKeys } from './issued-keys';
import { type LoopbackServer, type LoopbackServerOptions, startLoopbackServer, type StandInAnswer } from './loopback-server';
import { verifySigV4 } from './sigv4-verifier';

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

export interface StsStandInOptions extends LoopbackServerOptions {
  readonly keys: IssuedKeys;
  readonly lifetimeMs: number;
}

export interface StsCall {
  readonly action: string;
  readonly params: Readonly<Record<string, string>>;
  /** Region of the SigV4 credential scope (AssumeRole only). */
  readonly signingRegion?: string;
  /** The caller's access key id (AssumeRole only). */
  readonly callerAccessKeyId?: string;
  readonly outcome: 'issued' | string;
}

export interface StsStandIn extends LoopbackServer {
  readonly requests: readonly StsCall[];
  readonly issued: readonly IssuedCredentials[];
  /** The web identity token AssumeRoleWithWebIdentity accepts (a secret: the log scan looks for it). */
  readonly webIdentityToken: string;
  setLifetimeMs(lifetimeMs: number): void;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function credentialsXml(c: IssuedCredentials): string {
  return (
    `<Credentials><AccessKeyId>${c.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(c.secretAccessKey)}</SecretAccessKey>` +
    `<SessionToken>${xmlEscape(c.sessionToken ?? '')}</SessionToken><Expiration>${awsTimestamp(c.expiration ?? new Date())}</Expiration></Credentials>`
  );
}

function xml(status: number, body: string, operation: string): StandInAnswer {
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() }, body, operation };
}

function errorXml(status: number, code: string, message: string, operation: string): StandInAnswer {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return xml(
    status,
    `<ErrorResponse xmlns="${STS_NAMESPACE}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    operation,
  );
}

export async function startStsStandIn(options: StsStandInOptions): Promise<StsStandIn> {
  const requests: StsCall[] = [];
  const issued: IssuedCredentials[] = [];
  const webIdentityToken = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(48).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  let lifetimeMs = options.lifetimeMs;

  const roleUser = (roleArn: string, session: string): string => {
    const role = roleArn.split('/').pop() ?? 'role';
    const account = roleArn.split(':')[4] ?? '000000000000';
    return `<AssumedRoleUser><Arn>arn:aws:sts::${account}:assumed-role/${xmlEscape(role)}/${xmlEscape(session)}</Arn><AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${xmlEscape(session)}</AssumedRoleId></AssumedRoleUser>`;
  };

  const server = await startLoopbackServer(async (req) => {
    if (req.method !== 'POST') return errorXml(400, 'InvalidAction', 'Could not find operation', 'invalid');
    const params = Object.fromEntries(new URLSearchParams(req.body.toString('utf8')));
    const action = params.Action ?? '';
    if (params.Version !== '2011-06-15') return errorXml(400, 'InvalidParameterValue', 'Version must be 2011-06-15', action);
    const record = (outcome: string, extra: Partial<StsCall> = {}): void => {
      const { WebIdentityToken: _token, ...loggable } = params;
      requests.push({ action, params: loggable, outcome, ...extra });
    };
    if (!params.RoleArn || !params.RoleSessionName) {
      record('ValidationError');
      return errorXml(400, 'ValidationError', 'RoleArn and RoleSessionName are required', action);
    }
    if (action === 'AssumeRole') {
      const check = await verifySigV4(req, options.keys, 'sts');
      if (!check.ok) {
        record(check.code);
        return errorXml(check.status, check.code, check.message, action);
      }
      const c = options.keys.issueTemporary('sts:AssumeRole', lifetimeMs);
      issued.push(c);
      record('issued', { signingRegion: check.region, callerAccessKeyId: check.credentials.accessKeyId });
      return xml(
        200,
        `<AssumeRoleResponse xmlns="${STS_NAMESPACE}"><AssumeRoleResult>${roleUser(params.RoleArn, params.RoleSessionName)}${credentialsXml(c)}<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
        action,
      );
    }
    if (action === 'AssumeRoleWithWebIdentity') {
      if (params.WebIdentityToken !== webIdentityToken) {
        record('InvalidIdentityToken');
        return errorXml(400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS.', action);
      }
      const c = options.keys.issueTemporary('sts:AssumeRoleWithWebIdentity', lifetimeMs);
      issued.push(c);
      record('issued');
      return xml(
        200,
        `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NAMESPACE}"><AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:default:sidecar</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>${roleUser(params.RoleArn, params.RoleSessionName)}${credentialsXml(c)}<Provider>oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
        action,
      );
    }
    record('InvalidAction');
    return errorXml(400, 'InvalidAction', `Could not find operation ${action}`, action);
  }, options);
  return Object.assign(server, {
    requests,
    issued,
    webIdentityToken,
    setLifetimeMs: (ms: number) => {
      lifetimeMs = ms;
    },
  });
}

/**
 * The credentials the AWS stand-ins (IMDS, container endpoint, STS) have handed out, shared so a
 * signature-checking stand-in (STS today, the API-Gateway stand-in next) accepts only keys one of
 * them issued, with the right session token, before they expire.
 */
import { randomBytes } from 'node:crypto';

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Undefined for long-term keys (an IAM user's), which also never expire. */
  readonly sessionToken?: string;
  readonly expiration?: Date;
  /** Which stand-in issued them ('imds', 'container', 'sts:AssumeRole', 'iam-user'...). */
  readonly issuer: string;
}

export type KeyCheck =
  | { readonly ok: true; readonly credentials: IssuedCredentials }
  | { readonly ok: false; readonly code: 'InvalidClientTokenId' | 'ExpiredToken'; readonly message: string };

const KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function keyId(prefix: 'AKIA' | 'ASIA'): string {
  const bytes = randomBytes(16);
  let id = prefix;
  for (const b of bytes) id += KEY_ID_ALPHABET[b % KEY_ID_ALPHABET.length];
  return id;
}

export class IssuedKeys {
  private readonly byKeyId = new Map<string, IssuedCredentials>();

  /** Temporary credentials (ASIA…, with a session token) valid for `lifetimeMs` from now. */
  issueTemporary(issuer: string, lifetimeMs: number): IssuedCredentials {
    const issued: IssuedCredentials = Object.freeze({
      accessKeyId: keyId('ASIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}`,
      expiration: new Date(Date.now() + lifetimeMs),
      issuer,
    });
    this.byKeyId.set(issued.accessKeyId, issued);
    return issued;
  }

  /** Long-term keys (AKIA…, no token, no expiry), as an IAM user has. */
  issueLongTerm(issuer = 'iam-user'): IssuedCredentials {
    const issued: IssuedCredentials = Object.freeze({
      accessKeyId: keyId('AKIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      issuer,
    });
    this.byKeyId.set(issued.accessKeyId, issued);
    return issued;
  }

  lookup(accessKeyId: string): IssuedCredentials | undefined {
    return this.byKeyId.get(accessKeyId);
  }

  /** AWS's checks on a signed request's key: known, token matches, not expired. */
  check(accessKeyId: string, sessionToken: string | undefined, nowMs = Date.now()): KeyCheck {
    const issued = this.byKeyId.get(accessKeyId);
    if (issued === undefined || issued.sessionToken !== sessionToken) {
      return { ok: false, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    }
    if (issued.expiration !== undefined && issued.expiration.getTime() <= nowMs) {
      return { ok: false, code: 'ExpiredToken', message: 'The security token included in the request is expired' };
    }
    return { ok: true, credentials: issued };
  }

  /** Every secret handed out (secret keys and session tokens), for log scans. */
  secrets(): string[] {
    const out: string[] = [];
    for (const c of this.byKeyId.values()) {
      out.push(c.secretAccessKey);
      if (c.sessionToken !== undefined) out.push(c.sessionToken);
    }
    return out;
  }

  get size(): number {
    return this.byKeyId.size;
  }
}

/** AWS's credential timestamps: ISO 8601 in UTC, whole seconds (`2026-12-01T20:15:00Z`). */
export function awsTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

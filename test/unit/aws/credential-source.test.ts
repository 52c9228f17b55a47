// Credential sources against real sockets: the AWS SDK's own providers talk to stand-ins for IMDSv2,
// the container credentials endpoint and STS on 127.0.0.1 (test/support/aws/).
//
// Why these tests cannot pass by accident: every AWS_* variable is cleared per test and the shared
// files point at fresh temp paths (withAwsEnvironment), IMDS is disabled unless a test points it at
// its stand-in, each test asserts the key it got is one *its* stand-in issued (and the stand-in's
// call counts), and the SDK's per-process ini cache is bypassed (ignoreCache) and never shared
// (each test's files have their own paths).
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import {
  type AwsCredentials,
  type CredentialSource,
  type CredentialSpec,
  createCredentialSource,
  DEFAULT_CREDENTIAL_TIMINGS,
  DEFAULT_REFRESH_BEFORE_EXPIRY_MS,
  DEFAULT_ROLE_SESSION_NAME,
  refreshDelayMs,
} from '../../../src/aws/credential-source';
import { ERROR_CODES } from '../../../src/errors';
import { withAwsEnvironment } from '../../support/aws/aws-environment';
import { type ContainerCredentialsStandIn, startContainerCredentialsStandIn } from '../../support/aws/container-credentials-stand-in';
import { IssuedKeys } from '../../support/aws/issued-keys';
import { type ImdsStandIn, startImdsStandIn } from '../../support/aws/imds-stand-in';
import { startStsStandIn, type StsStandIn } from '../../support/aws/sts-stand-in';

const HOUR_MS = 3_600_000;
const REGION = 'eu-west-1';
const ROLE_ARN = 'arn:aws:iam::444455556666:role/cross-account-invoker';
/** Refresh and retry fast enough for a test; the rule itself is unchanged (see refreshDelayMs). */
const FAST = { minRefreshIntervalMs: 100, retryInitialDelayMs: 100, retryMaxDelayMs: 300, fetchTimeoutMs: 5_000 };
const WAIT_MS = 5_000;

const keys = new IssuedKeys();
/** Every secret a test used that is not in `keys` (web identity and container tokens). */
const otherSecrets: string[] = [];
/** Every log line of every test, at trace: scanned for secrets at the end. */
const allLogLines: string[] = [];
const errorMessages: string[] = [];

interface Captured {
  readonly logger: pino.Logger;
  readonly lines: Array<Record<string, unknown>>;
}

function captureLogs(): Captured {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'trace' }, {
    write: (line: string) => {
      allLogLines.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines };
}

function ours(lines: ReadonlyArray<Record<string, unknown>>, level: number): Array<Record<string, unknown>> {
  return lines.filter((l) => l.level === level && l.sdk !== true);
}
const WARN = 40;
const INFO = 30;

async function waitFor(what: string, condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(p: Promise<unknown>): Promise<{ code: unknown; status: unknown; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; status?: unknown; message?: unknown };
    errorMessages.push(String(e.message));
    return { code: e.code, status: e.status, message: String(e.message) };
  }
  throw new Error('expected a rejection');
}

function expectIssuedBy(c: AwsCredentials | undefined, issued: ReadonlyArray<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>): void {
  expect(c).toBeDefined();
  const match = issued.find((i) => i.accessKeyId === c?.accessKeyId);
  expect(match).toBeDefined();
  expect(c?.secretAccessKey).toBe(match?.secretAccessKey);
  expect(c?.sessionToken).toBe(match?.sessionToken);
}

const open: Array<{ close(): unknown }> = [];
function source(spec: CredentialSpec, logger: pino.Logger, timings = FAST): CredentialSource {
  const s = createCredentialSource(spec, { logger, routes: ['r1', 'r2'], timings });
  open.push(s);
  return s;
}
async function imds(lifetimeMs = HOUR_MS): Promise<ImdsStandIn> {
  const s = await startImdsStandIn({ keys, lifetimeMs });
  open.push(s);
  return s;
}
async function sts(lifetimeMs = HOUR_MS, answerDelayMs?: number): Promise<StsStandIn> {
  const s = await startStsStandIn({ keys, lifetimeMs, answerDelayMs });
  otherSecrets.push(s.webIdentityToken);
  open.push(s);
  return s;
}
async function container(lifetimeMs = HOUR_MS): Promise<ContainerCredentialsStandIn> {
  const s = await startContainerCredentialsStandIn({ keys, lifetimeMs });
  otherSecrets.push(s.authorizationToken);
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

describe('refreshDelayMs', () => {
  const t = DEFAULT_CREDENTIAL_TIMINGS;
  it('refreshes 5 minutes before expiry when the lifetime allows it', () => {
    expect(DEFAULT_REFRESH_BEFORE_EXPIRY_MS).toBe(300_000);
    expect(refreshDelayMs(HOUR_MS, 0, t)).toBe(HOUR_MS - 300_000);
    expect(refreshDelayMs(15 * 60_000, 0, t)).toBe(10 * 60_000);
  });
  it('refreshes halfway through a lifetime shorter than twice the margin, never sooner than the minimum', () => {
    expect(refreshDelayMs(6 * 60_000, 0, t)).toBe(3 * 60_000);
    expect(refreshDelayMs(4_000, 0, t)).toBe(2_000);
    expect(refreshDelayMs(500, 0, t)).toBe(t.minRefreshIntervalMs);
  });
});

describe('static source', () => {
  it('hands out the keys at once, never expiring', async () => {
    const k = keys.issueLongTerm();
    const s = source({ kind: 'static', accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }, pino({ level: 'silent' }));
    otherSecrets.push('FwoGZXIvYXdzEXAMPLETOKEN');
    expect(s.current()).toEqual({ accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' });
    await expect(s.ready(10)).resolves.toBe(s.current());
    expect(s.description).toBe('static keys');
  });
});

describe('default chain, each link against its stand-in', () => {
  it('environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN', async () => {
    const k = keys.issueTemporary('env', HOUR_MS);
    await withAwsEnvironment({ AWS_ACCESS_KEY_ID: k.accessKeyId, AWS_SECRET_ACCESS_KEY: k.secretAccessKey, AWS_SESSION_TOKEN: k.sessionToken ?? '' }, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), [k]);
      s.close();
    });
  });

  it('shared files: AWS_PROFILE with AWS_SHARED_CREDENTIALS_FILE, and a profile source', async () => {
    const dev = keys.issueLongTerm();
    const other = keys.issueLongTerm();
    const credentials =
      `[default]\naws_access_key_id = ${other.accessKeyId}\naws_secret_access_key = ${other.secretAccessKey}\n\n` +
      `[dev]\naws_access_key_id = ${dev.accessKeyId}\naws_secret_access_key = ${dev.secretAccessKey}\n`;
    await withAwsEnvironment({ AWS_SHARED_CREDENTIALS_FILE: { fileContents: credentials } }, async () => {
      const log = captureLogs().logger;
      const profile = source({ kind: 'profile', profile: 'dev', region: REGION }, log);
      expectIssuedBy(await profile.ready(WAIT_MS), [dev]);
      expect(profile.description).toBe('profile "dev"');
      process.env.AWS_PROFILE = 'dev';
      const chain = source({ kind: 'chain', region: REGION }, log);
      expectIssuedBy(await chain.ready(WAIT_MS), [dev]);
      profile.close();
      chain.close();
    });
  });

  it('shared files: a profile in AWS_CONFIG_FILE that the credentials file does not have', async () => {
    const k = keys.issueLongTerm();
    const config = `[profile laptop]\nregion = ${REGION}\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secretAccessKey}\n`;
    await withAwsEnvironment({ AWS_CONFIG_FILE: { fileContents: config } }, async () => {
      const s = source({ kind: 'profile', profile: 'laptop', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), [k]);
      s.close();
    });
  });

  it('web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, STS at AWS_ENDPOINT_URL_STS', async () => {
    const stsStandIn = await sts();
    const env = { AWS_ROLE_ARN: ROLE_ARN, AWS_ENDPOINT_URL_STS: stsStandIn.url, AWS_WEB_IDENTITY_TOKEN_FILE: { fileContents: stsStandIn.webIdentityToken } };
    await withAwsEnvironment(env, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), stsStandIn.issued);
      expect(stsStandIn.calls('AssumeRoleWithWebIdentity')).toBe(1);
      expect(stsStandIn.requests[0]?.params.RoleArn).toBe(ROLE_ARN);
      expect(s.current()?.expiration).toBeInstanceOf(Date);
      s.close();
    });
  });

  it('container credentials (EKS Pod Identity): _FULL_URI on loopback + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', async () => {
    const endpoint = await container();
    const env = { AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: { fileContents: endpoint.authorizationToken } };
    await withAwsEnvironment(env, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), endpoint.issued);
      expect(endpoint.calls('credentials')).toBe(1);
      expect(endpoint.calls('unauthorized')).toBe(0);
      s.close();
    });
  });

  it('container credentials (ECS-style token in AWS_CONTAINER_AUTHORIZATION_TOKEN); a wrong token is refused', async () => {
    const endpoint = await container();
    await withAwsEnvironment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: endpoint.authorizationToken }, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), endpoint.issued);
      s.close();
    });
    await withAwsEnvironment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'not-the-token-at-all' }, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      const err = await rejection(s.ready(WAIT_MS));
      expect(err.code).toBe(ERROR_CODES.CREDENTIALS);
      expect(endpoint.calls('unauthorized')).toBeGreaterThanOrEqual(1);
      s.close();
    });
  });

  it('EC2 IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT: token first, then role, then credentials', async () => {
    const metadata = await imds();
    await withAwsEnvironment({ AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url }, async () => {
      const s = source({ kind: 'chain', region: REGION }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), metadata.issued);
      expect(metadata.calls('token')).toBe(1);
      expect(metadata.calls('role')).toBe(1);
      expect(metadata.calls('credentials')).toBe(1);
      expect(metadata.calls('unauthorized')).toBe(0);
      s.close();
    });
  });
});

describe('assume-role through the STS stand-in (signed AssumeRole at the route region)', () => {
  it('on top of static keys: RoleArn, the default session name, ExternalId, DurationSeconds, region', async () => {
    const stsStandIn = await sts();
    const base = keys.issueLongTerm();
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: stsStandIn.url }, async () => {
      const s = source(
        {
          kind: 'assume-role',
          roleArn: ROLE_ARN,
          externalId: 'partner-7',
          durationSeconds: 900,
          region: REGION,
          base: { kind: 'static', accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey },
        },
        captureLogs().logger,
      );
      expectIssuedBy(await s.ready(WAIT_MS), stsStandIn.issued);
      expect(stsStandIn.requests).toEqual([
        expect.objectContaining({
          action: 'AssumeRole',
          outcome: 'issued',
          signingRegion: REGION,
          callerAccessKeyId: base.accessKeyId,
          params: expect.objectContaining({ RoleArn: ROLE_ARN, RoleSessionName: DEFAULT_ROLE_SESSION_NAME, ExternalId: 'partner-7', DurationSeconds: '900' }),
        }),
      ]);
      expect(s.description).toContain(ROLE_ARN);
      s.close();
    });
  });

  it('on top of the default chain (here IMDSv2): STS sees the instance credentials, session token included', async () => {
    const stsStandIn = await sts();
    const metadata = await imds();
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: stsStandIn.url, AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url }, async () => {
      const s = source(
        { kind: 'assume-role', roleArn: ROLE_ARN, roleSessionName: 'nightly', region: 'ap-southeast-2', base: { kind: 'chain', region: 'ap-southeast-2' } },
        captureLogs().logger,
      );
      expectIssuedBy(await s.ready(WAIT_MS), stsStandIn.issued);
      expect(metadata.issued.map((c) => c.accessKeyId)).toContain(stsStandIn.requests[0]?.callerAccessKeyId);
      expect(stsStandIn.requests[0]).toMatchObject({ outcome: 'issued', signingRegion: 'ap-southeast-2', params: { RoleSessionName: 'nightly' } });
      s.close();
    });
  });

  it('on top of a profile: STS sees the profile\'s keys', async () => {
    const stsStandIn = await sts();
    const k = keys.issueLongTerm();
    const credentials = `[ops]\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secretAccessKey}\n`;
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: stsStandIn.url, AWS_SHARED_CREDENTIALS_FILE: { fileContents: credentials } }, async () => {
      const s = source({ kind: 'assume-role', roleArn: ROLE_ARN, region: REGION, base: { kind: 'profile', profile: 'ops', region: REGION } }, captureLogs().logger);
      expectIssuedBy(await s.ready(WAIT_MS), stsStandIn.issued);
      expect(stsStandIn.requests[0]).toMatchObject({ outcome: 'issued', callerAccessKeyId: k.accessKeyId });
      s.close();
    });
  });

  it('base keys STS does not know: ERR_CREDENTIALS naming the role and STS\'s reason, no secret', async () => {
    const stsStandIn = await sts();
    const logs = captureLogs();
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: stsStandIn.url }, async () => {
      const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYNOTKNOWNKEY';
      otherSecrets.push(secret);
      const s = source(
        { kind: 'assume-role', roleArn: ROLE_ARN, region: REGION, base: { kind: 'static', accessKeyId: 'AKIAIOSFODNN7UNKNOWN', secretAccessKey: secret } },
        logs.logger,
      );
      const err = await rejection(s.ready(WAIT_MS));
      expect(err).toMatchObject({ code: ERROR_CODES.CREDENTIALS, status: 502 });
      expect(err.message).toContain(ROLE_ARN);
      expect(err.message).toContain('security token included in the request is invalid');
      expect(err.message).not.toContain(secret);
      expect(stsStandIn.requests[0]?.outcome).toBe('InvalidClientTokenId');
      s.close();
    });
  });
});

describe('refresh ahead of expiry', () => {
  it('refreshes at least twice before expiry, one fetch at a time, while 200 concurrent callers never wait', async () => {
    // 3 s lifetimes (whole seconds on the wire, so 2-3 s): refreshed about halfway through each.
    const stsStandIn = await sts(3_000, 50);
    const base = keys.issueLongTerm();
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: stsStandIn.url }, async () => {
      const s = source(
        { kind: 'assume-role', roleArn: ROLE_ARN, region: REGION, base: { kind: 'static', accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey } },
        captureLogs().logger,
      );
      // 200 callers before the first fetch has answered: they share it.
      const first = await Promise.all(Array.from({ length: 200 }, () => s.ready(WAIT_MS)));
      expect(new Set(first.map((c) => c.accessKeyId)).size).toBe(1);
      expect(stsStandIn.calls('AssumeRole')).toBe(1);

      const seen = new Set<string>();
      let waited = 0;
      const deadline = Date.now() + 4_500;
      while (Date.now() < deadline) {
        const batch = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? s.current() : undefined));
        const readies = Array.from({ length: 100 }, () => {
          let settled = false;
          const p = s.ready(WAIT_MS).then((c) => {
            settled = true;
            return c;
          });
          return { p, isSettledNextTick: () => settled };
        });
        await Promise.resolve();
        for (const r of readies) if (!r.isSettledNextTick()) waited++;
        for (const c of [...batch.filter((c) => c !== undefined), ...(await Promise.all(readies.map((r) => r.p)))]) {
          expect(c?.expiration?.getTime() ?? 0).toBeGreaterThan(Date.now() - 50);
          seen.add(c?.accessKeyId ?? '');
        }
        expect(batch.filter((_, i) => i % 2 === 0).every((c) => c !== undefined)).toBe(true);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(waited).toBe(0);
      expect(seen.size).toBeGreaterThanOrEqual(3); // the first credentials and at least two refreshes
      expect(stsStandIn.calls('AssumeRole')).toBe(stsStandIn.issued.length);
      expect(stsStandIn.maxConcurrent).toBe(1);
      for (const c of seen) expect(stsStandIn.issued.map((i) => i.accessKeyId)).toContain(c);
      // close() stops refreshing: no call past the next refresh time; what it held stays readable.
      s.close();
      const calls = stsStandIn.calls('AssumeRole');
      await new Promise((r) => setTimeout(r, 1_800));
      expect(stsStandIn.calls('AssumeRole')).toBe(calls);
    });
  });
});

describe('outages and recovery', () => {
  interface OutageCase {
    readonly name: string;
    /** Starts the stand-in (3 s credentials) and returns the source, the environment and how to take it down. */
    readonly setUp: (logger: pino.Logger) => Promise<{
      readonly env: Record<string, string>;
      readonly create: () => CredentialSource;
      readonly standIn: { setAvailability(a: 'up' | 'error' | 'refuse'): void; readonly issued: ReadonlyArray<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }> };
      readonly down: 'error' | 'refuse';
      readonly mentions: string;
    }>;
  }
  const outageCases: OutageCase[] = [
    {
      name: 'STS (AssumeRole answers 500)',
      setUp: async (logger) => {
        const stsStandIn = await sts(3_000);
        const base = keys.issueLongTerm();
        return {
          env: { AWS_ENDPOINT_URL_STS: stsStandIn.url },
          create: () =>
            source({ kind: 'assume-role', roleArn: ROLE_ARN, region: REGION, base: { kind: 'static', accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey } }, logger),
          standIn: stsStandIn,
          down: 'error',
          mentions: ROLE_ARN,
        };
      },
    },
    {
      name: 'IMDSv2 (connections reset)',
      setUp: async (logger) => {
        const metadata = await imds(3_000);
        return {
          env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: metadata.url },
          create: () => source({ kind: 'chain', region: REGION }, logger),
          standIn: metadata,
          down: 'refuse',
          mentions: 'AWS default credential chain',
        };
      },
    },
  ];

  it.each(outageCases)('$name down during a refresh: the old credentials keep serving, one log line; ERR_CREDENTIALS once expired; recovery logged once', async ({ setUp }) => {
    const logs = captureLogs();
    const { env, create, standIn, down, mentions } = await setUp(logs.logger);
    await withAwsEnvironment(env, async () => {
      const s = create();
      const before = await s.ready(WAIT_MS);
      standIn.setAvailability(down);
      await waitFor('the outage warning', () => ours(logs.lines, WARN).length > 0);
      // Still valid: still served, unchanged.
      expect(s.current()).toBe(before);
      const warns = ours(logs.lines, WARN);
      expect(warns).toHaveLength(1);
      expect(warns[0]).toMatchObject({ routes: ['r1', 'r2'], source: s.description, validUntil: before.expiration?.toISOString() });
      // Once they expire: ERR_CREDENTIALS, still the one line, however many retries.
      await waitFor('expiry', () => s.current() === undefined);
      const err = await rejection(s.ready(1_000));
      expect(err).toMatchObject({ code: ERROR_CODES.CREDENTIALS, status: 502 });
      expect(err.message).toContain(mentions);
      await waitFor('several retries', () => logs.lines.filter((l) => l.msg === 'AWS credentials fetch failed').length >= 3);
      expect(ours(logs.lines, WARN)).toHaveLength(1);
      // Back up: recovers by itself, logged once.
      standIn.setAvailability('up');
      await waitFor('recovery', () => s.current() !== undefined);
      expectIssuedBy(s.current(), standIn.issued);
      expect(s.current()?.accessKeyId).not.toBe(before.accessKeyId);
      const infos = ours(logs.lines, INFO);
      expect(infos).toHaveLength(1);
      expect(infos[0]?.msg).toBe('AWS credentials available again');
      expect(ours(logs.lines, WARN)).toHaveLength(1);
      s.close();
    });
  });

  it('no credentials at all: ERR_CREDENTIALS, one warning naming the routes and the source, recovery when they appear', async () => {
    const logs = captureLogs();
    const late = keys.issueLongTerm();
    await withAwsEnvironment({}, async () => {
      const s = source({ kind: 'chain', region: REGION }, logs.logger);
      const err = await rejection(s.ready(WAIT_MS));
      expect(err).toMatchObject({ code: ERROR_CODES.CREDENTIALS, status: 502 });
      expect(err.message).toContain('AWS default credential chain');
      expect(s.current()).toBeUndefined();
      // While the outage lasts, callers are answered at once, not queued behind retries.
      const started = Date.now();
      expect((await rejection(s.ready(WAIT_MS))).code).toBe(ERROR_CODES.CREDENTIALS);
      expect(Date.now() - started).toBeLessThan(100);
      await waitFor('several retries', () => logs.lines.filter((l) => l.msg === 'AWS credentials fetch failed').length >= 3);
      const warns = ours(logs.lines, WARN);
      expect(warns).toHaveLength(1);
      expect(warns[0]).toMatchObject({ routes: ['r1', 'r2'], source: 'AWS default credential chain' });
      expect(String(warns[0]?.msg)).toContain(ERROR_CODES.CREDENTIALS);
      // The identity arrives late (a mounted credentials file): picked up by the next retry.
      writeFileSync(String(process.env.AWS_SHARED_CREDENTIALS_FILE), `[default]\naws_access_key_id = ${late.accessKeyId}\naws_secret_access_key = ${late.secretAccessKey}\n`);
      await waitFor('credentials to appear', () => s.current() !== undefined);
      expectIssuedBy(s.current(), [late]);
      expect(ours(logs.lines, WARN)).toHaveLength(1);
      expect(ours(logs.lines, INFO)).toHaveLength(1);
      s.close();
    });
  });

  it('ready() is bounded by its timeout while the first fetch hangs, and by the caller\'s signal', async () => {
    const slow = await sts(HOUR_MS, 2_000);
    const base = keys.issueLongTerm();
    await withAwsEnvironment({ AWS_ENDPOINT_URL_STS: slow.url }, async () => {
      const s = source(
        { kind: 'assume-role', roleArn: ROLE_ARN, region: REGION, base: { kind: 'static', accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey } },
        captureLogs().logger,
      );
      const started = Date.now();
      const err = await rejection(s.ready(200));
      expect(err.code).toBe(ERROR_CODES.CREDENTIALS);
      expect(err.message).toContain('within 200 ms');
      expect(Date.now() - started).toBeLessThan(1_500);
      const aborted = new AbortController();
      const pending = s.ready(WAIT_MS, aborted.signal);
      aborted.abort();
      expect((await rejection(pending)).code).toBe(ERROR_CODES.CLIENT_GONE);
      expectIssuedBy(await s.ready(WAIT_MS), slow.issued);
      s.close();
    });
  });
});

describe('secrets', () => {
  it('no secret key, session token, web identity token or container token in any trace-level log line or message', () => {
    const secrets = [...keys.secrets(), ...otherSecrets];
    expect(secrets.length).toBeGreaterThan(20);
    // The scan is not vacuous: the SDK's own trace lines and our warnings were captured.
    expect(allLogLines.some((l) => l.includes('"sdk":true'))).toBe(true);
    expect(allLogLines.some((l) => l.includes('"level":40'))).toBe(true);
    const text = [...allLogLines, ...errorMessages].join('\n');
    for (const secret of secrets) {
      const at = text.indexOf(secret);
      expect(at === -1 ? 'absent' : text.slice(Math.max(0, at - 300), at + 40)).toBe('absent');
    }
  });
});

/**
 * AWS credentials end to end (issue 10): client → real Envoy (envoy/envoy.yaml, ext_proc) → the built
 * sidecar → an API-Gateway stand-in that accepts only keys the AWS stand-ins issued (IssuedKeys) and
 * verifies each signature, session token included, with the AWS SDK's own signer.
 *
 * One sidecar process (and Envoy) per environment, each started with exactly the AWS variables of
 * its case and `--log-level trace`: environment keys, shared files (AWS_PROFILE and iam.profile),
 * static keys and the chain under role_arn, web identity, container credentials (short-lived, under
 * load), IMDSv2 (an outage during a refresh), and none at all. At the end every log line of every
 * sidecar is scanned for every secret used.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type StandIn, startStandIn } from '../../demo/lambda-stand-in';
import { type ContainerCredentialsStandIn, startContainerCredentialsStandIn } from '../support/aws/container-credentials-stand-in';
import { type ImdsStandIn, startImdsStandIn } from '../support/aws/imds-stand-in';
import { type IssuedCredentials, IssuedKeys } from '../support/aws/issued-keys';
import { startStsStandIn, type StsStandIn } from '../support/aws/sts-stand-in';
import { receivedHeader, sendHttp1 } from './scenarios';
import {
  type EnvoyProcess,
  freeEnvoyPorts,
  type PlainUpstream,
  renderEnvoyConfig,
  type SidecarProcess,
  sleep,
  startEnvoy,
  startPlainUpstream,
  startSidecar,
  waitFor,
} from './support/processes';

jest.setTimeout(60_000);

const REGION = 'eu-west-1';
const ROLE_ARN = 'arn:aws:iam::444455556666:role/cross-account-invoker';
const WEB_IDENTITY_ROLE_ARN = 'arn:aws:iam::111122223333:role/irsa-role';
/** Short-lived container credentials: refreshed halfway, so a 6 s load sees at least two refreshes. */
const CONTAINER_LIFETIME_MS = 2_500;
const LOAD_MS = 6_000;
const LOAD_CONCURRENCY = 4;
/** IMDS credentials refresh at half this (4 s); the retry after a failed refresh comes 1 s later, then 2 s. */
const IMDS_LIFETIME_MS = 8_000;

interface Stack {
  readonly name: string;
  readonly sidecar: SidecarProcess;
  readonly envoy: EnvoyProcess;
  get(routeId: string): Promise<{ status: number; body: string }>;
}

const keys = new IssuedKeys();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-credentials-'));
let fn: StandIn;
let sts: StsStandIn;
let imds: ImdsStandIn;
let container: ContainerCredentialsStandIn;
let upstream: PlainUpstream;
const stacks = new Map<string, Stack>();
let profileKeys: { dev: IssuedCredentials; other: IssuedCredentials; routeStatic: IssuedCredentials; lateDefault: IssuedCredentials };
let envKeys: IssuedCredentials;

function route(id: string, iam: Record<string, unknown>): unknown {
  return { id, uri: `/${id}`, plugins: { 'aws-lambda': { function_uri: `${fn.url}/default/${id}`, authorization: { iam } } } };
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

function credentialsFile(profiles: Record<string, IssuedCredentials>): string {
  return Object.entries(profiles)
    .map(([name, c]) => `[${name}]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n`)
    .join('\n');
}

/** What every sidecar starts from: no AWS source at all, IMDS off, STS at the stand-in. */
function baseEnv(name: string): Record<string, string> {
  return {
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, `${name}-no-credentials`),
    AWS_CONFIG_FILE: path.join(dir, `${name}-no-config`),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL_STS: sts.url,
  };
}

async function startStack(name: string, env: Record<string, string>, routes: unknown[]): Promise<Stack> {
  const routesPath = file(`${name}-routes.json`, JSON.stringify({ routes }));
  const sidecar = await startSidecar(
    ['--config', routesPath, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--log-level', 'trace'],
    { name: `sidecar-${name}`, env: { ...baseEnv(name), ...env } },
  );
  const grpcPort = Number(sidecar.grpcAddress.slice(sidecar.grpcAddress.lastIndexOf(':') + 1));
  const ports = await freeEnvoyPorts(grpcPort, upstream.port);
  const envoy = await startEnvoy(renderEnvoyConfig('envoy/envoy.yaml', ports), ports, { name: `envoy-${name}` });
  const stack: Stack = {
    name,
    sidecar,
    envoy,
    get: async (routeId) => {
      const res = await sendHttp1(ports.listener, { method: 'GET', path: `/${routeId}?name=creds` });
      return { status: res.status, body: res.body.toString('utf8') };
    },
  };
  stacks.set(name, stack);
  return stack;
}

function stack(name: string): Stack {
  const s = stacks.get(name);
  if (s === undefined) throw new Error(`stack ${name} did not start`);
  return s;
}

/** The access key id that signed the last request the function received on `routeId`. */
function lastSigningKey(routeId: string): string | undefined {
  for (let i = fn.received.length - 1; i >= 0; i--) {
    const r = fn.received[i];
    if (r?.rawPath !== `/default/${routeId}`) continue;
    return /Credential=([^/]+)\//.exec(receivedHeader(r, 'authorization')[0] ?? '')?.[1];
  }
  return undefined;
}

async function expectSignedBy(s: Stack, routeId: string, issuer: string | IssuedCredentials): Promise<void> {
  const res = await s.get(routeId);
  expect({ routeId, status: res.status, body: res.body }).toEqual({ routeId, status: 200, body: '"Hello, creds!"' });
  const keyId = lastSigningKey(routeId) ?? '';
  const issued = keys.lookup(keyId);
  if (typeof issuer === 'string') expect(issued?.issuer).toBe(issuer);
  else expect(keyId).toBe(issuer.accessKeyId);
}

function logsOf(s: Stack, msg: string): Array<Record<string, unknown>> {
  return s.sidecar.logLines().filter((l) => l.msg === msg || (typeof l.msg === 'string' && l.msg.startsWith(msg)));
}

beforeAll(async () => {
  // A developer's own AWS setup must not make a case pass: the sidecars get only what each case names.
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
  fn = await startStandIn({ iam: { issuedKeys: keys, region: REGION, service: 'execute-api' } });
  sts = await startStsStandIn({ keys, lifetimeMs: 3_600_000 });
  imds = await startImdsStandIn({ keys, lifetimeMs: IMDS_LIFETIME_MS });
  container = await startContainerCredentialsStandIn({ keys, lifetimeMs: CONTAINER_LIFETIME_MS });
  upstream = await startPlainUpstream();
  envKeys = keys.issueTemporary('environment', 3_600_000);
  profileKeys = { dev: keys.issueLongTerm('profile-dev'), other: keys.issueLongTerm('profile-other'), routeStatic: keys.issueLongTerm('route-keys'), lateDefault: keys.issueLongTerm('late-default') };
  const sharedFile = file('credentials', credentialsFile({ dev: profileKeys.dev, other: profileKeys.other }));
  await Promise.all([
    startStack('env', { AWS_ACCESS_KEY_ID: envKeys.accessKeyId, AWS_SECRET_ACCESS_KEY: envKeys.secretAccessKey, AWS_SESSION_TOKEN: envKeys.sessionToken ?? '' }, [route('chain', {})]),
    startStack('files', { AWS_SHARED_CREDENTIALS_FILE: sharedFile, AWS_PROFILE: 'dev' }, [
      route('chain', {}),
      route('profile', { profile: 'other' }),
      route('role-static', { accesskey: profileKeys.routeStatic.accessKeyId, secret_key: profileKeys.routeStatic.secretAccessKey, role_arn: ROLE_ARN, external_id: 'ext-e2e-1', duration_seconds: 900 }),
      route('role-chain', { role_arn: ROLE_ARN, role_session_name: 'e2e-on-chain' }),
    ]),
    startStack('web-identity', { AWS_WEB_IDENTITY_TOKEN_FILE: file('web-identity-token', sts.webIdentityToken), AWS_ROLE_ARN: WEB_IDENTITY_ROLE_ARN }, [route('chain', {})]),
    startStack('container', { AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: container.authorizationToken }, [route('chain', {})]),
    startStack('imds', { AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }, [route('chain', {})]),
  ]);
});

afterAll(async () => {
  await Promise.all([...stacks.values()].flatMap((s) => [s.envoy.stop(), s.sidecar.stop()]));
  await Promise.all([fn?.close(), sts?.close(), imds?.close(), container?.close(), upstream?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('each source of the default chain (authorization.iam: {})', () => {
  it('environment keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)', async () => {
    await expectSignedBy(stack('env'), 'chain', envKeys);
  });

  it('shared credentials file with AWS_PROFILE', async () => {
    await expectSignedBy(stack('files'), 'chain', profileKeys.dev);
  });

  it('web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, STS at AWS_ENDPOINT_URL_STS', async () => {
    await expectSignedBy(stack('web-identity'), 'chain', 'sts:AssumeRoleWithWebIdentity');
    expect(sts.requests.some((r) => r.action === 'AssumeRoleWithWebIdentity' && r.params.RoleArn === WEB_IDENTITY_ROLE_ARN)).toBe(true);
  });

  it('container credentials (ECS / EKS Pod Identity): _FULL_URI on loopback + AWS_CONTAINER_AUTHORIZATION_TOKEN', async () => {
    await expectSignedBy(stack('container'), 'chain', 'container');
  });

  it('EC2 IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT', async () => {
    await expectSignedBy(stack('imds'), 'chain', 'imds');
  });
});

describe('iam.profile and role_arn', () => {
  it('iam.profile picks a profile other than AWS_PROFILE', async () => {
    await expectSignedBy(stack('files'), 'profile', profileKeys.other);
  });

  it('role_arn on the route\'s static keys: AssumeRole signed with them, in the route region, with external_id and duration_seconds', async () => {
    await expectSignedBy(stack('files'), 'role-static', 'sts:AssumeRole');
    const call = sts.requests.find((r) => r.action === 'AssumeRole' && r.callerAccessKeyId === profileKeys.routeStatic.accessKeyId);
    expect(call).toMatchObject({
      outcome: 'issued',
      signingRegion: REGION,
      params: { RoleArn: ROLE_ARN, RoleSessionName: 'aws-lambda-sidecar', ExternalId: 'ext-e2e-1', DurationSeconds: '900' },
    });
  });

  it('role_arn on the default chain (AWS_PROFILE here) with role_session_name', async () => {
    await expectSignedBy(stack('files'), 'role-chain', 'sts:AssumeRole');
    const call = sts.requests.find((r) => r.action === 'AssumeRole' && r.callerAccessKeyId === profileKeys.dev.accessKeyId);
    expect(call).toMatchObject({ outcome: 'issued', params: { RoleArn: ROLE_ARN, RoleSessionName: 'e2e-on-chain' } });
  });
});

describe('refresh', () => {
  it(`short-lived credentials (${CONTAINER_LIFETIME_MS} ms) under ${LOAD_MS} ms of load: at least two refreshes, zero failed requests`, async () => {
    const s = stack('container');
    const issuedBefore = container.issued.length;
    const statuses = new Map<number, number>();
    const signingKeys = new Set<string>();
    const deadline = Date.now() + LOAD_MS;
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async () => {
        while (Date.now() < deadline) {
          const res = await s.get('chain');
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const key = lastSigningKey('chain');
          if (key !== undefined) signingKeys.add(key);
        }
      }),
    );
    expect([...statuses.keys()]).toEqual([200]);
    expect(container.issued.length - issuedBefore).toBeGreaterThanOrEqual(2);
    expect(signingKeys.size).toBeGreaterThanOrEqual(3);
    // Background refreshes only: no outage was ever logged.
    expect(logsOf(s, 'AWS credentials refresh failed')).toEqual([]);
  });

  it('an IMDS outage during a refresh: the old credentials keep serving, one warning, then the new ones', async () => {
    const s = stack('imds');
    await waitFor('the first IMDS credentials', () => imds.issued.length >= 1, 5_000);
    const first = imds.issued[imds.issued.length - 1] as IssuedCredentials;
    imds.setAvailability('error');
    let issuedDuringOutage = 0;
    try {
      await waitFor('a refresh attempt while IMDS is down', () => imds.calls('down') >= 1, IMDS_LIFETIME_MS);
      for (let i = 0; i < 3; i++) await expectSignedBy(s, 'chain', first);
      expect(logsOf(s, 'AWS credentials refresh failed')).toHaveLength(1);
      issuedDuringOutage = imds.issued.length;
    } finally {
      imds.setAvailability('up');
    }
    await waitFor('IMDS credentials after the outage', () => imds.issued.length > issuedDuringOutage, IMDS_LIFETIME_MS);
    await waitFor('a request signed with the new key', async () => (await s.get('chain')).status === 200 && lastSigningKey('chain') !== first.accessKeyId, 5_000);
    expect(logsOf(s, 'AWS credentials available again')).toHaveLength(1);
  });
});

describe('no credentials at all', () => {
  it('502 ERR_CREDENTIALS {"message"}, one warning naming the routes, /healthz 200, and recovery once credentials appear', async () => {
    // Started here, not with the others: the background retries come 1, 3, 7, 15 s after start, so
    // the credentials file below appears early in that schedule and recovery takes seconds.
    const s = await startStack('none', {}, [route('chain', {}), route('also-chain', {})]);
    for (const id of ['chain', 'also-chain', 'chain']) {
      const res = await s.get(id);
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body)).toEqual({ message: expect.stringContaining('AWS default credential chain') });
    }
    const warnings = logsOf(s, 'no AWS credentials');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, source: 'AWS default credential chain', routes: ['also-chain', 'chain'] });
    // Once per outage, not once per request: the failed requests log at debug only.
    expect(s.sidecar.logLines().filter((l) => typeof l.level === 'number' && l.level >= 40)).toEqual(warnings);
    // The log lines come over the sidecar's stdout pipe, the answers through Envoy: wait for the last.
    const failureLines = (): unknown[] => s.sidecar.logLines().filter((l) => l.code === 'ERR_CREDENTIALS' && l.level === 20 && l.msg !== 'request');
    await waitFor('the three debug failure lines', () => failureLines().length >= 3, 2_000);
    expect(failureLines()).toHaveLength(3);
    const health = await sendHttp1(Number(s.sidecar.httpAddress?.split(':').pop()), { method: 'GET', path: '/healthz' });
    expect(health.status).toBe(200);
    // The identity arrives late (a pod's token, a mounted file): the background retry finds it.
    file('none-no-credentials', credentialsFile({ default: profileKeys.lateDefault }));
    await waitFor('recovery once the credentials file appears', async () => (await s.get('chain')).status === 200, 12_000);
    await expectSignedBy(s, 'also-chain', profileKeys.lateDefault);
    expect(logsOf(s, 'no AWS credentials')).toHaveLength(1);
    // Both routes share one source; its fetches and failures are on /metrics.
    const scrape = await (await fetch(`http://127.0.0.1:${Number(s.sidecar.httpAddress?.split(':').pop())}/metrics`)).text();
    const sample = (name: string): number => Number(new RegExp(`^aws_lambda_sidecar_${name}\\{source="AWS default credential chain"\\} (\\d+)$`, 'm').exec(scrape)?.[1] ?? NaN);
    const failures = sample('credential_fetch_failures_total');
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(sample('credential_fetches_total')).toBe(failures + 1);
  });
});

describe('secrets stay out of the logs', () => {
  it('no secret key, session token, web identity token or container token in any line, trace level included', async () => {
    await sleep(100);
    const secrets = [...keys.secrets(), sts.webIdentityToken, container.authorizationToken, ...imds.sessionTokens];
    expect(secrets.length).toBeGreaterThan(10);
    for (const s of stacks.values()) {
      const text = `${s.sidecar.output()}\n${s.sidecar.logLines().map((l) => JSON.stringify(l)).join('\n')}`;
      expect(s.sidecar.logLines().some((l) => l.level === 10)).toBe(true); // trace lines were written
      const found = secrets.filter((secret) => text.includes(secret));
      expect({ stack: s.name, found }).toEqual({ stack: s.name, found: [] });
    }
  });
});

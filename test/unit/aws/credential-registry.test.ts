// One credential source per identity, reference counted across routes and reloads; real SDK
// providers against the IMDS stand-in, so "shared" is measured as calls on the wire.
import pino from 'pino';
import type { CredentialSpec } from '../../../src/aws/credential-source';
import { CredentialRegistry, credentialSpecKey } from '../../../src/aws/credential-registry';
import { ERROR_CODES } from '../../../src/errors';
import { withAwsEnvironment } from '../../support/aws/aws-environment';
import { startImdsStandIn } from '../../support/aws/imds-stand-in';
import { IssuedKeys } from '../../support/aws/issued-keys';

const chain: CredentialSpec = { kind: 'chain', region: 'us-east-1' };
const role = (over: Partial<Extract<CredentialSpec, { kind: 'assume-role' }>> = {}): CredentialSpec => ({
  kind: 'assume-role',
  roleArn: 'arn:aws:iam::1:role/r',
  region: 'us-east-1',
  base: chain,
  ...over,
});

describe('credentialSpecKey', () => {
  it('is equal for the same identity and differs for each field that changes it', () => {
    expect(credentialSpecKey(role())).toBe(credentialSpecKey(role({ roleSessionName: 'aws-lambda-sidecar' })));
    const variants = [
      role(),
      role({ roleSessionName: 'other' }),
      role({ externalId: 'x' }),
      role({ durationSeconds: 900 }),
      role({ region: 'eu-west-1' }),
      role({ roleArn: 'arn:aws:iam::2:role/r' }),
      role({ base: { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 'secret-one-1234' } }),
      chain,
      { kind: 'chain', region: 'eu-west-1' },
      { kind: 'profile', profile: 'dev', region: 'us-east-1' },
      { kind: 'profile', profile: 'prod', region: 'us-east-1' },
      { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 'secret-one-1234' },
      { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 'secret-two-1234' },
      { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 'secret-one-1234', sessionToken: 'token-1234' },
      { kind: 'static', accessKeyId: 'AKIA2', secretAccessKey: 'secret-one-1234' },
    ] satisfies CredentialSpec[];
    expect(new Set(variants.map(credentialSpecKey)).size).toBe(variants.length);
  });
  it('never contains a secret', () => {
    const key = credentialSpecKey(role({ base: { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 'wJalrXUtnFEMIsecret', sessionToken: 'IQoJsessiontoken' } }));
    expect(key).toContain('AKIA1');
    expect(key).not.toContain('wJalrXUtnFEMIsecret');
    expect(key).not.toContain('IQoJsessiontoken');
  });
});

describe('CredentialRegistry', () => {
  const keys = new IssuedKeys();

  it('shares one source between routes, keeps it across a reload, closes it when no route is left', async () => {
    const imds = await startImdsStandIn({ keys, lifetimeMs: 3_600_000 });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    try {
      await withAwsEnvironment({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }, async () => {
        const registry = new CredentialRegistry({ logger });
        // First table: routes a and b on the chain, c on static keys.
        const a = registry.acquire(chain, 'a');
        const b = registry.acquire({ kind: 'chain', region: 'us-east-1' }, 'b');
        const c = registry.acquire({ kind: 'static', accessKeyId: 'AKIASTATIC', secretAccessKey: 'static-secret-1234' }, 'c');
        expect(b.source).toBe(a.source);
        expect(registry.size).toBe(2);
        const first = await a.source.ready(5_000);
        expect(imds.calls('credentials')).toBe(1);

        // Reload: the new table keeps a on the chain, drops b and c. Acquire new, then release old.
        const a2 = registry.acquire(chain, 'a');
        for (const lease of [a, b, c]) lease.release();
        expect(a2.source).toBe(a.source);
        expect(registry.size).toBe(1);
        expect(a2.source.current()).toBe(first); // no refetch, no gap
        expect(imds.calls('credentials')).toBe(1);
        a.release(); // idempotent: does not drop a2's hold
        expect(registry.size).toBe(1);

        // A new identity after the reload is a new source; the last release closes it.
        // STS at a closed loopback port: the new source's warm-up never leaves the machine.
        process.env.AWS_ENDPOINT_URL_STS = 'http://127.0.0.1:9';
        const d = registry.acquire(role({ externalId: 'e' }), 'd');
        expect(d.source).not.toBe(a2.source);
        expect(registry.size).toBe(2);
        d.release();
        a2.release();
        expect(registry.size).toBe(0);
        // Closed: a fresh acquire builds (and fetches) again.
        const again = registry.acquire(chain, 'a');
        expect(again.source).not.toBe(a.source);
        await again.source.ready(5_000);
        expect(imds.calls('credentials')).toBe(2);
        registry.close();
        expect(registry.size).toBe(0);
      });
    } finally {
      await imds.close();
    }
  });

  it('names every route using a source in its outage line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    await withAwsEnvironment({}, async () => {
      const registry = new CredentialRegistry({ logger, timings: { retryInitialDelayMs: 60_000 } });
      const leases = ['r2', 'r1', 'r3'].map((id) => registry.acquire(chain, id));
      const err = await leases[0]?.source.ready(5_000).catch((e: { code?: string }) => e);
      expect((err as { code?: string }).code).toBe(ERROR_CODES.CREDENTIALS);
      const warns = lines.filter((l) => l.level === 40);
      expect(warns).toHaveLength(1);
      expect(warns[0]).toMatchObject({ routes: ['r1', 'r2', 'r3'], source: 'AWS default credential chain' });
      registry.close();
    });
  });
});

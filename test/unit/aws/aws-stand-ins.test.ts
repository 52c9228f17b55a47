// The AWS stand-ins refuse what AWS refuses: a stand-in that accepted anything would let the
// credential tests pass with broken signing or a skipped IMDSv2 token.
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { request as httpRequest } from 'undici';
import { startContainerCredentialsStandIn } from '../../support/aws/container-credentials-stand-in';
import { IMDS_CREDENTIALS_PATH, IMDS_TOKEN_PATH, startImdsStandIn } from '../../support/aws/imds-stand-in';
import { type IssuedCredentials, IssuedKeys } from '../../support/aws/issued-keys';
import { startStsStandIn, type StsStandIn } from '../../support/aws/sts-stand-in';

const keys = new IssuedKeys();

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  const res = await httpRequest(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('IMDSv2 stand-in', () => {
  it('needs a token from PUT /latest/api/token with a TTL header, and 401s every GET without it', async () => {
    const imds = await startImdsStandIn({ keys, lifetimeMs: 60_000 });
    try {
      expect((await call(`${imds.url}${IMDS_CREDENTIALS_PATH}`)).status).toBe(401);
      expect((await call(`${imds.url}${IMDS_CREDENTIALS_PATH}`, { headers: { 'x-aws-ec2-metadata-token': 'made-up' } })).status).toBe(401);
      expect((await call(`${imds.url}${IMDS_TOKEN_PATH}`, { method: 'PUT' })).status).toBe(400);
      expect((await call(`${imds.url}${IMDS_TOKEN_PATH}`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21601' } })).status).toBe(400);
      expect(
        (await call(`${imds.url}${IMDS_TOKEN_PATH}`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' } })).status,
      ).toBe(403);
      const token = await call(`${imds.url}${IMDS_TOKEN_PATH}`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } });
      expect(token.status).toBe(200);
      const role = await call(`${imds.url}${IMDS_CREDENTIALS_PATH}`, { headers: { 'x-aws-ec2-metadata-token': token.body } });
      const doc = JSON.parse((await call(`${imds.url}${IMDS_CREDENTIALS_PATH}${role.body}`, { headers: { 'x-aws-ec2-metadata-token': token.body } })).body) as Record<string, string>;
      expect(doc).toMatchObject({ Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: imds.issued[0]?.accessKeyId, Token: imds.issued[0]?.sessionToken });
      expect(doc.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(imds.calls('unauthorized')).toBe(2);
    } finally {
      await imds.close();
    }
  });
});

describe('container credentials stand-in', () => {
  it('answers only the Authorization token it expects', async () => {
    const endpoint = await startContainerCredentialsStandIn({ keys, lifetimeMs: 60_000 });
    try {
      expect((await call(endpoint.fullUri)).status).toBe(401);
      expect((await call(endpoint.fullUri, { headers: { authorization: 'wrong' } })).status).toBe(401);
      const ok = await call(endpoint.fullUri, { headers: { authorization: endpoint.authorizationToken } });
      expect(JSON.parse(ok.body)).toMatchObject({ AccessKeyId: endpoint.issued[0]?.accessKeyId, Token: endpoint.issued[0]?.sessionToken });
      endpoint.setAvailability('error');
      expect((await call(endpoint.fullUri, { headers: { authorization: endpoint.authorizationToken } })).status).toBe(500);
    } finally {
      await endpoint.close();
    }
  });
});

describe('STS stand-in', () => {
  let sts: StsStandIn;
  beforeAll(async () => {
    sts = await startStsStandIn({ keys, lifetimeMs: 60_000 });
  });
  afterAll(() => sts.close());

  const form = 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=s';

  async function signedCall(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, body: string, sentBody = body): Promise<{ status: number; body: string }> {
    const signer = new SignatureV4({ credentials: creds, region: 'eu-central-1', service: 'sts', sha256: Sha256 });
    const signed = await signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: sts.port,
        path: '/',
        headers: { host: `127.0.0.1:${sts.port}`, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }),
    );
    return call(sts.url, { method: 'POST', headers: signed.headers as Record<string, string>, body: sentBody });
  }

  it('issues credentials to a correctly signed AssumeRole from a key it knows', async () => {
    const caller = keys.issueLongTerm();
    const ok = await signedCall(caller, form);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
    expect(ok.body).toContain(`<AccessKeyId>${sts.issued.at(-1)?.accessKeyId}</AccessKeyId>`);
    expect(sts.requests.at(-1)).toMatchObject({ outcome: 'issued', signingRegion: 'eu-central-1', callerAccessKeyId: caller.accessKeyId });
  });

  it('refuses a wrong secret, a tampered body, an unknown key, a missing or wrong session token, and expired credentials', async () => {
    const caller = keys.issueLongTerm();
    const temporary = keys.issueTemporary('test', 60_000);
    const expired: IssuedCredentials = keys.issueTemporary('test', -1_000);
    const cases: Array<[string, Promise<{ status: number; body: string }>, string]> = [
      ['wrong secret', signedCall({ ...caller, secretAccessKey: `${caller.secretAccessKey}x` }, form), 'SignatureDoesNotMatch'],
      ['tampered body', signedCall(caller, form, form.replace('RoleSessionName=s', 'RoleSessionName=t')), 'SignatureDoesNotMatch'],
      ['unknown key', signedCall({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: caller.secretAccessKey }, form), 'InvalidClientTokenId'],
      ['token missing', signedCall({ accessKeyId: temporary.accessKeyId, secretAccessKey: temporary.secretAccessKey }, form), 'InvalidClientTokenId'],
      ['token wrong', signedCall({ ...temporary, sessionToken: 'IQoJ-not-it' }, form), 'InvalidClientTokenId'],
      ['expired', signedCall(expired, form), 'ExpiredToken'],
    ];
    for (const [name, pending, code] of cases) {
      const res = await pending;
      expect([name, res.status, /<Code>([^<]+)<\/Code>/.exec(res.body)?.[1]]).toEqual([name, 403, code]);
    }
    expect((await signedCall(temporary, form)).status).toBe(200);
  });

  it('AssumeRoleWithWebIdentity accepts only its token, unsigned', async () => {
    const body = (token: string): string =>
      `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=${encodeURIComponent(token)}`;
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const bad = await call(sts.url, { method: 'POST', headers, body: body('eyJ.not.it') });
    expect([bad.status, /<Code>([^<]+)<\/Code>/.exec(bad.body)?.[1]]).toEqual([400, 'InvalidIdentityToken']);
    const ok = await call(sts.url, { method: 'POST', headers, body: body(sts.webIdentityToken) });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('<AssumeRoleWithWebIdentityResponse');
    expect(JSON.stringify(sts.requests)).not.toContain(sts.webIdentityToken);
  });
});

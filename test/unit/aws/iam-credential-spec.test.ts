import { resolveIamCredentials } from '../../../src/aws/iam-credential-spec';
import { ERROR_CODES } from '../../../src/errors';
import { failure } from '../../support/failure';

const ROLE = 'arn:aws:iam::444455556666:role/invoker';

describe('resolveIamCredentials', () => {
  it('iam: {} is the default chain, in the environment region or us-east-1', () => {
    expect(resolveIamCredentials('r', {}, {})).toEqual({ region: 'us-east-1', spec: { kind: 'chain', region: 'us-east-1' } });
    expect(resolveIamCredentials('r', {}, { AWS_REGION: 'eu-west-1' }).spec).toEqual({ kind: 'chain', region: 'eu-west-1' });
  });
  it('keys are static (APISIX), aws_region wins over the environment', () => {
    expect(resolveIamCredentials('r', { accesskey: 'AKIA1', secret_key: 's', session_token: 't', aws_region: 'us-west-2' }, { AWS_REGION: 'eu-west-1' })).toEqual({
      region: 'us-west-2',
      spec: { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 's', sessionToken: 't' },
    });
  });
  it('a profile', () => {
    expect(resolveIamCredentials('r', { profile: 'dev' }, {}).spec).toEqual({ kind: 'profile', profile: 'dev', region: 'us-east-1' });
  });
  it('role_arn on top of the keys, the profile, or the chain, with its options', () => {
    const env = { AWS_DEFAULT_REGION: 'ap-south-1' };
    expect(resolveIamCredentials('r', { role_arn: ROLE, accesskey: 'AKIA1', secret_key: 's' }, env).spec).toEqual({
      kind: 'assume-role', roleArn: ROLE, region: 'ap-south-1', base: { kind: 'static', accessKeyId: 'AKIA1', secretAccessKey: 's' },
    });
    expect(resolveIamCredentials('r', { role_arn: ROLE, profile: 'dev' }, env).spec).toMatchObject({ base: { kind: 'profile', profile: 'dev', region: 'ap-south-1' } });
    expect(resolveIamCredentials('r', { role_arn: ROLE, role_session_name: 'n', external_id: 'x', duration_seconds: 900 }, env).spec).toEqual({
      kind: 'assume-role', roleArn: ROLE, region: 'ap-south-1', base: { kind: 'chain', region: 'ap-south-1' }, roleSessionName: 'n', externalId: 'x', durationSeconds: 900,
    });
  });
  it('refuses combinations that cannot mean one thing, naming the route and field', () => {
    const cases: Array<[Parameters<typeof resolveIamCredentials>[1], string]> = [
      [{ accesskey: 'AKIA1' }, 'iam.secret_key'],
      [{ secret_key: 's' }, 'iam.accesskey'],
      [{ session_token: 't' }, 'iam.session_token'],
      [{ external_id: 'x' }, 'iam.external_id'],
      [{ duration_seconds: 900 }, 'iam.duration_seconds'],
      [{ role_session_name: 'n' }, 'iam.role_session_name'],
      [{ profile: 'dev', accesskey: 'AKIA1', secret_key: 's' }, 'iam.profile'],
    ];
    for (const [iam, field] of cases) {
      const f = failure(() => resolveIamCredentials('r7', iam, {}));
      expect([f.code, f.status]).toEqual([ERROR_CODES.CONFIG_INVALID, 400]);
      expect(f.message).toContain(`route "r7": plugins.aws-lambda.authorization.${field}: `);
      expect(f.message).not.toContain('"s"');
    }
  });
});

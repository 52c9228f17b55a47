import { DEFAULT_AWS_REGION, resolveAwsRegion } from '../../../src/aws/aws-region';

describe('resolveAwsRegion', () => {
  it('prefers the route, then AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1', () => {
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'ap-south-1' };
    expect(resolveAwsRegion('us-west-2', env)).toBe('us-west-2');
    expect(resolveAwsRegion(undefined, env)).toBe('eu-west-1');
    expect(resolveAwsRegion(undefined, { AWS_DEFAULT_REGION: 'ap-south-1' })).toBe('ap-south-1');
    expect(resolveAwsRegion(undefined, {})).toBe('us-east-1');
    expect(DEFAULT_AWS_REGION).toBe('us-east-1');
  });
  it('treats empty values as unset', () => {
    expect(resolveAwsRegion('', { AWS_REGION: ' ', AWS_DEFAULT_REGION: 'ca-central-1' })).toBe('ca-central-1');
  });
});

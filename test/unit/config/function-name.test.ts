// function_name / qualifier forms (API_Invoke.html FunctionName) and Invoke endpoint resolution.
import { parseFunctionName, resolveLambdaEndpoint } from '../../../src/config/function-name';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}

describe('parseFunctionName', () => {
  it.each([
    ['my-function', undefined, { functionName: 'my-function', name: 'my-function', qualifier: undefined, region: undefined, accountId: undefined, invokePath: '/2015-03-31/functions/my-function/invocations', invokeQuery: '' }],
    ['my-function:prod', undefined, { functionName: 'my-function', qualifier: 'prod', invokeQuery: 'Qualifier=prod' }],
    ['my_function', '$LATEST', { functionName: 'my_function', qualifier: '$LATEST', invokeQuery: 'Qualifier=%24LATEST' }],
    ['123456789012:function:my-function', undefined, { functionName: '123456789012:function:my-function', name: 'my-function', accountId: '123456789012', region: undefined, invokePath: '/2015-03-31/functions/123456789012%3Afunction%3Amy-function/invocations' }],
    ['123456789012:function:my-function:7', undefined, { functionName: '123456789012:function:my-function', qualifier: '7', invokeQuery: 'Qualifier=7' }],
    ['arn:aws:lambda:us-west-2:123456789012:function:my-function', undefined, { name: 'my-function', region: 'us-west-2', accountId: '123456789012', qualifier: undefined, invokePath: '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A123456789012%3Afunction%3Amy-function/invocations' }],
    ['arn:aws:lambda:eu-central-1:123456789012:function:my-function:live', 'live', { functionName: 'arn:aws:lambda:eu-central-1:123456789012:function:my-function', region: 'eu-central-1', qualifier: 'live' }],
    ['arn:aws-cn:lambda:cn-north-1:123456789012:function:f', undefined, { region: 'cn-north-1', name: 'f' }],
    ['arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:1', undefined, { region: 'us-gov-west-1', qualifier: '1' }],
  ])('%s (qualifier %p)', (fn, qualifier, expected) => {
    expect(parseFunctionName('r1', fn, qualifier)).toMatchObject(expected);
  });

  it('a qualifier both in the name and separate, and different → config error naming the route', () => {
    expect(configError(() => parseFunctionName('r1', 'arn:aws:lambda:us-east-1:123456789012:function:f:blue', 'green'))).toBe(
      'ERR_CONFIG_INVALID: route r1: qualifier "green" differs from the one in function_name ("blue"): give one of them',
    );
    expect(configError(() => parseFunctionName('r1', 'f:blue', 'green'))).toMatch(/^ERR_CONFIG_INVALID: route r1: qualifier "green" differs/);
  });

  it.each([
    'arn:aws:lambda:us-east-1:123:function:f', // account id not 12 digits
    'arn:aws:s3:::bucket',
    'has space',
    'a/b',
    'f:two:colons',
    `${'x'.repeat(65)}`,
    '',
  ])('rejects %p', (fn) => {
    expect(configError(() => parseFunctionName('r2', fn))).toMatch(/^ERR_CONFIG_INVALID: route r2: function_name /);
  });

  it('rejects an invalid separate qualifier', () => {
    expect(configError(() => parseFunctionName('r3', 'f', 'a:b'))).toMatch(/^ERR_CONFIG_INVALID: route r3: qualifier "a:b" is not a version/);
  });
});

describe('resolveLambdaEndpoint', () => {
  it('explicit endpoint, then AWS_ENDPOINT_URL_LAMBDA, then AWS_ENDPOINT_URL, then lambda.<region>.amazonaws.com', () => {
    const env = { AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:9001', AWS_ENDPOINT_URL: 'http://127.0.0.1:9002' };
    expect(resolveLambdaEndpoint('r', 'http://127.0.0.1:9000', 'us-east-1', env).href).toBe('http://127.0.0.1:9000/');
    expect(resolveLambdaEndpoint('r', undefined, 'us-east-1', env).href).toBe('http://127.0.0.1:9001/');
    expect(resolveLambdaEndpoint('r', undefined, 'us-east-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:9002' }).href).toBe('http://127.0.0.1:9002/');
    expect(resolveLambdaEndpoint('r', undefined, 'eu-west-3', {}).href).toBe('https://lambda.eu-west-3.amazonaws.com/');
    expect(resolveLambdaEndpoint('r', undefined, 'cn-north-1', {}).href).toBe('https://lambda.cn-north-1.amazonaws.com.cn/');
    expect(resolveLambdaEndpoint('r', '', 'us-east-1', { AWS_ENDPOINT_URL_LAMBDA: '' }).href).toBe('https://lambda.us-east-1.amazonaws.com/');
  });

  it.each([
    ['not a url', /is not a URL/],
    ['ftp://x', /must be an http:\/\/ or https:\/\/ URL/],
    ['http://x/?a=1', /no query, fragment or credentials/],
    ['https://user:pw@x', /no query, fragment or credentials/],
  ])('rejects %p', (endpoint, message) => {
    expect(configError(() => resolveLambdaEndpoint('r9', endpoint, 'us-east-1', {}))).toMatch(message);
  });

  it('names the environment variable that is wrong', () => {
    expect(configError(() => resolveLambdaEndpoint('r9', undefined, 'us-east-1', { AWS_ENDPOINT_URL_LAMBDA: 'nope' }))).toMatch(/AWS_ENDPOINT_URL_LAMBDA "nope" is not a URL/);
  });
});

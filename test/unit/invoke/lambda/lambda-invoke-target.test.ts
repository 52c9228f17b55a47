/**
 * createTarget for `function_name` routes: what the Invoke target decides at setup (path, region,
 * signing service, defaults), and the load-time refusals that name the field.
 */
import { validateRoute } from '../../../../src/config/route-schema';
import type { LambdaInvokeTarget } from '../../../../src/invoke/lambda/lambda-invoke-target';
import pino from 'pino';
import { CredentialRegistry } from '../../../../src/aws/credential-registry';
import { createTarget, DispatcherRegistry } from '../../../../src/invoke/target';

const iam = { accesskey: 'AKIDEXAMPLE', secret_key: 'secret', aws_region: 'us-west-2' };
let registry: DispatcherRegistry;
let credentials: CredentialRegistry;

beforeEach(() => {
  registry = new DispatcherRegistry();
  credentials = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
});

afterEach(async () => {
  await registry.closeAll();
  credentials.close();
});

function build(fields: Record<string, unknown>): LambdaInvokeTarget {
  const route = validateRoute({ id: 'r', uri: '/aws', plugins: { 'aws-lambda': { authorization: { iam }, endpoint: 'http://127.0.0.1:9', ...fields } } });
  return createTarget(route, registry, credentials) as LambdaInvokeTarget;
}

describe('createTarget with function_name', () => {
  it('a bare name: the Invoke path, the iam region, service lambda and the defaults', () => {
    const t = build({ function_name: 'greet' });
    expect(t).toMatchObject({
      kind: 'lambda_invoke',
      origin: 'http://127.0.0.1:9',
      invokePath: '/2015-03-31/functions/greet/invocations',
      invocationType: 'RequestResponse',
      eventFormat: 'apigw_v2',
      functionErrorStatus: 502,
      logTail: false,
      iam: expect.objectContaining({ scope: { region: 'us-west-2', service: 'lambda' } }),
    });
    expect(registry.size).toBe(1);
  });

  it("a full ARN: its region signs, its qualifier is the query; the endpoint's path stays in front", () => {
    const t = build({ function_name: 'arn:aws:lambda:eu-west-1:123456789012:function:greet:live', endpoint: 'http://127.0.0.1:9/proxy/' });
    expect(t.iam.scope).toEqual({ region: 'eu-west-1', service: 'lambda' });
    expect(t.invokePath).toBe('/proxy/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Agreet/invocations');
    expect(t.function.invokeQuery).toBe('Qualifier=live');
  });

  it.each([
    [{ function_name: 'not a name' }, 'plugins.aws-lambda.function_name'],
    [{ function_name: 'greet:1', qualifier: '2' }, 'plugins.aws-lambda.qualifier'],
    [{ function_name: 'greet', endpoint: 'ftp://127.0.0.1' }, 'plugins.aws-lambda.endpoint'],
  ])('%j is refused at load, naming the field', (fields, field) => {
    expect(() => build(fields)).toThrow(field);
    expect(registry.size).toBe(0);
  });
});

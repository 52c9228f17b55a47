/**
 * The AWS region a route signs for and calls STS in: the route's `aws_region` when given, otherwise
 * the environment the AWS SDKs read (`AWS_REGION`, then `AWS_DEFAULT_REGION`), otherwise APISIX's
 * default `us-east-1`. Decided once when a route is built, never per request.
 */

/** APISIX's `aws-lambda` plugin default, kept so pasted routes behave the same. */
export const DEFAULT_AWS_REGION = 'us-east-1';

export function resolveAwsRegion(awsRegion: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  for (const candidate of [awsRegion, env.AWS_REGION, env.AWS_DEFAULT_REGION]) {
    if (candidate !== undefined && candidate.trim() !== '') return candidate.trim();
  }
  return DEFAULT_AWS_REGION;
}

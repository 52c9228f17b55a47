/**
 * Which credential source a route's `authorization.iam` asks for, decided once when the route is
 * built (the route schema checks types and bounds; this decides the combination):
 *
 * - `role_arn` → assume-role, with the route's static keys, else its `profile`, else the default
 *   chain as the credentials that call STS;
 * - else `profile` → that profile of the shared files;
 * - else `accesskey` + `secret_key` → static keys (APISIX's behaviour, unchanged);
 * - else (`iam: {}`) → the AWS default chain.
 *
 * The region is resolved here too (resolveAwsRegion), so the route schema must leave `aws_region`
 * undefined when the route does not set it, or the environment's region is never consulted.
 */
import { ConfigError } from '../errors';
import { resolveAwsRegion } from './aws-region';
import type { CredentialSpec, StaticCredentialSpec } from './credential-source';

/** The fields of `authorization.iam` that choose credentials (APISIX's, then our extensions). */
export interface IamCredentialFields {
  readonly accesskey?: string;
  readonly secret_key?: string;
  readonly session_token?: string;
  readonly aws_region?: string;
  readonly profile?: string;
  readonly role_arn?: string;
  readonly role_session_name?: string;
  readonly external_id?: string;
  readonly duration_seconds?: number;
}

export interface ResolvedIamCredentials {
  readonly spec: CredentialSpec;
  /** The signing region (also STS's region for this route). */
  readonly region: string;
}

function invalid(routeId: string, field: string, reason: string): ConfigError {
  return new ConfigError(`route "${routeId}": plugins.aws-lambda.authorization.iam.${field}: ${reason}`);
}

export function resolveIamCredentials(routeId: string, iam: IamCredentialFields, env: NodeJS.ProcessEnv = process.env): ResolvedIamCredentials {
  const region = resolveAwsRegion(iam.aws_region, env);
  const hasKey = iam.accesskey !== undefined;
  const hasSecret = iam.secret_key !== undefined;
  if (hasKey !== hasSecret) {
    throw invalid(routeId, hasKey ? 'secret_key' : 'accesskey', 'accesskey and secret_key go together; leave both out to use the AWS default credential chain');
  }
  if (iam.session_token !== undefined && !hasKey) {
    throw invalid(routeId, 'session_token', 'needs accesskey and secret_key');
  }
  if (iam.role_arn === undefined) {
    for (const field of ['role_session_name', 'external_id', 'duration_seconds'] as const) {
      if (iam[field] !== undefined) throw invalid(routeId, field, 'only applies with role_arn');
    }
  }
  if (iam.profile !== undefined && hasKey) {
    throw invalid(routeId, 'profile', 'cannot be combined with accesskey/secret_key: choose one source of credentials');
  }
  const keys: StaticCredentialSpec | undefined =
    iam.accesskey !== undefined && iam.secret_key !== undefined
      ? { kind: 'static', accessKeyId: iam.accesskey, secretAccessKey: iam.secret_key, ...(iam.session_token === undefined ? {} : { sessionToken: iam.session_token }) }
      : undefined;
  if (iam.role_arn !== undefined) {
    return {
      region,
      spec: {
        kind: 'assume-role',
        roleArn: iam.role_arn,
        region,
        base: keys ?? (iam.profile !== undefined ? { kind: 'profile', profile: iam.profile, region } : { kind: 'chain', region }),
        ...(iam.role_session_name === undefined ? {} : { roleSessionName: iam.role_session_name }),
        ...(iam.external_id === undefined ? {} : { externalId: iam.external_id }),
        ...(iam.duration_seconds === undefined ? {} : { durationSeconds: iam.duration_seconds }),
      },
    };
  }
  if (iam.profile !== undefined) return { region, spec: { kind: 'profile', profile: iam.profile, region } };
  return { region, spec: keys ?? { kind: 'chain', region } };
}

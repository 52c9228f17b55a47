/**
 * The container credentials endpoint of ECS task roles and EKS Pod Identity (the agent at
 * 169.254.170.23, or `AWS_CONTAINER_CREDENTIALS_FULL_URI` on loopback here): `GET <path>` with
 * `Authorization: <token>` (the value of `AWS_CONTAINER_AUTHORIZATION_TOKEN`, or the contents of
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) → `{AccessKeyId, SecretAccessKey, Token, Expiration,
 * RoleArn, AccountId}`. A missing or wrong token gets 401 with a JSON `{Code, Message}`. Every read
 * issues fresh credentials of `lifetimeMs`.
 */
import { randomBytes } from 'node:crypto';
import { awsTimestamp, type IssuedCredentials, IssuedKeys } from './issued-keys';
import { type LoopbackServer, type LoopbackServerOptions, startLoopbackServer } from './loopback-server';

export const CONTAINER_CREDENTIALS_PATH = '/v1/credentials';

export interface ContainerCredentialsStandInOptions extends LoopbackServerOptions {
  readonly keys: IssuedKeys;
  readonly lifetimeMs: number;
  readonly roleArn?: string;
}

export interface ContainerCredentialsStandIn extends LoopbackServer {
  /** `http://127.0.0.1:<port>/v1/credentials`, for AWS_CONTAINER_CREDENTIALS_FULL_URI. */
  readonly fullUri: string;
  /** The token the endpoint expects in `Authorization` (a secret: the log scan looks for it). */
  readonly authorizationToken: string;
  readonly issued: readonly IssuedCredentials[];
}

export async function startContainerCredentialsStandIn(options: ContainerCredentialsStandInOptions): Promise<ContainerCredentialsStandIn> {
  const authorizationToken = randomBytes(48).toString('base64');
  const roleArn = options.roleArn ?? 'arn:aws:iam::111122223333:role/sidecar-task-role';
  const issued: IssuedCredentials[] = [];
  const server = await startLoopbackServer((req) => {
    if (req.method !== 'GET' || req.path !== CONTAINER_CREDENTIALS_PATH) {
      return { status: 404, body: JSON.stringify({ Code: 'NotFound', Message: 'not found' }), operation: 'not-found' };
    }
    if (req.headers.authorization !== authorizationToken) {
      return {
        status: 401,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Code: 'AccessDeniedException', Message: 'Authorization token is missing or invalid' }),
        operation: 'unauthorized',
      };
    }
    const c = options.keys.issueTemporary('container', options.lifetimeMs);
    issued.push(c);
    return {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: awsTimestamp(c.expiration ?? new Date()),
        RoleArn: roleArn,
        AccountId: roleArn.split(':')[4],
      }),
      operation: 'credentials',
    };
  }, options);
  return Object.assign(server, { fullUri: `${server.url}${CONTAINER_CREDENTIALS_PATH}`, authorizationToken, issued });
}

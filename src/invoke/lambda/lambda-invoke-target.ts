/**
 * The Lambda Invoke target (`function_name`): the request becomes an API Gateway event (or the raw
 * body), POSTed to Lambda's Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html),
 * SigV4-signed for service `lambda`; the answer is decoded with Lambda's error semantics
 * (invoke-answer.ts). Pools, gate, answer budget, error mapping and signing are the HTTP target's.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CredentialRegistry } from '../../aws/credential-registry';
import { resolveIamCredentials } from '../../aws/iam-credential-spec';
import { amzDate, signSigV4, type SigV4Credentials } from '../../aws/sigv4';
import type { LambdaPluginConfig, RouteConfig } from '../../config/route-schema';
import { RouteValidationError } from '../../config/route-schema';
import { relayableResponseHeaders } from '../header-filter';
import { addXrayTraceHeader, TRACEPARENT_HEADER, XRAY_TRACE_HEADER } from '../trace-header';
import { dispatch, flatten, type InvokeBounds, mapUpstreamError, NO_BOUNDS, type RawResponse, toHeaderList } from '../invoke';
import type { HeaderList, ClientRequest, LambdaResponse } from '../client-request';
import { acquirePooled, bodySizeError, type DispatcherRegistry, type LambdaTarget } from '../target';
import { buildInvokePayload, type EventFormat } from './apigw-event';
import { type LambdaFunctionRef, parseFunctionName, resolveLambdaEndpoint } from '../../config/function-name';
import { checkPayloadSize, DEFAULT_FUNCTION_ERROR_STATUS, type InvocationType, interpretInvokeAnswer } from './invoke-answer';

export const DEFAULT_INVOCATION_TYPE: InvocationType = 'RequestResponse';
export const DEFAULT_EVENT_FORMAT: EventFormat = 'apigw_v2';
export const DEFAULT_LOG_TYPE = 'None';
/** The signing service of the Invoke API. */
export const LAMBDA_SIGNING_SERVICE = 'lambda';
/**
 * `requestContext.http.sourceIp` / `identity.sourceIp` when the front does not know the client's
 * address (an Envoy without `request_attributes: ["source.address"]`): a loopback placeholder.
 */
export const UNKNOWN_SOURCE_IP = '127.0.0.1';
/** `requestContext.http.protocol`: the fronts do not report the client's protocol either. */
export const EVENT_PROTOCOL = 'HTTP/1.1';

/** What every pooled target has, the HTTP target's fields (one definition for both kinds). */
type PooledTargetFields = Pick<LambdaTarget, 'routeId' | 'origin' | 'hostHeader' | 'timeoutMs' | 'maxBodyBytes' | 'keepalive' | 'maxResponseBytes' | 'dispatcher' | 'gate' | 'invoke'>;

/** The signing scope (service `lambda`) and the route's lease on its shared credential source. */
type SigningFields = { readonly iam: NonNullable<LambdaTarget['iam']> };

export interface LambdaInvokeTarget extends PooledTargetFields, SigningFields {
  readonly kind: 'lambda_invoke';
  readonly function: LambdaFunctionRef;
  /** Wire path of the Invoke call (the endpoint's own path, if any, in front). */
  readonly invokePath: string;
  readonly invocationType: InvocationType;
  readonly eventFormat: EventFormat;
  readonly functionErrorStatus: number;
  readonly logTail: boolean;
}

export function createLambdaInvokeTarget(route: RouteConfig, c: LambdaPluginConfig, registry: DispatcherRegistry, credentials: CredentialRegistry, log?: Logger): LambdaInvokeTarget {
  const iam = c.authorization?.iam;
  if (iam === undefined) throw new RouteValidationError([{ route: `route "${route.id}"`, field: 'plugins.aws-lambda.authorization.iam', reason: 'is required with function_name' }]);
  // Validation (route-schema.ts) already refused a malformed name, qualifier or endpoint; the
  // environment's AWS_ENDPOINT_URL(_LAMBDA) is checked here, at load.
  const fn = parseFunctionName(route.id, c.function_name as string, c.qualifier);
  // The ARN's region wins; otherwise aws_region, AWS_REGION, AWS_DEFAULT_REGION, us-east-1.
  const signing = resolveIamCredentials(route.id, iam);
  const region = fn.region ?? signing.region;
  const url = resolveLambdaEndpoint(route.id, c.endpoint, region);
  const basePath = url.pathname.replace(/\/+$/, '');
  const target: LambdaInvokeTarget = Object.freeze({
    kind: 'lambda_invoke',
    routeId: route.id,
    origin: url.origin,
    hostHeader: url.host,
    function: fn,
    invokePath: `${basePath}${fn.invokePath}`,
    invocationType: c.invocation_type ?? DEFAULT_INVOCATION_TYPE,
    eventFormat: c.event_format ?? DEFAULT_EVENT_FORMAT,
    functionErrorStatus: c.function_error_status ?? DEFAULT_FUNCTION_ERROR_STATUS,
    logTail: (c.log_type ?? DEFAULT_LOG_TYPE) === 'Tail',
    ...acquirePooled(registry, url.origin, c),
    iam: Object.freeze({ scope: Object.freeze({ region, service: LAMBDA_SIGNING_SERVICE }), ...leaseOf(credentials.acquire(signing.spec, route.id)) }),
    invoke: (req: ClientRequest, rest: string | undefined, signal?: AbortSignal, bounds?: InvokeBounds) => invokeLambda(target, req, rest, signal, bounds ?? NO_BOUNDS, log),
  });
  return target;
}

function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

/** The Invoke call's headers, signed (host, content-type and every x-amz-* header). */
function leaseOf(lease: NonNullable<LambdaTarget['iam']>['lease']): Pick<NonNullable<LambdaTarget['iam']>, 'source' | 'lease'> {
  return { source: lease.source, lease };
}

/**
 * The X-Ray trace header of the Invoke call: the client's X-Amzn-Trace-Id, else one derived from its
 * `traceparent` (as the HTTP target sends), so Lambda's trace joins the caller's.
 */
function traceHeaderOf(req: ClientRequest): string | undefined {
  const trace: HeaderList = req.headers.filter(([n]) => n === XRAY_TRACE_HEADER || n === TRACEPARENT_HEADER);
  addXrayTraceHeader(trace);
  return headerValue(trace, XRAY_TRACE_HEADER);
}

function signedInvokeHeaders(target: LambdaInvokeTarget, credentials: SigV4Credentials, payload: Buffer, now: Date): HeaderList {
  const datetime = amzDate(now);
  const headers: HeaderList = [
    ['host', target.hostHeader],
    ['content-type', 'application/json'],
    ['x-amz-invocation-type', target.invocationType],
    ['x-amz-date', datetime],
  ];
  if (target.logTail) headers.push(['x-amz-log-type', 'Tail']);
  const token = credentials.sessionToken;
  if (token !== undefined) headers.push(['x-amz-security-token', token]);
  const authorization = signSigV4({ method: 'POST', path: target.invokePath, query: target.function.invokeQuery, headers, body: payload }, target.iam.scope, credentials, datetime);
  headers.push(['authorization', authorization]);
  return headers;
}

/** Unsigned, like the HTTP target's: a proxy may set or rewrite it. */
function withTraceHeader(headers: HeaderList, trace: string | undefined): HeaderList {
  if (trace !== undefined) headers.push([XRAY_TRACE_HEADER, trace]);
  return headers;
}

async function invokeLambda(target: LambdaInvokeTarget, req: ClientRequest, rest: string | undefined, signal: AbortSignal | undefined, bounds: InvokeBounds, log: Logger | undefined): Promise<LambdaResponse> {
  const tooLarge = bodySizeError(target, req.body?.length);
  if (tooLarge !== undefined) throw tooLarge;
  const clientRequestId = headerValue(req.headers, 'x-request-id');
  const payload = buildInvokePayload(target.eventFormat, req, {
    rest,
    sourceIp: req.sourceIp ?? UNKNOWN_SOURCE_IP,
    protocol: EVENT_PROTOCOL,
    requestId: clientRequestId ?? randomUUID(),
    nowMs: Date.now(),
    accountId: target.function.accountId,
  });
  // Lambda refuses a larger payload anyway: refuse it before a byte is sent.
  checkPayloadSize(payload.length, target.invocationType);
  const query = target.function.invokeQuery;
  const credentials = target.iam.source.current() ?? (await target.iam.source.ready(target.timeoutMs, signal));
  let res: RawResponse;
  try {
    res = await dispatch(target, {
      method: 'POST',
      path: query === '' ? target.invokePath : `${target.invokePath}?${query}`,
      headers: flatten(withTraceHeader(signedInvokeHeaders(target, credentials, payload, new Date()), traceHeaderOf(req))),
      body: payload,
      reset: !target.keepalive,
    }, signal, bounds);
  } catch (err) {
    throw mapUpstreamError(err, target, signal);
  }
  const outcome = interpretInvokeAnswer(
    { status: res.status, headers: toHeaderList(res.rawHeaders), body: res.body },
    { invocationType: target.invocationType, eventFormat: target.eventFormat, functionErrorStatus: target.functionErrorStatus },
  );
  const { code, awsRequestId, errorType, awsMessage, logTail } = outcome;
  if (logTail !== undefined) log?.debug({ route: target.routeId, requestId: clientRequestId, awsRequestId, logTail }, 'function log tail');
  if (code !== undefined) log?.warn({ route: target.routeId, requestId: clientRequestId, code, status: outcome.response.status, errorType, awsMessage, awsRequestId }, 'Lambda invocation failed');
  return { ...outcome.response, headers: relayableResponseHeaders(outcome.response.headers, req.method === 'HEAD') };
}

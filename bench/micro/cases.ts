/**
 * The micro-benchmark cases: the sidecar's per-request helpers, called as the fronts call them, on
 * the inputs of the sidecar-only bench (the same Envoy header list, the bench route's signing).
 * Nothing here opens a connection: targets get their undici pool, which connects only on dispatch.
 */
import pino from 'pino';
import { CredentialRegistry } from '../../src/aws/credential-registry';
import { amzDate, sigV4Signer, SIGV4_SIGNER_NAMES } from '../../src/aws/sigv4';
import { validateRoutes, type RouteConfig } from '../../src/config/route-schema';
import { readRequestHeaders, toHeaderMutations } from '../../src/fronts/ext-proc/headers';
import { loadGrpcDefinitions } from '../../src/fronts/grpc-definitions';
import type { ClientRequest, LambdaResponse } from '../../src/invoke/client-request';
import { forwardableRequestHeaders } from '../../src/invoke/header-filter';
import { buildUpstreamHeaders, flatten } from '../../src/invoke/invoke';
import type { RouteTarget } from '../../src/invoke/route-target';
import { createTarget, DispatcherRegistry, type LambdaTarget } from '../../src/invoke/target';
import { forwardedPath, toWirePath } from '../../src/invoke/wire-path';
import { RequestPipeline } from '../../src/request-pipeline';
import { LiveRoutes } from '../../src/routing/live-routes';
import { RouteTable } from '../../src/routing/route-table';
import { AWS_REGION, AWS_SERVICE, BENCH_API_KEY, BENCH_CREDENTIALS } from '../envoy';
import { SMALL_RESPONSE_BODY } from '../nginx';
import { REQUEST_BODY_BYTES } from '../request-body';
import { extProcMessages, extProcSpec } from '../sidecar-only/grpc-body';
import type { MicroCase } from './runner';

/** Routes in the table of the routing cases; the request matches one near the end. */
export const ROUTE_COUNT = 50;
const MATCHED_ROUTE = ROUTE_COUNT - 3;
const FUNCTION_ORIGIN = 'http://127.0.0.1:9';

/** ROUTE_COUNT routes like the bench's (IAM + x-api-key): prefixes, some exact uris, some hosts or methods. */
function benchRoutes(): readonly RouteConfig[] {
  return validateRoutes(Array.from({ length: ROUTE_COUNT }, (_, i) => ({
    id: `r${i}`,
    ...(i % 5 === 4 ? { uri: `/svc${i}/exact` } : { uri: `/svc${i}/*` }),
    ...(i % 7 === 6 ? { hosts: [`svc${i}.example.com`, '*.internal'] } : {}),
    ...(i % 3 === 2 ? { methods: ['GET', 'POST'] } : {}),
    plugins: {
      'aws-lambda': {
        function_uri: `${FUNCTION_ORIGIN}/default`,
        authorization: {
          apikey: BENCH_API_KEY,
          iam: { accesskey: BENCH_CREDENTIALS.accessKeyId, secretkey: BENCH_CREDENTIALS.secretAccessKey, aws_region: AWS_REGION, service: AWS_SERVICE },
        },
      },
    },
  })));
}

export interface MicroFixture {
  readonly cases: readonly MicroCase[];
  /** Closes the targets' pools. */
  close(): Promise<void>;
}

export function microCases(): MicroFixture {
  const { Process } = loadGrpcDefinitions().externalProcessor;
  const largeBody = Buffer.alloc(REQUEST_BODY_BYTES, 'a');
  const smallMessage = extProcMessages(extProcSpec('small', largeBody))[0];
  const envoyHeaders = smallMessage.request_headers?.headers?.headers ?? [];
  const smallBytes = Process.requestSerialize(smallMessage);
  const largeBodyBytes = Process.requestSerialize(extProcMessages(extProcSpec('large', largeBody))[1]);
  const incoming = readRequestHeaders(envoyHeaders);
  if (incoming === undefined) throw new Error('the bench header list has no :method or :path');
  const matchedPath = `/svc${MATCHED_ROUTE}/small`;
  const request: ClientRequest = { method: 'GET', path: matchedPath, query: '', host: incoming.authority, headers: incoming.headers, body: null };
  const signedHeaders = (date: string): Array<[string, string]> => [['host', '127.0.0.1:8081'], ['x-amz-date', date], ['x-api-key', BENCH_API_KEY]];
  const scope = { region: AWS_REGION, service: AWS_SERVICE };
  const answer: LambdaResponse = {
    status: 200,
    headers: [['content-type', 'application/json'], ['date', 'Tue, 01 Dec 2026 23:00:00 GMT'], ['server', 'nginx/1.22.1'], ['x-amzn-requestid', '00000000-0000-0000-bench']],
    body: Buffer.from(SMALL_RESPONSE_BODY),
  };

  const registry = new DispatcherRegistry();
  const credentials = new CredentialRegistry({ logger: pino({ level: 'silent' }) });
  const table = new RouteTable<RouteTarget | null>(benchRoutes(), (r) => createTarget(r, registry, credentials));
  const plainTable = new RouteTable<null>(benchRoutes(), () => null);
  const pipeline = new RequestPipeline(new LiveRoutes(table, () => undefined));
  const matchInput = { method: 'GET', path: matchedPath, host: incoming.authority };

  /** What the HTTP target does before it dispatches: the wire path and the signed header list. */
  const buildRequest = (target: LambdaTarget, rest: string | undefined): string[] => {
    const wirePath = toWirePath(forwardedPath(target.basePath, rest));
    const creds = target.iam?.source.current();
    if (target.iam !== undefined && creds === undefined) throw new Error('the bench route signs with static keys: they should be current at once');
    return flatten(buildUpstreamHeaders(target, request, wirePath, forwardableRequestHeaders(request.headers), creds, new Date()));
  };

  const cases: MicroCase[] = [
    ...SIGV4_SIGNER_NAMES.flatMap((signer): MicroCase[] => [
      { name: `sigv4-get-${signer}`, what: `SigV4 Authorization for a small GET (signing key cached), ${signer} signer`, op: () => {
        const date = amzDate(new Date());
        return sigV4Signer(signer).sign({ method: 'GET', path: '/default/small', query: '', headers: signedHeaders(date), body: null }, scope, BENCH_CREDENTIALS, date, 'wire');
      } },
      { name: `sigv4-post-64k-${signer}`, what: `SigV4 Authorization for a 64 KiB POST (body hashed), ${signer} signer`, op: () => {
        const date = amzDate(new Date());
        return sigV4Signer(signer).sign({ method: 'POST', path: '/default/large', query: '', headers: signedHeaders(date), body: largeBody }, scope, BENCH_CREDENTIALS, date, 'wire');
      } },
    ]),
    { name: 'decode-request', what: 'ProcessingRequest (request_headers, 8 headers) bytes → object', op: () => Process.requestDeserialize(smallBytes) },
    { name: 'decode-request-64k', what: 'ProcessingRequest (request_body, 64 KiB) bytes → object', op: () => Process.requestDeserialize(largeBodyBytes) },
    { name: 'read-headers', what: 'Envoy header list → method, path, authority, headers', op: () => readRequestHeaders(envoyHeaders) },
    { name: 'route-match', what: `route table of ${ROUTE_COUNT}: match the ${MATCHED_ROUTE + 1}th route's prefix`, op: () => plainTable.match(matchInput) },
    { name: 'header-filter', what: 'client headers → forwardable headers', op: () => forwardableRequestHeaders(incoming.headers) },
    { name: 'encode-response', what: 'function answer → ImmediateResponse bytes (toHeaderMutations + responseSerialize)', op: () => Process.responseSerialize({
      immediate_response: { status: { code: answer.status }, headers: { set_headers: toHeaderMutations(answer) }, body: answer.body, details: 'lambda_sidecar_r47' },
    }) },
    { name: 'pipeline-route', what: 'RequestPipeline.route() + done() (lease, budget hold)', op: () => {
      const routed = pipeline.route(matchInput);
      if (routed.action === 'invoke') routed.done();
      return routed;
    } },
    { name: 'route-build-request', what: 'route() + the HTTP target\'s upstream request: wire path, headers (filter, x-api-key, SigV4), flattened; done()', op: () => {
      const routed = pipeline.route(matchInput);
      if (routed.action !== 'invoke' || routed.target.kind !== 'http') throw new Error(`${matchedPath} did not route to an HTTP target`);
      try {
        return buildRequest(routed.target, routed.rest);
      } finally {
        routed.done();
      }
    } },
  ];
  return { cases, close: () => registry.closeAll() };
}

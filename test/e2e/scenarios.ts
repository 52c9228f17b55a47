/**
 * The end-to-end scenario table: one list of client requests and the exact answers expected,
 * run unchanged against every front door (test/e2e/doors.test.ts):
 *
 *   ext_proc        client → Envoy (envoy/envoy.yaml)            → sidecar gRPC ext_proc  → stand-in
 *   ext_authz       client → Envoy (envoy/envoy-ext-authz.yaml)  → sidecar gRPC ext_authz → stand-in
 *   nginx           client → nginx (nginx/aws-lambda.conf)       → sidecar HTTP front     → stand-in
 *   envoy_upstream  client → Envoy (envoy/envoy-upstream.yaml)   → sidecar HTTP front     → stand-in
 *
 * The "function" is the API-Gateway stand-in (demo/lambda-stand-in.ts) over HTTPS: it checks
 * x-api-key and verifies SigV4 with the AWS SDK's own signer, so a 200 from the IAM routes means the
 * sidecar's signature agrees with an independent implementation on the exact wire bytes.
 *
 * Where a door cannot behave like the others, the case says so in `differs` (door → reason and the
 * answer that door gives instead); those reasons are the documented differences in the README.
 * Also here: the peers every e2e suite needs (stand-ins, routes file, sidecar) and the clients.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStandIn, type ReceivedRequest, type StandIn } from '../../demo/lambda-stand-in';
import { generateTlsMaterial, type TlsMaterial } from '../../demo/tls';
import { freeEnvoyPorts, freePort, renderEnvoyConfig, startEnvoy, startPlainUpstream, startSidecar, type EnvoyProcess, type PlainUpstream, type SidecarProcess } from './support/processes';

export type { ReceivedRequest } from '../../demo/lambda-stand-in';

// ---------------------------------------------------------------------------------------------
// Doors and the shape of a case

export type Door = 'ext_proc' | 'ext_authz' | 'nginx' | 'envoy_upstream';
export const DOORS: readonly Door[] = ['ext_proc', 'ext_authz', 'nginx', 'envoy_upstream'];
/** The doors whose proxy relays the HTTP front's own answer (it is the proxy's upstream). */
const HTTP_FRONT_DOORS: readonly Door[] = ['nginx', 'envoy_upstream'];

export interface ScenarioRequest {
  method: string;
  /** Path and query exactly as they go on the wire. */
  path: string;
  /** `host` becomes `:authority` over HTTP/2. Array values are sent as repeated header lines. */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1. */
  http2?: boolean;
}

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Expectation {
  status: number;
  bodyEquals?: string | Buffer;
  /** Compared with toEqual (asymmetric matchers welcome). */
  bodyJson?: unknown;
  bodyIncludes?: string;
  /** Header name (lower-case) → exact value, a pattern, or null for "absent". */
  headers?: Record<string, string | RegExp | null>;
  /** Exact set-cookie values, in order. */
  setCookies?: string[];
  /** The body's sha256 equals this response header's value. */
  bodySha256InHeader?: string;
  /** The single request that reached the function (the stand-ins), checked after the answer. */
  functionReceived?: (r: ReceivedRequest) => void;
  /** No request reached any function. */
  functionNotCalled?: boolean;
}

export interface Difference {
  /** Why this door answers differently (goes into the README). */
  reason: string;
  expect: Expectation;
}

export interface Scenario {
  name: string;
  request: ScenarioRequest;
  expect: Expectation;
  /** Doors this case runs on (default: all). */
  doors?: readonly Door[];
  differs?: Partial<Record<Door, Difference>>;
}

// ---------------------------------------------------------------------------------------------
// Credentials the stand-ins enforce and the routes carry

export const API_KEY = 'e2e-api-key-0123456789';
export const IAM = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
  service: 'execute-api',
} as const;
/** The seed's IAM example is reached by this Host (same uri `/aws` as the API-key example). */
export const IAM_HOST = 'iam.example.com';

export const HELLO_APISIX = '"Hello, APISIX!"';
/** 1 MiB where every byte value appears (period 256, odd multiplier). */
export const ONE_MIB_ALL_BYTES = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 151 + 11) & 255));
export const TRICKY_PATH = '/a%20b/c%2Fd/e:f/g@h/%E2%9C%93/';
export const TRICKY_QUERY = 'x=1&x=2&a=&flag&q=a%2Bb&r=%21%40%23&k=%E2%9C%93';

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Values of one header as the function received them, in order. */
export function receivedHeader(r: ReceivedRequest, name: string): string[] {
  return r.headers.filter(([k]) => k === name).map(([, v]) => v);
}

const SIGV4_AUTHORIZATION = new RegExp(
  `^AWS4-HMAC-SHA256 Credential=${IAM.accessKeyId}/\\d{8}/${IAM.region}/${IAM.service}/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`,
);

function expectApiKeyed(r: ReceivedRequest): void {
  expect(receivedHeader(r, 'x-api-key')).toEqual([API_KEY]);
  expect(receivedHeader(r, 'authorization')).toEqual([]);
}

function expectSigned(r: ReceivedRequest): void {
  const auth = receivedHeader(r, 'authorization');
  expect(auth).toHaveLength(1);
  expect(auth[0]).toMatch(SIGV4_AUTHORIZATION);
  expect(receivedHeader(r, 'x-amz-date')).toEqual([expect.stringMatching(/^\d{8}T\d{6}Z$/)]);
  expect(receivedHeader(r, 'x-api-key')).toEqual([]);
}

/** A client's own x-forwarded-for entry (TEST-NET-3): a proxy must append the real peer after it. */
const SPOOFED_CLIENT_ADDRESS = '203.0.113.9';

/** The x-forwarded-for entries the function received, in order. */
function forwardedFor(r: ReceivedRequest): string[] {
  return receivedHeader(r, 'x-forwarded-for').join(',').split(',').map((e) => e.trim());
}

/** This machine's non-loopback IP addresses. */
function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => !a.internal).map((a) => a.address));
}

/** An answer from the sidecar itself: `{"message": ...}`; by default no function was reached. */
function sidecarError(status: number, message: string, functionReceived?: (r: ReceivedRequest) => void): Expectation {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    bodyJson: { message },
    ...(functionReceived === undefined ? { functionNotCalled: true } : { functionReceived }),
  };
}

// ---------------------------------------------------------------------------------------------
// The routes file (APISIX route objects, the seed's three examples first)

export interface RouteTargets {
  apiKeyStandIn: StandIn;
  iamStandIn: StandIn;
  /** Serves a self-signed certificate the sidecar must refuse. */
  selfSignedStandIn: StandIn;
  /** Nothing listens there. */
  closedPort: number;
}

export function buildRoutes(t: RouteTargets): unknown[] {
  const apiKeyFunction = `${t.apiKeyStandIn.url}/default/test-apisix`;
  return [
    // Seed example 1, verbatim in shape (ssl_verify: false as in the seed).
    { id: '1', uri: '/aws', plugins: { 'aws-lambda': { function_uri: apiKeyFunction, authorization: { apikey: API_KEY }, ssl_verify: false } } },
    // Seed example 2: IAM with the seed's `secretkey` spelling; same uri, chosen by host.
    {
      id: '2',
      uri: '/aws',
      host: IAM_HOST,
      priority: 10,
      plugins: {
        'aws-lambda': {
          function_uri: `${t.iamStandIn.url}/default/test-apisix`,
          authorization: { iam: { accesskey: IAM.accessKeyId, secretkey: IAM.secretAccessKey } },
          ssl_verify: true,
        },
      },
    },
    // Seed example 3: path forwarding, function_uri without a path.
    { id: '3', uri: '/aws/*', plugins: { 'aws-lambda': { function_uri: t.apiKeyStandIn.url, authorization: { apikey: API_KEY }, ssl_verify: true } } },
    // IAM with path forwarding: the tricky paths, queries and bodies go through here.
    {
      id: 'iam-forward',
      uri: '/iam/*',
      plugins: {
        'aws-lambda': {
          function_uri: t.iamStandIn.url,
          authorization: { iam: { accesskey: IAM.accessKeyId, secret_key: IAM.secretAccessKey, aws_region: IAM.region, service: IAM.service } },
        },
      },
    },
    // Failures.
    { id: 'slow', uri: '/slow', plugins: { 'aws-lambda': { function_uri: apiKeyFunction, authorization: { apikey: API_KEY }, timeout: 500 } } },
    { id: 'refused', uri: '/refused', plugins: { 'aws-lambda': { function_uri: `https://127.0.0.1:${t.closedPort}/default/test-apisix`, authorization: { apikey: API_KEY } } } },
    { id: 'bad-tls', uri: '/bad-tls', plugins: { 'aws-lambda': { function_uri: `${t.selfSignedStandIn.url}/default/test-apisix`, authorization: { apikey: API_KEY }, ssl_verify: true } } },
    { id: 'small-body', uri: '/small-body', plugins: { 'aws-lambda': { function_uri: apiKeyFunction, authorization: { apikey: API_KEY }, max_req_body_size: 1024 } } },
    // Reached only by name (Envoy x-lambda-route metadata, nginx X-Lambda-Route): no path matches it.
    { id: 'by-name', uri: '/reached-only-by-name', plugins: { 'aws-lambda': { function_uri: apiKeyFunction, authorization: { apikey: API_KEY } } } },
  ];
}

// ---------------------------------------------------------------------------------------------
// The cases

const SEED_HEADERS: Record<string, string | RegExp | null> = {
  'content-type': 'application/json',
  'content-length': '16',
  'x-amzn-requestid': /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  'x-amz-apigw-id': /^[A-Za-z0-9+/]{15}=$/,
  // The stand-in adds `keep-alive: timeout=5` and `connection: keep-alive`, like a real endpoint:
  // connection-specific headers must not reach the client.
  'keep-alive': null,
};

/** The seed document's answer: 200 "Hello, APISIX!" with API Gateway's headers. */
function helloApisix(functionReceived: (r: ReceivedRequest) => void, headers = SEED_HEADERS): Expectation {
  return { status: 200, bodyEquals: HELLO_APISIX, headers, functionReceived };
}

const HEAD_LOCAL_REPLY =
  'Envoy sends the sidecar\'s answer as a local reply, and a local reply with an empty body loses content-type and ' +
  'content-length (envoy source/common/http/utility.cc prepareLocalReply); HEAD answers therefore carry the ' +
  'function\'s other headers only';

const HEAD_VIA_ENVOY: Expectation = {
  status: 200,
  bodyEquals: '',
  headers: { 'content-type': null, 'content-length': null, 'x-amzn-requestid': SEED_HEADERS['x-amzn-requestid'], 'keep-alive': null },
  functionReceived: (r) => {
    expect(r.method).toBe('HEAD');
    expectApiKeyed(r);
  },
};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'seed apikey: GET /aws?name=APISIX',
    request: { method: 'GET', path: '/aws?name=APISIX' },
    expect: helloApisix((r) => {
      expect(r.method).toBe('GET');
      expect(r.rawPath).toBe('/default/test-apisix');
      expect(r.rawQuery).toBe('name=APISIX');
      expectApiKeyed(r);
    }),
  },
  {
    name: 'seed apikey over HTTP/2 prior knowledge (no connection-specific headers)',
    request: { method: 'GET', path: '/aws?name=APISIX', http2: true },
    expect: helloApisix(
      (r) => {
        expect(r.rawPath).toBe('/default/test-apisix');
        expectApiKeyed(r);
      },
      { ...SEED_HEADERS, connection: null, 'transfer-encoding': null, upgrade: null },
    ),
  },
  {
    name: 'seed IAM (secretkey spelling), host iam.example.com: SigV4 verified by @smithy',
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { host: IAM_HOST } },
    expect: helloApisix((r) => {
      expect(r.rawPath).toBe('/default/test-apisix');
      expect(r.rawQuery).toBe('name=APISIX');
      expect(receivedHeader(r, 'host')).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
      expectSigned(r);
    }),
  },
  {
    name: 'seed path forwarding: GET /aws/default/test-apisix?name=APISIX',
    request: { method: 'GET', path: '/aws/default/test-apisix?name=APISIX' },
    expect: helloApisix((r) => {
      expect(r.rawPath).toBe('/default/test-apisix');
      expect(r.rawQuery).toBe('name=APISIX');
      expectApiKeyed(r);
    }),
  },
  {
    name: 'POST 1 MiB of every byte value to the IAM route: the signature covers the exact body',
    request: {
      method: 'POST',
      path: '/iam/upload',
      headers: { 'content-type': 'application/octet-stream' },
      body: ONE_MIB_ALL_BYTES,
    },
    expect: {
      status: 200,
      headers: { 'content-type': 'application/json' },
      bodyJson: expect.objectContaining({
        method: 'POST',
        rawPath: '/upload',
        rawQuery: '',
        bodyLength: ONE_MIB_ALL_BYTES.length,
        bodySha256: sha256Hex(ONE_MIB_ALL_BYTES),
      }),
      functionReceived: (r) => {
        expect(r.body.equals(ONE_MIB_ALL_BYTES)).toBe(true);
        expect(receivedHeader(r, 'content-type')).toEqual(['application/octet-stream']);
        expect(receivedHeader(r, 'content-length')).toEqual([String(ONE_MIB_ALL_BYTES.length)]);
        expectSigned(r);
      },
    },
  },
  {
    name: 'tricky path (%20 %2F : @ %E2%9C%93 trailing /) and query through the IAM route',
    request: { method: 'GET', path: `/iam${TRICKY_PATH}?${TRICKY_QUERY}` },
    expect: {
      status: 200,
      bodyJson: expect.objectContaining({ rawPath: TRICKY_PATH, rawQuery: TRICKY_QUERY }),
      functionReceived: (r) => {
        expect(r.rawPath).toBe(TRICKY_PATH);
        expect(r.rawQuery).toBe(TRICKY_QUERY);
        expectSigned(r);
      },
    },
  },
  {
    name: 'literal + and raw characters in the query reach the function unchanged and signed',
    request: { method: 'GET', path: "/iam/plus?q=a+b&s=x%20y&t=~-._&u=(1)*!'" },
    expect: {
      status: 200,
      bodyJson: expect.objectContaining({ rawPath: '/plus', rawQuery: "q=a+b&s=x%20y&t=~-._&u=(1)*!'" }),
      functionReceived: expectSigned,
    },
  },
  {
    name: 'binary response (x-stand-in-binary: 4096) arrives byte for byte',
    request: { method: 'GET', path: '/aws/default/test-apisix', headers: { 'x-stand-in-binary': '4096' } },
    expect: {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'content-length': '4096', 'x-body-sha256': /^[0-9a-f]{64}$/ },
      bodySha256InHeader: 'x-body-sha256',
      functionReceived: expectApiKeyed,
    },
    differs: {
      ext_authz: {
        reason:
          'ext_authz carries the response body as a protobuf string (envoy #9822, #27386): bytes that are not UTF-8 ' +
          'cannot pass faithfully, so the sidecar answers 502 instead of corrupting them; use ext_proc for binary answers',
        expect: {
          status: 502,
          headers: { 'content-type': 'application/json' },
          bodyJson: {
            message:
              'the function answered with a binary (non-UTF-8) body, which cannot pass through Envoy ext_authz ' +
              '(its body is a string); use the ext_proc filter for this route',
          },
          functionReceived: expectApiKeyed,
        },
      },
    },
  },
  {
    name: 'x-stand-in-cookies: 3 → three separate set-cookie headers',
    request: { method: 'GET', path: '/aws/default/test-apisix?name=Cookies', headers: { 'x-stand-in-cookies': '3' } },
    expect: {
      status: 200,
      bodyEquals: '"Hello, Cookies!"',
      setCookies: ['c1=v1; Path=/', 'c2=v2; Path=/', 'c3=v3; Path=/'],
      functionReceived: expectApiKeyed,
    },
  },
  {
    name: 'repeated request headers reach the function as separate lines, in order',
    request: { method: 'GET', path: '/aws/default/test-apisix', headers: { 'x-multi': ['one', 'two'] } },
    expect: {
      status: 200,
      functionReceived: (r) => {
        expect(receivedHeader(r, 'x-multi')).toEqual(['one', 'two']);
        expectApiKeyed(r);
      },
    },
  },
  {
    name: 'unmatched path /not-a-route goes to Envoy\'s own upstream',
    request: { method: 'GET', path: '/not-a-route?x=1' },
    expect: {
      status: 200,
      headers: { 'x-served-by': 'default-upstream' },
      bodyEquals: 'default-upstream:GET /not-a-route?x=1',
      functionNotCalled: true,
    },
    differs: {
      nginx: {
        reason:
          'nginx proxies everything in `location /` to the sidecar, which has no upstream of its own: an unmatched path ' +
          'gets 404 {"message"} from the sidecar (add other nginx locations for other services)',
        expect: sidecarError(404, 'no route matches GET /not-a-route'),
      },
      envoy_upstream: {
        reason:
          'Envoy routes before the sidecar sees the request, and envoy-upstream.yaml\'s catch-all route goes to the sidecar, ' +
          'which has no upstream of its own: an unmatched path gets 404 {"message"} from the sidecar (add Envoy routes to ' +
          'other clusters above the catch-all for other services)',
        expect: sidecarError(404, 'no route matches GET /not-a-route'),
      },
    },
  },
  {
    name: "client's own x-api-key is forwarded unchanged (APISIX): the stand-in refuses it with 403",
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { 'x-api-key': 'client-key' } },
    expect: {
      status: 403,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException' },
      bodyJson: { message: 'Forbidden' },
      functionReceived: (r) => {
        expect(receivedHeader(r, 'x-api-key')).toEqual(['client-key']);
      },
    },
  },
  {
    name: "client's own Authorization on the IAM route is forwarded untouched and unsigned: 403",
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { host: IAM_HOST, authorization: 'Bearer abc' } },
    expect: {
      status: 403,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'IncompleteSignatureException' },
      bodyJson: { message: 'Authorization header algorithm must be AWS4-HMAC-SHA256, got "Bearer"' },
      functionReceived: (r) => {
        expect(receivedHeader(r, 'authorization')).toEqual(['Bearer abc']);
        expect(receivedHeader(r, 'x-amz-date')).toEqual([]);
        expect(receivedHeader(r, 'x-amz-security-token')).toEqual([]);
      },
    },
  },
  {
    name: "client's X-Lambda-Route header cannot pick a route",
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { 'x-lambda-route': 'refused' } },
    expect: { status: 200, bodyEquals: HELLO_APISIX, functionReceived: expectApiKeyed },
  },
  {
    name: "client's X-Forwarded-Host cannot pick a host route",
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { 'x-forwarded-host': IAM_HOST } },
    expect: { status: 200, bodyEquals: HELLO_APISIX, functionReceived: expectApiKeyed },
  },
  {
    // Envoy honours x-envoy-retry-on from clients it counts as internal; envoy-upstream.yaml counts
    // none (internal_address_config {}), so a failing call is never sent to the function twice.
    name: "client's x-envoy-retry-on cannot make the proxy invoke the function twice",
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { 'x-stand-in-status': '503', 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '3' } },
    expect: { status: 503, functionReceived: expectApiKeyed },
  },
  {
    // The HTTP front takes the last entry from a trusted proxy as the client's address: the proxy
    // must append the peer it saw (Envoy: use_remote_address), or the client picks it.
    name: 'the client\'s address is the last x-forwarded-for entry the function receives (the sidecar\'s sourceIp)',
    doors: HTTP_FRONT_DOORS,
    request: { method: 'GET', path: '/aws?name=APISIX', headers: { 'x-forwarded-for': SPOOFED_CLIENT_ADDRESS } },
    expect: { status: 200, functionReceived: (r) => expect(forwardedFor(r)).toEqual([SPOOFED_CLIENT_ADDRESS, '127.0.0.1']) },
    differs: {
      envoy_upstream: {
        reason:
          'Envoy with use_remote_address appends a loopback peer as this host\'s own (non-loopback) address, not 127.0.0.1 ' +
          '(source/common/http/conn_manager_utility.cc): a client on the same host is reported as the host',
        expect: {
          status: 200,
          functionReceived: (r) => {
            const [spoofed, appended, ...rest] = forwardedFor(r);
            expect({ spoofed, rest }).toEqual({ spoofed: SPOOFED_CLIENT_ADDRESS, rest: [] });
            expect(hostAddresses()).toContain(appended);
          },
        },
      },
    },
  },
  {
    name: 'timeout: 500 route, function takes 2000 ms → 504 JSON',
    request: { method: 'GET', path: '/slow?name=APISIX', headers: { 'x-stand-in-delay-ms': '2000' } },
    expect: sidecarError(504, 'function did not answer within 500 ms', expectApiKeyed),
  },
  {
    name: 'function endpoint refuses the connection → 502 JSON',
    request: { method: 'GET', path: '/refused?name=APISIX' },
    expect: sidecarError(502, 'function endpoint unreachable (ECONNREFUSED)'),
  },
  {
    name: 'function endpoint with a self-signed certificate, ssl_verify true → 502 JSON',
    request: { method: 'GET', path: '/bad-tls?name=APISIX' },
    expect: sidecarError(502, 'TLS handshake with the function failed (DEPTH_ZERO_SELF_SIGNED_CERT)'),
  },
  {
    name: 'max_req_body_size 1024, 2048-byte POST → 413 JSON',
    request: { method: 'POST', path: '/small-body', headers: { 'content-type': 'text/plain' }, body: Buffer.alloc(2048, 0x61) },
    expect: sidecarError(413, 'request body exceeds max_req_body_size (1024 bytes)'),
  },
  {
    name: 'HEAD /aws?name=APISIX → 200, headers only',
    request: { method: 'HEAD', path: '/aws?name=APISIX' },
    expect: {
      status: 200,
      bodyEquals: '',
      // RFC 9110 §8.6: a HEAD answer's Content-Length, when sent, is the GET body's length.
      headers: { 'content-type': 'application/json', 'content-length': '16', 'x-amzn-requestid': SEED_HEADERS['x-amzn-requestid'], 'keep-alive': null },
      functionReceived: (r) => {
        expect(r.method).toBe('HEAD');
        expectApiKeyed(r);
      },
    },
    differs: {
      ext_proc: { reason: HEAD_LOCAL_REPLY, expect: HEAD_VIA_ENVOY },
      ext_authz: { reason: HEAD_LOCAL_REPLY, expect: HEAD_VIA_ENVOY },
    },
  },
  {
    name: 'named-route example (nginx location /named/, Envoy route /named/ → x-lambda-route "1")',
    doors: HTTP_FRONT_DOORS,
    request: { method: 'GET', path: '/named/anything?name=Named' },
    expect: {
      status: 200,
      bodyEquals: '"Hello, Named!"',
      functionReceived: (r) => {
        expect(r.rawPath).toBe('/default/test-apisix');
        expect(receivedHeader(r, 'x-lambda-route')).toEqual([]);
        expectApiKeyed(r);
      },
    },
  },
  {
    name: '/healthz on the sidecar HTTP listener, through the proxy → 200',
    doors: HTTP_FRONT_DOORS,
    request: { method: 'GET', path: '/healthz' },
    expect: { status: 200, headers: { 'content-type': 'application/json' }, bodyJson: { status: 'ok' }, functionNotCalled: true },
  },
];

/** The expectation for `door` and, when it differs, why. */
export function expectationFor(s: Scenario, door: Door): { expect: Expectation; reason?: string } {
  const d = s.differs?.[door];
  return d === undefined ? { expect: s.expect } : { expect: d.expect, reason: d.reason };
}

// ---------------------------------------------------------------------------------------------
// Clients

const CLIENT_TIMEOUT_MS = 20_000;

/** One HTTP/1.1 request on a fresh connection; the path goes on the wire verbatim. */
export function sendHttp1(port: number, req: ScenarioRequest): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    r.setTimeout(CLIENT_TIMEOUT_MS, () => r.destroy(new Error(`${req.method} ${req.path}: no answer within ${CLIENT_TIMEOUT_MS} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * One request over HTTP/2 with prior knowledge. Node's client refuses connection-specific
 * response headers (RFC 9113 §8.2.2) with a stream error: that rejection is part of the test.
 */
export function sendHttp2(port: number, req: ScenarioRequest): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const fail = (err: Error): void => {
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const { host, ...rest } = req.headers ?? {};
    const stream = session.request({
      ':method': req.method,
      ':path': req.path,
      ':authority': typeof host === 'string' ? host : `127.0.0.1:${port}`,
      ...rest,
    });
    stream.setTimeout(CLIENT_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      const plain: http.IncomingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) plain[k] = v as string | string[];
      headers = plain;
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers, body: Buffer.concat(chunks) });
    });
    stream.on('error', fail);
    stream.on('close', () => {
      if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && status === 0) {
        fail(new Error(`HTTP/2 stream reset (code ${stream.rstCode}) before a response`));
      }
    });
    stream.end(req.body);
  });
}

export function send(port: number, req: ScenarioRequest, http2Port = port): Promise<ClientResponse> {
  return req.http2 === true ? sendHttp2(http2Port, req) : sendHttp1(port, req);
}

// ---------------------------------------------------------------------------------------------
// Checking an answer

export function checkResponse(res: ClientResponse, want: Expectation, received: readonly ReceivedRequest[]): void {
  const context = `status ${res.status}, body ${res.body.subarray(0, 300).toString('utf8')}`;
  expect({ status: res.status, context }).toEqual({ status: want.status, context });
  if (want.bodyEquals !== undefined) {
    const expected = typeof want.bodyEquals === 'string' ? Buffer.from(want.bodyEquals) : want.bodyEquals;
    if (expected.length < 1000) expect(res.body.toString('latin1')).toBe(expected.toString('latin1'));
    else expect(res.body.equals(expected)).toBe(true);
  }
  if (want.bodyJson !== undefined) expect(JSON.parse(res.body.toString('utf8'))).toEqual(want.bodyJson);
  if (want.bodyIncludes !== undefined) expect(res.body.toString('utf8')).toContain(want.bodyIncludes);
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    const actual = res.headers[name];
    if (value === null) expect({ [name]: actual }).toEqual({ [name]: undefined });
    else if (value instanceof RegExp) expect({ [name]: actual }).toEqual({ [name]: expect.stringMatching(value) });
    else expect({ [name]: actual }).toEqual({ [name]: value });
  }
  if (want.setCookies !== undefined) expect(res.headers['set-cookie']).toEqual(want.setCookies);
  if (want.bodySha256InHeader !== undefined) {
    expect(sha256Hex(res.body)).toBe(res.headers[want.bodySha256InHeader]);
  }
  if (want.functionNotCalled === true) expect(received.map((r) => `${r.method} ${r.rawPath}`)).toEqual([]);
  if (want.functionReceived !== undefined) {
    expect(received.map((r) => `${r.method} ${r.rawPath}`)).toHaveLength(1);
    want.functionReceived(received[0]);
  }
}

// ---------------------------------------------------------------------------------------------
// Peers: TLS material, three stand-ins, Envoy's default upstream, the routes file, the sidecar

export interface Peers {
  tls: TlsMaterial;
  apiKeyStandIn: StandIn;
  iamStandIn: StandIn;
  selfSignedStandIn: StandIn;
  upstream: PlainUpstream;
  routesPath: string;
  sidecar: SidecarProcess;
  grpcPort: number;
  httpPort: number;
  /** Forget what the stand-ins received so far. */
  resetReceived(): void;
  /** What reached any function since the last reset. */
  received(): ReceivedRequest[];
  close(): Promise<void>;
}

function portOf(address: string | undefined, what: string): number {
  const port = Number(address?.slice(address.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`sidecar logged no usable ${what} address: ${address}`);
  return port;
}

/** Starts everything a door needs behind it. `extraRoutes` are appended to buildRoutes(). */
export async function startPeers(opts: { sidecarArgs?: string[]; extraRoutes?: unknown[]; sidecarEnv?: Record<string, string> } = {}): Promise<Peers> {
  const tls = generateTlsMaterial();
  const started: Array<{ close(): Promise<void> }> = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-routes-'));
  const cleanup = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.close().catch(() => undefined)));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(tls.dir, { recursive: true, force: true });
  };
  try {
    const apiKeyStandIn = await startStandIn({ tls: { cert: tls.cert, key: tls.key }, apiKey: API_KEY });
    started.push(apiKeyStandIn);
    const iamStandIn = await startStandIn({ tls: { cert: tls.cert, key: tls.key }, iam: { ...IAM } });
    started.push(iamStandIn);
    const selfSignedStandIn = await startStandIn({ tls: { cert: tls.selfSignedCert, key: tls.selfSignedKey }, apiKey: API_KEY });
    started.push(selfSignedStandIn);
    const upstream = await startPlainUpstream();
    started.push(upstream);
    const closedPort = await freePort();

    const routesPath = path.join(dir, 'routes.yaml');
    const routes = [...buildRoutes({ apiKeyStandIn, iamStandIn, selfSignedStandIn, closedPort }), ...(opts.extraRoutes ?? [])];
    fs.writeFileSync(routesPath, JSON.stringify({ routes }, null, 2));

    const sidecar = await startSidecar(
      ['--config', routesPath, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...(opts.sidecarArgs ?? [])],
      { env: { NODE_EXTRA_CA_CERTS: tls.caCertPath, ...opts.sidecarEnv } },
    );
    started.push({ close: async () => void (await sidecar.stop()) });
    const standIns = [apiKeyStandIn, iamStandIn, selfSignedStandIn];
    return {
      tls,
      apiKeyStandIn,
      iamStandIn,
      selfSignedStandIn,
      upstream,
      routesPath,
      sidecar,
      grpcPort: portOf(sidecar.grpcAddress, 'gRPC'),
      httpPort: portOf(sidecar.httpAddress, 'HTTP'),
      resetReceived: () => {
        for (const s of standIns) s.received.length = 0;
      },
      received: () => standIns.flatMap((s) => s.received),
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Log lines at error level or above (pino: 50 error, 60 fatal): a bug, whatever the answer was. */
export function sidecarErrors(sidecar: SidecarProcess): Array<Record<string, unknown>> {
  return sidecar.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);
}

/** One Envoy per gRPC door (envoy/envoy.yaml for ext_proc, envoy/envoy-ext-authz.yaml for ext_authz) in front of the peers' sidecar. */
export async function startEnvoyDoors(peers: Peers, into: Partial<Record<'ext_proc' | 'ext_authz', EnvoyProcess>>): Promise<void> {
  for (const [door, file] of [['ext_proc', 'envoy/envoy.yaml'], ['ext_authz', 'envoy/envoy-ext-authz.yaml']] as const) {
    const ports = await freeEnvoyPorts(peers.grpcPort, peers.upstream.port);
    into[door] = await startEnvoy(renderEnvoyConfig(file, ports), ports, { name: `envoy-${door}` });
  }
}

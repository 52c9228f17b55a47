/**
 * Tracing through a real sidecar process (README "Observability"): spans exported with OTLP/HTTP
 * JSON to a receiver stand-in on loopback that decodes them, parented on the request's
 * traceparent; the function receives traceparent and tracestate unchanged and an X-Amzn-Trace-Id
 * derived from them.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { receivedHeader, sendHttp1, startEnvoyDoors, startPeers, type Peers } from './scenarios';
import { waitFor, type EnvoyProcess } from './support/processes';

jest.setTimeout(60_000);

const WAIT_MS = 10_000;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
  status?: { code?: number };
}

interface Receiver {
  readonly spans: OtlpSpan[];
  readonly resources: Array<Record<string, unknown>>;
  readonly paths: string[];
  readonly url: string;
  close(): Promise<void>;
}

/** An OTLP/HTTP collector stand-in: decodes ExportTraceServiceRequest JSON bodies. */
async function startReceiver(): Promise<Receiver> {
  const spans: OtlpSpan[] = [];
  const resources: Array<Record<string, unknown>> = [];
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: Array<{ resource: Record<string, unknown>; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
      for (const rs of body.resourceSpans) {
        resources.push(rs.resource);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    spans,
    resources,
    paths,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function attr(span: OtlpSpan, key: string): string | number | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
}

let receiver: Receiver | undefined;
let peers: Peers | undefined;
const envoys: Partial<Record<'ext_proc' | 'ext_authz', EnvoyProcess>> = {};

beforeAll(async () => {
  receiver = await startReceiver();
  peers = await startPeers({
    sidecarEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'sidecar-under-test', OTEL_BSP_SCHEDULE_DELAY: '50' },
  });
  await startEnvoyDoors(peers, envoys);
});

afterAll(async () => {
  await Promise.all(Object.values(envoys).map((e) => e?.stop()));
  await peers?.close();
  await receiver?.close();
});

function spansOfTrace(traceId: string): OtlpSpan[] {
  return receiver!.spans.filter((s) => s.traceId === traceId);
}

it('HTTP front: a server span parented on traceparent, a client span under it; the function sees traceparent, tracestate and the derived X-Amzn-Trace-Id', async () => {
  peers!.resetReceived();
  const res = await sendHttp1(peers!.httpPort, { method: 'GET', path: '/aws?name=Traced', headers: { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' } });
  expect(res.status).toBe(200);
  const [seen] = peers!.received();
  expect(receivedHeader(seen, 'traceparent')).toEqual([TRACEPARENT]);
  expect(receivedHeader(seen, 'tracestate')).toEqual(['vendor=opaque']);
  expect(receivedHeader(seen, 'x-amzn-trace-id')).toEqual([`Root=1-${TRACE_ID.slice(0, 8)}-${TRACE_ID.slice(8)};Parent=${PARENT_SPAN_ID};Sampled=1`]);

  await waitFor('two spans of the trace', () => spansOfTrace(TRACE_ID).length >= 2, WAIT_MS);
  const spans = spansOfTrace(TRACE_ID);
  expect(spans).toHaveLength(2);
  const server = spans.find((s) => s.kind === 2) as OtlpSpan; // SPAN_KIND_SERVER
  const client = spans.find((s) => s.kind === 3) as OtlpSpan; // SPAN_KIND_CLIENT
  expect(server.parentSpanId).toBe(PARENT_SPAN_ID);
  expect(client.parentSpanId).toBe(server.spanId);
  expect(server.spanId).not.toBe(PARENT_SPAN_ID);
  expect({ door: attr(server, 'aws_lambda_sidecar.door'), route: attr(server, 'aws_lambda_sidecar.route'), method: attr(server, 'http.request.method'), path: attr(server, 'url.path'), status: attr(server, 'http.response.status_code') })
    .toEqual({ door: 'http', route: '1', method: 'GET', path: '/aws', status: 200 });
  expect(attr(server, 'aws_lambda_sidecar.error_code')).toBeUndefined();
  // The function call lies inside the request.
  expect(BigInt(client.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
  expect(BigInt(client.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));
  expect(receiver!.paths[0]).toBe('POST /v1/traces application/json');
  expect(receiver!.resources[0]).toEqual(expect.objectContaining({ attributes: expect.arrayContaining([{ key: 'service.name', value: { stringValue: 'sidecar-under-test' } }]) }));
});

it.each(['ext_proc', 'ext_authz'] as const)('%s: a failed call is an error server span with its code, in the incoming trace', async (door) => {
  const traceId = door === 'ext_proc' ? 'aaaaaaaabbbbbbbbccccccccdddddddd' : 'eeeeeeeeffffffff0000000011111111';
  const res = await sendHttp1(envoys[door]!.listenerPort, { method: 'GET', path: '/refused', headers: { traceparent: `00-${traceId}-${PARENT_SPAN_ID}-01` } });
  expect(res.status).toBe(502);
  await waitFor('two spans of the trace', () => spansOfTrace(traceId).length >= 2, WAIT_MS);
  const server = spansOfTrace(traceId).find((s) => s.kind === 2) as OtlpSpan;
  const client = spansOfTrace(traceId).find((s) => s.kind === 3) as OtlpSpan;
  // Envoy adds its own span only when it traces; here it forwards the client's traceparent.
  expect(server.parentSpanId).toBe(PARENT_SPAN_ID);
  expect(client.parentSpanId).toBe(server.spanId);
  expect({ door: attr(server, 'aws_lambda_sidecar.door'), route: attr(server, 'aws_lambda_sidecar.route'), status: attr(server, 'http.response.status_code'), code: attr(server, 'aws_lambda_sidecar.error_code') })
    .toEqual({ door, route: 'refused', status: 502, code: 'ERR_UPSTREAM_CONNECT' });
  expect(server.status?.code).toBe(2); // STATUS_CODE_ERROR
  expect(attr(client, 'aws_lambda_sidecar.error_code')).toBe('ERR_UPSTREAM_CONNECT');
});

it.each(['http', 'ext_proc', 'ext_authz'] as const)('%s: a request refused before any function call still gets its server span (and no client span)', async (door) => {
  const traceId = { http: '12121212121212121212121212121212', ext_proc: '34343434343434343434343434343434', ext_authz: '56565656565656565656565656565656' }[door];
  const port = door === 'http' ? peers!.httpPort : envoys[door]!.listenerPort;
  const res = await sendHttp1(port, { method: 'POST', path: '/small-body', headers: { traceparent: `00-${traceId}-${PARENT_SPAN_ID}-01`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2048, 1) });
  expect(res.status).toBe(413);
  await waitFor('the server span', () => spansOfTrace(traceId).length >= 1, WAIT_MS);
  // Give a wrongly exported client span the time to arrive too.
  await new Promise((r) => setTimeout(r, 200));
  const spans = spansOfTrace(traceId);
  expect(spans.map((s) => s.kind)).toEqual([2]); // SPAN_KIND_SERVER only
  expect(spans[0].parentSpanId).toBe(PARENT_SPAN_ID);
  expect({ door: attr(spans[0], 'aws_lambda_sidecar.door'), route: attr(spans[0], 'aws_lambda_sidecar.route'), status: attr(spans[0], 'http.response.status_code'), code: attr(spans[0], 'aws_lambda_sidecar.error_code') })
    .toEqual({ door, route: 'small-body', status: 413, code: 'ERR_BODY_TOO_LARGE' });
});

it('a request with its own X-Amzn-Trace-Id keeps it', async () => {
  peers!.resetReceived();
  const own = 'Root=1-00000001-000000000000000000000001;Sampled=0';
  expect((await sendHttp1(peers!.httpPort, { method: 'GET', path: '/aws', headers: { traceparent: TRACEPARENT, 'x-amzn-trace-id': own } })).status).toBe(200);
  expect(receivedHeader(peers!.received()[0], 'x-amzn-trace-id')).toEqual([own]);
});

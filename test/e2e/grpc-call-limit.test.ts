/**
 * The bound on concurrent gRPC requests, against the built sidecar in its own process (with the
 * shipped heap flags): thousands of idle ext_proc streams straight to the gRPC port, the process's
 * RSS sampled from /proc while the limit is hit, and a normal request answered meanwhile.
 *
 * The CLI has no flag for the limit yet, so the process runs dist/server.js's startSidecar with a
 * small limit: the same code path, a quicker test.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliNodeFlags } from '../../src/cli-node-flags';
import { loadGrpcDefinitions, ProcessingRequest, ProcessingResponse } from '../../src/fronts/grpc-definitions';
import { REPO_ROOT, sleep, spawnManaged, waitFor, type ManagedProcess } from './support/processes';

jest.setTimeout(60_000);

const LIMIT = 2_000;
const EXTRA_STREAMS = 500;
/**
 * Measured: an idle ext_proc stream costs about 6 KB of heap and well under 16 KB of RSS; README
 * "Limits" documents this per-stream bound (10,000 streams at the default limit: under 160 MB).
 */
const RSS_PER_STREAM_BOUND_BYTES = 16 * 1024;
const RSS_SAMPLE_INTERVAL_MS = 50;
const WAIT_MS = 15_000;

type ProcessClient = grpc.Client & {
  Process(options?: grpc.CallOptions): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
};

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

function getRequest(pathValue: string): ProcessingRequest {
  const headers = [
    { key: ':method', raw_value: Buffer.from('GET') },
    { key: ':path', raw_value: Buffer.from(pathValue) },
    { key: ':authority', raw_value: Buffer.from('example.test') },
    { key: 'x-request-id', raw_value: Buffer.from('rid-at-limit') },
  ];
  return { request_headers: { headers: { headers }, end_of_stream: true } } as unknown as ProcessingRequest;
}

let dir: string | undefined;
let sidecar: ManagedProcess | undefined;
let client: ProcessClient | undefined;
let grpcAddress = '';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-e2e-limit-'));
  const routes = path.join(dir, 'routes.json');
  // A route without the plugin: a normal request is answered (passed through) without a function.
  fs.writeFileSync(routes, JSON.stringify({ routes: [{ id: 'plain', uri: '/plain', plugins: {} }] }));
  const dist = path.join(REPO_ROOT, 'dist');
  const script = [
    `const { startSidecar } = require(${JSON.stringify(path.join(dist, 'server.js'))});`,
    `const { FileRouteStore } = require(${JSON.stringify(path.join(dist, 'config/stores/file-store.js'))});`,
    `const { createLogger } = require(${JSON.stringify(path.join(dist, 'logger.js'))});`,
    `startSidecar({ store: new FileRouteStore(${JSON.stringify(routes)}), grpcListen: '127.0.0.1:0', httpListen: undefined,`,
    `  maxGrpcCalls: ${LIMIT}, logger: createLogger('info') }).catch((e) => { console.error(e); process.exit(1); });`,
  ].join('\n');
  let listening: string | undefined;
  sidecar = spawnManaged('sidecar-limit', process.execPath, [...cliNodeFlags(path.join(dist, 'cli.js')), '-e', script], {
    onStdoutLine: (line) => {
      if (line.includes('"listening"')) listening = (JSON.parse(line) as { grpcAddress: string }).grpcAddress;
    },
  });
  grpcAddress = (await waitFor('the sidecar to listen', () => listening, WAIT_MS)).value;
  const defs = loadGrpcDefinitions();
  const Client = grpc.makeGenericClientConstructor(defs.externalProcessor as unknown as grpc.ServiceDefinition, 'ExternalProcessor');
  client = new Client(grpcAddress, grpc.credentials.createInsecure()) as unknown as ProcessClient;
});

afterAll(async () => {
  client?.close();
  await sidecar?.stop();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

/** One request on a fresh stream: what came back and how it ended. */
function oneRequest(message: ProcessingRequest): Promise<{ status: grpc.StatusObject; answers: ProcessingResponse[] }> {
  return new Promise((resolve) => {
    const call = client!.Process({ deadline: Date.now() + 5_000 });
    const answers: ProcessingResponse[] = [];
    call.on('data', (m: ProcessingResponse) => answers.push(m));
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => resolve({ status, answers }));
    call.write(message);
    call.end();
  });
}

it(`${LIMIT + EXTRA_STREAMS} idle streams against a limit of ${LIMIT}: RSS stays bounded, extras get RESOURCE_EXHAUSTED, a request meanwhile gets 503 + Retry-After, and one after gets through`, async () => {
  const pid = sidecar!.pid;
  expect((await oneRequest(getRequest('/plain'))).status.code).toBe(grpc.status.OK);
  const baseline = rssBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, RSS_SAMPLE_INTERVAL_MS);

  const idle: Array<grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>> = [];
  const ended: number[] = [];
  try {
    for (let i = 0; i < LIMIT + EXTRA_STREAMS; i += 1) {
      const call = client!.Process();
      call.on('error', () => undefined);
      call.on('status', (s: grpc.StatusObject) => ended.push(s.code));
      idle.push(call);
    }
    // Streams over the limit are freed after a short wait for headers that never come.
    await waitFor('the streams over the limit to be refused', () => ended.length >= EXTRA_STREAMS, WAIT_MS);
    expect(new Set(ended)).toEqual(new Set([grpc.status.RESOURCE_EXHAUSTED]));

    const atLimit = await oneRequest(getRequest('/plain'));
    const answer = atLimit.answers[0]?.immediate_response;
    expect(answer?.status?.code).toBe(503);
    const retryAfter = answer?.headers?.set_headers?.find((h) => h.header?.key === 'retry-after');
    expect(retryAfter?.header?.raw_value?.toString()).toBe('1');
    expect(JSON.parse(answer?.body?.toString() ?? '{}')).toEqual({ message: `the sidecar is at its limit of ${LIMIT} concurrent gRPC requests; retry later` });

    await sleep(RSS_SAMPLE_INTERVAL_MS * 2);
    const grownBytes = peak - baseline;
    expect({ grownMB: Math.round(grownBytes / 1e6), withinBound: grownBytes < LIMIT * RSS_PER_STREAM_BOUND_BYTES }).toEqual({
      grownMB: expect.any(Number),
      withinBound: true,
    });
  } finally {
    clearInterval(sampler);
    for (const call of idle) call.cancel();
  }
  // The idle streams gone, their slots are free again.
  await waitFor('a request to get through again', async () => (await oneRequest(getRequest('/plain'))).answers.length === 0, WAIT_MS);
  expect(sidecar!.running()).toBe(true);
});

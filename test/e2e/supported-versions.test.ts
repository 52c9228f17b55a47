/**
 * The supported versions (README "Supported versions") are the ones CI proves (.ci/toolchain.sh)
 * and package.json declares; the suites really drive the Envoy and Node they were asked to
 * (SIDECAR_TEST_ENVOY, .ci/with); and the one Envoy behaviour envoy/envoy.yaml switches on by name,
 * the ext_proc graceful-close runtime guard, exists and works on this Envoy (1.36 has it too: no
 * ext_proc stream reset when it is on, one per request when it is off).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sendHttp1, startPeers, type Peers } from './scenarios';
import {
  BINARY_OVERRIDE_ENV,
  envoyVersion,
  findBinary,
  freeEnvoyPorts,
  renderEnvoyConfig,
  REPO_ROOT,
  requireBinary,
  startEnvoy,
  stopAll,
  type EnvoyProcess,
} from './support/processes';

const GRACEFUL_CLOSE_GUARD = 'envoy.reloadable_features.ext_proc_graceful_grpc_close';
const REQUESTS = 50;

function readRepoFile(file: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
}

/** `NAME=value` lines of .ci/toolchain.sh. */
function pinnedVersions(): Record<'ENVOY_OLDEST' | 'ENVOY_NEWEST' | 'NODE_OLDEST' | 'NODE_NEWEST', string> {
  const text = readRepoFile('.ci/toolchain.sh');
  const pin = (name: string): string => {
    const match = new RegExp(`^${name}=(\\d+\\.\\d+\\.\\d+)$`, 'm').exec(text);
    if (match === null) throw new Error(`.ci/toolchain.sh has no ${name}=<x.y.z> line`);
    return match[1]!;
  };
  return { ENVOY_OLDEST: pin('ENVOY_OLDEST'), ENVOY_NEWEST: pin('ENVOY_NEWEST'), NODE_OLDEST: pin('NODE_OLDEST'), NODE_NEWEST: pin('NODE_NEWEST') };
}

/** The cells after the first of the README "Supported versions" row that starts with `component`. */
function supportedRow(component: string): string[] {
  const readme = readRepoFile('README.md');
  const section = /^## Supported versions\n([\s\S]*?)(?=^## )/m.exec(readme);
  if (section === null) throw new Error('README.md has no "## Supported versions" section');
  const row = section[1]!.split('\n').find((line) => line.startsWith(`| ${component} |`));
  if (row === undefined) throw new Error(`README "Supported versions" has no "| ${component} |" row`);
  return row.split('|').slice(2, -1).map((cell) => cell.trim());
}

const minorOf = (version: string): string => version.split('.').slice(0, 2).join('.');
const majorOf = (version: string): string => version.split('.')[0]!;

describe('supported versions', () => {
  const pins = pinnedVersions();

  it('README names the Envoy range and the Node versions that .ci/run proves', () => {
    expect(supportedRow('Envoy')[0]).toBe(`${minorOf(pins.ENVOY_OLDEST)} to ${minorOf(pins.ENVOY_NEWEST)}`);
    expect(supportedRow('Node.js')[0]).toBe(`${majorOf(pins.NODE_OLDEST)} and ${majorOf(pins.NODE_NEWEST)}`);
    for (const pin of Object.values(pins)) expect(readRepoFile('README.md')).toContain(pin);
  });

  it('package.json: engines from the oldest Node, @types/node of the oldest Node (no newer API slips in)', () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
    expect(pkg.engines.node).toBe(`>=${majorOf(pins.NODE_OLDEST)}`);
    expect(majorOf(pkg.devDependencies['@types/node']!)).toBe(majorOf(pins.NODE_OLDEST));
  });

  it('the Envoy under test is the one SIDECAR_TEST_ENVOY names (else the one on PATH), and a supported one', () => {
    const override = process.env[BINARY_OVERRIDE_ENV.envoy!];
    const bin = requireBinary('envoy');
    if (override !== undefined && override !== '') expect(bin).toBe(path.resolve(override));
    const { major, minor } = envoyVersion(bin);
    const [oldestMajor, oldestMinor] = pins.ENVOY_OLDEST.split('.').map(Number) as [number, number];
    const [newestMajor, newestMinor] = pins.ENVOY_NEWEST.split('.').map(Number) as [number, number];
    expect(major * 1000 + minor).toBeGreaterThanOrEqual(oldestMajor * 1000 + oldestMinor);
    expect(major * 1000 + minor).toBeLessThanOrEqual(newestMajor * 1000 + newestMinor);
  });

  it('SIDECAR_TEST_ENVOY naming no executable fails the suites instead of falling back to PATH', () => {
    const name = BINARY_OVERRIDE_ENV.envoy!;
    const saved = process.env[name];
    process.env[name] = path.join(REPO_ROOT, 'no-such-envoy');
    try {
      expect(() => findBinary('envoy')).toThrow(`${name}=${process.env[name]} is not an executable file`);
    } finally {
      if (saved === undefined) delete process.env[name];
      else process.env[name] = saved;
    }
  });

  it('the suites run on the Node .ci/with asked for, else on the node first on PATH (the sidecar runs on the same one)', () => {
    const wanted = process.env.SIDECAR_TEST_NODE_VERSION;
    const onPath = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(process.version).toBe(wanted === undefined || wanted === '' ? onPath : `v${wanted}`);
  });
});

describe(`${GRACEFUL_CLOSE_GUARD} (envoy/envoy.yaml) on this Envoy`, () => {
  let peers: Peers | undefined;
  let envoy: EnvoyProcess | undefined;

  beforeAll(async () => {
    peers = await startPeers();
  });

  afterEach(async () => {
    await stopAll(envoy);
    envoy = undefined;
  });

  afterAll(async () => {
    await peers?.close();
  });

  /** Ext_proc streams reset by Envoy over REQUESTS requests the sidecar answers, guard on or off. */
  async function resetsWithGuard(guard: boolean): Promise<{ started: number; resets: number; failures: string[] }> {
    const ports = await freeEnvoyPorts(peers!.grpcPort, peers!.upstream.port);
    const config = renderEnvoyConfig('envoy/envoy.yaml', ports, { [`${GRACEFUL_CLOSE_GUARD}: true`]: `${GRACEFUL_CLOSE_GUARD}: ${guard}` });
    envoy = await startEnvoy(config, ports);
    // Envoy creates the cluster's http2.* stats with its first connection to the sidecar.
    await sendHttp1(ports.listener, { method: 'GET', path: '/aws?name=warmup' });
    const before = { started: await envoy.counter('http.ingress_http.ext_proc.streams_started'), resets: await envoy.counter('cluster.lambda_sidecar.http2.tx_reset') };
    const failures: string[] = [];
    for (let n = 0; n < REQUESTS; n++) {
      const res = await sendHttp1(ports.listener, { method: 'GET', path: `/aws?name=g${n}` });
      if (res.status !== 200 || res.body.toString('utf8') !== `"Hello, g${n}!"`) failures.push(`${res.status} ${res.body.toString('utf8').slice(0, 100)}`);
    }
    return {
      started: (await envoy.counter('http.ingress_http.ext_proc.streams_started')) - before.started,
      resets: (await envoy.counter('cluster.lambda_sidecar.http2.tx_reset')) - before.resets,
      failures,
    };
  }

  it('on: Envoy half-closes each ext_proc stream and the sidecar ends it (no RST_STREAM)', async () => {
    expect(readRepoFile('envoy/envoy.yaml')).toContain(`${GRACEFUL_CLOSE_GUARD}: true`);
    expect(await resetsWithGuard(true)).toEqual({ started: REQUESTS, resets: 0, failures: [] });
  });

  it('off: Envoy resets every ext_proc stream once it has the answer (so the guard is what makes the difference)', async () => {
    expect(await resetsWithGuard(false)).toEqual({ started: REQUESTS, resets: REQUESTS, failures: [] });
  });
});

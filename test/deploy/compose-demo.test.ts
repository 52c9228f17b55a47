/**
 * The compose demo without Docker: the stand-ins configured with docker-compose.yml's environment,
 * the built sidecar with deploy/compose/routes.yaml and Envoy with deploy/compose/envoy.yaml (service
 * names replaced by loopback addresses and ports), and the healthcheck commands of the Dockerfile and of docker-compose.yml run
 * against them. Catches routes and stand-ins that disagree (keys, SigV4 identity, ports) and
 * healthchecks that cannot pass.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { startStandIn, type StandIn, type StandInOptions } from '../../demo/lambda-stand-in';
import { freeEnvoyPorts, freePort, renderEnvoyConfig, REPO_ROOT, startEnvoy, startSidecar, stopAll, type EnvoyProcess, type SidecarProcess } from '../e2e/support/processes';

interface ComposeService { environment?: Record<string, string>; healthcheck?: { test: string[] } }
const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const STAND_INS = ['stand-in-apikey', 'stand-in-iam', 'default-upstream'] as const;
const HEALTHCHECK_TIMEOUT_MS = 10_000;

function standInOptions(service: ComposeService): StandInOptions {
  const env = service.environment ?? {};
  const opts: StandInOptions = { host: '127.0.0.1', port: 0 };
  if (env['STAND_IN_API_KEY'] !== undefined) opts.apiKey = env['STAND_IN_API_KEY'];
  if (env['STAND_IN_IAM'] !== undefined) {
    const [accessKeyId, secretAccessKey, region, service] = env['STAND_IN_IAM'].split(':');
    opts.iam = { accessKeyId, secretAccessKey, region, service };
  }
  return opts;
}

/**
 * Runs a `["CMD", ...]` healthcheck on this machine; resolves to its exit status. Asynchronous: the
 * stand-ins it asks run in this process.
 */
function runHealthcheck(test: readonly string[], env: Record<string, string>): Promise<number | null> {
  expect(test[0]).toBe('CMD');
  const [cmd, ...args] = test.slice(1);
  const child = spawn(cmd === 'node' ? process.execPath : cmd, args, { env: { ...process.env, ...env }, timeout: HEALTHCHECK_TIMEOUT_MS, stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

/** The Dockerfile's HEALTHCHECK CMD, JSON form. */
function dockerfileHealthcheck(): string[] {
  const text = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const match = /^HEALTHCHECK .*?CMD (\[.*\])$/m.exec(text);
  if (match === null) throw new Error('no HEALTHCHECK ... CMD [...] in the Dockerfile');
  return ['CMD', ...(JSON.parse(match[1]) as string[])];
}

describe('the compose demo, as processes on loopback', () => {
  const standIns = new Map<string, StandIn>();
  let sidecar: SidecarProcess;
  let envoy: EnvoyProcess;
  let dir: string;

  beforeAll(async () => {
    for (const name of STAND_INS) standIns.set(name, await startStandIn(standInOptions(compose.services[name])));
    let routes = readFileSync(path.join(REPO_ROOT, 'deploy', 'compose', 'routes.yaml'), 'utf8');
    for (const [name, standIn] of standIns) {
      routes = routes.replaceAll(`http://${name}:${compose.services[name].environment?.['STAND_IN_PORT']}`, standIn.url);
    }
    expect(routes).not.toMatch(/stand-in-/);
    dir = mkdtempSync(path.join(os.tmpdir(), 'compose-demo-'));
    writeFileSync(path.join(dir, 'routes.yaml'), routes);
    sidecar = await startSidecar(['--config', path.join(dir, 'routes.yaml'), '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']);
    const ports = await freeEnvoyPorts(Number(sidecar.grpcAddress.split(':').pop()), standIns.get('default-upstream')?.port ?? 0);
    const config = renderEnvoyConfig('deploy/compose/envoy.yaml', ports, { 'address: sidecar,': 'address: 127.0.0.1,', 'address: default-upstream,': 'address: 127.0.0.1,' });
    envoy = await startEnvoy(config, ports);
  });

  afterAll(async () => {
    await stopAll(envoy, sidecar);
    await Promise.all([...standIns.values()].map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['API key', '/aws?name=APISIX'],
    ['SigV4', '/aws-iam?name=APISIX'],
    ['path forwarding', '/aws/default/test-apisix?name=APISIX'],
  ])('answers the seed example (%s) from the stand-in, through Envoy and on the HTTP front', async (_label, target) => {
    for (const front of [`127.0.0.1:${envoy.listenerPort}`, sidecar.httpAddress]) {
      const res = await fetch(`http://${front}${target}`);
      expect([front, res.status, await res.text()]).toEqual([front, 200, '"Hello, APISIX!"']);
    }
  });

  it("sends what no route matches to the default upstream, and passes Envoy's healthcheck", async () => {
    const before = standIns.get('default-upstream')?.received.length ?? 0;
    const res = await fetch(`http://127.0.0.1:${envoy.listenerPort}/somewhere-else?name=upstream`);
    expect([res.status, await res.text()]).toEqual([200, '"Hello, upstream!"']);
    expect(standIns.get('default-upstream')?.received.length).toBe(before + 1);
    const envoyTest = compose.services['envoy'].healthcheck?.test ?? [];
    expect(await runHealthcheck(envoyTest.map((arg) => arg.replace('/127.0.0.1/9901', `/127.0.0.1/${envoy.adminPort}`)), {})).toBe(0);
  });

  it("passes the Dockerfile's and docker-compose.yml's sidecar healthchecks, and fails them when nothing listens", async () => {
    const port = sidecar.httpAddress?.split(':').pop() ?? '';
    expect(await runHealthcheck(dockerfileHealthcheck(), { SIDECAR_HTTP_LISTEN: `0.0.0.0:${port}` })).toBe(0);
    const composeTest = compose.services['sidecar'].healthcheck?.test ?? [];
    expect(await runHealthcheck(composeTest.map((arg) => arg.replace('127.0.0.1:8080', `127.0.0.1:${port}`)), {})).toBe(0);
    expect(await runHealthcheck(dockerfileHealthcheck(), { SIDECAR_HTTP_LISTEN: `0.0.0.0:${await freePort()}` })).toBe(1);
  });

  it("passes the stand-ins' healthcheck", async () => {
    for (const [name, standIn] of standIns) {
      expect([name, await runHealthcheck(compose.services[name].healthcheck?.test ?? [], { STAND_IN_PORT: String(standIn.port) })]).toEqual([name, 0]);
    }
  });
});

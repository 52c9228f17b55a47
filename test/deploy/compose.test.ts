/**
 * docker-compose.yml cannot be run here (no Docker, no base images): `docker-compose config`
 * validates it against the Compose schema and resolves it, and the resolved file is checked for
 * what the demo promises (one network, no host networking, no checkout mounted, healthchecks that
 * gate start-up). The Envoy configuration it mounts is validated by Envoy itself.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../e2e/support/processes';
import { runTool } from './deploy-tools';

interface ComposeVolume { type: string; source: string; target: string; read_only?: boolean }
interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  network_mode?: string;
  networks?: Record<string, unknown>;
  volumes?: ComposeVolume[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
}
interface ComposeFile { services: Record<string, ComposeService>; networks: Record<string, unknown> }

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');
const COMPOSE_ENVOY = path.join(REPO_ROOT, 'deploy', 'compose', 'envoy.yaml');

function resolvedCompose(): ComposeFile {
  const run = runTool('docker-compose', ['--file', COMPOSE_FILE, '--project-directory', REPO_ROOT, 'config'], { cwd: REPO_ROOT });
  if (run.status !== 0) throw new Error(`docker-compose config failed (${run.status}):\n${run.stderr}`);
  return parse(run.stdout) as ComposeFile;
}

/** envoy.yaml with every cluster's endpoint addresses and discovery type blanked out. */
function withoutClusterAddresses(file: string): unknown {
  const config = parse(readFileSync(file, 'utf8')) as { static_resources: { clusters: Array<Record<string, unknown>> } };
  for (const cluster of config.static_resources.clusters) {
    delete cluster['type'];
    delete cluster['dns_lookup_family'];
    const endpoints = (cluster['load_assignment'] as { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address?: string } } } }> }> }).endpoints;
    for (const group of endpoints) for (const lb of group.lb_endpoints) delete lb.endpoint.address.socket_address.address;
  }
  return config;
}

describe('docker-compose.yml', () => {
  const compose = resolvedCompose();
  const services = Object.entries(compose.services);

  it('is a valid Compose file with Envoy, the sidecar and the stand-ins', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['default-upstream', 'envoy', 'sidecar', 'stand-in-apikey', 'stand-in-iam']);
    expect(compose.services['sidecar'].build?.target).toBe('runtime');
    for (const name of ['stand-in-apikey', 'stand-in-iam', 'default-upstream']) expect(compose.services[name].build?.target).toBe('stand-in');
  });

  it('puts every service on the compose network, none on the host network', () => {
    for (const [name, service] of services) {
      expect([name, service.network_mode]).toEqual([name, undefined]);
      expect([name, Object.keys(service.networks ?? {})]).toEqual([name, ['demo']]);
    }
  });

  it('mounts no checkout: only single configuration files, read-only', () => {
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        expect([name, volume.type, volume.read_only]).toEqual([name, 'bind', true]);
        expect(volume.source.startsWith(path.join(REPO_ROOT, 'deploy', 'compose') + path.sep)).toBe(true);
        expect(volume.source).toMatch(/\.yaml$/);
      }
    }
  });

  it('gives every service a healthcheck and starts each after its dependencies are healthy', () => {
    for (const [name, service] of services) expect([name, service.healthcheck?.test[0]]).toEqual([name, 'CMD']);
    const dependencies = services.flatMap(([, service]) => Object.values(service.depends_on ?? {}));
    expect(dependencies.length).toBeGreaterThanOrEqual(4);
    for (const dependency of dependencies) expect(dependency.condition).toBe('service_healthy');
    expect(Object.keys(compose.services['envoy'].depends_on ?? {}).sort()).toEqual(['default-upstream', 'sidecar']);
  });

  it("routes the demo to the stand-ins by their service names", () => {
    const routes = readFileSync(path.join(REPO_ROOT, 'deploy', 'compose', 'routes.yaml'), 'utf8');
    const hosts = [...routes.matchAll(/function_uri: http:\/\/([^:/]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(hosts.length).toBe(3);
    for (const hostPort of hosts) {
      const [host, port] = hostPort.split(':');
      expect(compose.services[host]?.environment?.['STAND_IN_PORT']).toBe(port);
    }
  });
});

describe('deploy/compose/envoy.yaml', () => {
  it('passes envoy --mode validate', () => {
    const run = runTool('envoy', ['--mode', 'validate', '-c', COMPOSE_ENVOY, '--log-level', 'error']);
    expect(run.stderr + run.stdout).toContain('OK');
    expect(run.status).toBe(0);
  });

  it('is envoy/envoy.yaml with the service names of docker-compose.yml for addresses', () => {
    expect(withoutClusterAddresses(COMPOSE_ENVOY)).toEqual(withoutClusterAddresses(path.join(REPO_ROOT, 'envoy', 'envoy.yaml')));
    const text = readFileSync(COMPOSE_ENVOY, 'utf8');
    expect(text).toContain('socket_address: { address: sidecar, port_value: 50051 }');
    expect(text).toContain('socket_address: { address: default-upstream, port_value: 8081 }');
    expect(text).not.toMatch(/address: 127\.0\.0\.1, port_value: (50051|8081)/);
  });
});

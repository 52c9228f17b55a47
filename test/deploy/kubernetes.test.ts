/**
 * deploy/kubernetes/: validated offline against the Kubernetes API schemas (kubernetes-validate,
 * strict: unknown fields are errors), then checked for what the schemas cannot see: ports that
 * agree across env, probes, Envoy's config and the Service; the security context; and the probes
 * themselves, run against a real sidecar the way the kubelet runs them.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { cliNodeFlags } from '../../src/cli-node-flags';
import { parseRoutesDocument } from '../../src/config/routes-file';
import { REPO_ROOT, startSidecar, stopAll, type SidecarProcess } from '../e2e/support/processes';
import { runTool } from './deploy-tools';
import { DEPLOY_DIR, envoyCluster, expectValidKubernetes, findManifest, manifestsIn, readEnvoyConfig, type EnvoyBootstrap } from './manifests';

const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
const HEALTH_SERVING = Buffer.from([0x08, 0x01]);

interface Probe { httpGet?: { path: string; port: number | string }; grpc?: { port: number; service?: string }; tcpSocket?: { port: number | string } }
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
  securityContext: { runAsUser?: number; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
  volumes: Array<{ name: string; configMap?: { name: string } }>;
}

const deployment = findManifest('kubernetes', 'Deployment');
const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec;
const container = (name: string): Container => {
  const found = pod.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
};
const envoy = container('envoy');
const sidecar = container('aws-lambda-sidecar');
const envOf = (c: Container, name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;
const portOf = (c: Container, ref: number | string): number => (typeof ref === 'number' ? ref : (c.ports.find((p) => p.name === ref)?.containerPort ?? NaN));
const listenPort = (address: string | undefined): number => Number(address?.split(':').pop());

function configMapData(name: string, key: string): string {
  const data = findManifest('kubernetes', 'ConfigMap', name).data?.[key];
  if (data === undefined) throw new Error(`ConfigMap ${name} has no ${key}`);
  return data;
}
const podEnvoyConfig = parse(configMapData('aws-lambda-sidecar-envoy', 'envoy.yaml')) as EnvoyBootstrap;

function memoryBytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (m === null) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(m[1]) * (m[2] === 'Mi' ? 2 ** 20 : 2 ** 30);
}

describe('deploy/kubernetes', () => {
  it('passes kubernetes-validate --strict, every document', () => {
    const files = [...new Set(manifestsIn('kubernetes').map(({ file }) => file))];
    expectValidKubernetes(files, manifestsIn('kubernetes').length);
    expect(manifestsIn('kubernetes').map(({ manifest }) => manifest.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'NetworkPolicy', 'Service', 'ServiceAccount']);
  });

  it("mounts Envoy's configuration from a ConfigMap that is envoy/envoy.yaml, valid for Envoy", () => {
    expect(podEnvoyConfig).toEqual(readEnvoyConfig());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'k8s-envoy-'));
    try {
      const file = path.join(dir, 'envoy.yaml');
      writeFileSync(file, configMapData('aws-lambda-sidecar-envoy', 'envoy.yaml'));
      const run = runTool('envoy', ['--mode', 'validate', '-c', file, '--log-level', 'error']);
      expect(run.stdout + run.stderr).toContain('OK');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(envoy.args?.slice(0, 2)).toEqual(['-c', '/etc/envoy/envoy.yaml']);
    expect(envoy.volumeMounts).toContainEqual({ name: 'envoy-config', mountPath: '/etc/envoy', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'envoy-config', configMap: { name: 'aws-lambda-sidecar-envoy' } });
  });

  it('mounts routes the sidecar accepts, as a directory (a subPath mount never sees updates)', () => {
    expect(parseRoutesDocument(configMapData('aws-lambda-sidecar-routes', 'routes.yaml'), 'configmap').length).toBeGreaterThan(0);
    const config = envOf(sidecar, 'SIDECAR_CONFIG') ?? '';
    const mount = sidecar.volumeMounts.find((m) => m.name === 'routes');
    expect(mount).toEqual({ name: 'routes', mountPath: path.dirname(config), readOnly: true });
    expect(path.basename(config)).toBe('routes.yaml');
    expect(pod.volumes).toContainEqual({ name: 'routes', configMap: { name: 'aws-lambda-sidecar-routes' } });
  });

  it('agrees on ports: sidecar env, container ports, probes, Envoy cluster and listener, Service, NetworkPolicy', () => {
    const grpcPort = listenPort(envOf(sidecar, 'SIDECAR_GRPC_LISTEN'));
    const httpPort = listenPort(envOf(sidecar, 'SIDECAR_HTTP_LISTEN'));
    expect(envOf(sidecar, 'SIDECAR_GRPC_LISTEN')).toBe(`0.0.0.0:${grpcPort}`);
    expect(envOf(sidecar, 'SIDECAR_HTTP_LISTEN')).toBe(`0.0.0.0:${httpPort}`);
    expect(portOf(sidecar, 'grpc')).toBe(grpcPort);
    expect(portOf(sidecar, sidecar.readinessProbe?.grpc?.port ?? 'none')).toBe(grpcPort);
    for (const probe of [sidecar.startupProbe, sidecar.livenessProbe]) {
      expect(probe?.httpGet?.path).toBe('/healthz');
      expect(portOf(sidecar, probe?.httpGet?.port ?? 'none')).toBe(httpPort);
    }
    const sidecarEndpoint = JSON.stringify(envoyCluster('lambda_sidecar', podEnvoyConfig)['load_assignment']);
    expect(sidecarEndpoint).toContain(`"address":"127.0.0.1","port_value":${grpcPort}`);

    const listener = (podEnvoyConfig.static_resources.listeners[0] as unknown as { address: { socket_address: { address: string; port_value: number } } }).address.socket_address;
    expect(listener.address).toBe('0.0.0.0');
    expect(portOf(envoy, 'http')).toBe(listener.port_value);
    for (const probe of [envoy.readinessProbe, envoy.livenessProbe]) expect(portOf(envoy, probe?.tcpSocket?.port ?? 'none')).toBe(listener.port_value);
    const service = findManifest('kubernetes', 'Service').spec as { selector: Record<string, string>; ports: Array<{ targetPort: string }> };
    expect(service.ports.map((p) => portOf(envoy, p.targetPort))).toEqual([listener.port_value]);
    expect(service.selector).toEqual((deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
    const policy = findManifest('kubernetes', 'NetworkPolicy').spec as { ingress: Array<{ ports: Array<{ port: number }> }> };
    expect(policy.ingress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual([listener.port_value]);
  });

  it('runs both containers locked down: non-root, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of pod.containers) {
      expect([c.name, c.securityContext.allowPrivilegeEscalation, c.securityContext.readOnlyRootFilesystem, c.securityContext.capabilities?.drop]).toEqual([c.name, false, true, ['ALL']]);
      expect(c.securityContext.runAsUser).toBeGreaterThan(0);
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
    }
    // The image's user (Dockerfile USER) and a memory limit above the V8 old-space bound.
    expect(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')).toContain(`USER ${sidecar.securityContext.runAsUser}:`);
    const oldSpaceMb = Number(/--max-old-space-size=(\d+)/.exec(cliNodeFlags(path.join(REPO_ROOT, 'src', 'cli.ts')).join(' '))?.[1]);
    expect(memoryBytes(sidecar.resources.limits.memory)).toBeGreaterThan(oldSpaceMb * 2 ** 20 * 1.25);
    const account = findManifest('kubernetes', 'ServiceAccount');
    expect(pod.serviceAccountName).toBe(account.metadata.name);
    expect(readFileSync(path.join(DEPLOY_DIR, 'kubernetes', 'serviceaccount.yaml'), 'utf8')).toMatch(/^ {2}# {3}eks\.amazonaws\.com\/role-arn: arn:aws:iam::/m);
  });

  describe('the probes, run against the sidecar as the kubelet runs them', () => {
    let proc: SidecarProcess;
    let client: grpc.Client;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'k8s-probes-'));
      writeFileSync(path.join(dir, 'routes.yaml'), configMapData('aws-lambda-sidecar-routes', 'routes.yaml'));
      // The pod's environment, with loopback port 0 for the listeners (ports are checked above).
      const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e.value]));
      proc = await startSidecar([], { env: { ...env, SIDECAR_CONFIG: path.join(dir, 'routes.yaml'), SIDECAR_GRPC_LISTEN: '127.0.0.1:0', SIDECAR_HTTP_LISTEN: '127.0.0.1:0' } });
      client = new grpc.Client(proc.grpcAddress, grpc.credentials.createInsecure());
    });
    afterAll(async () => {
      client?.close();
      await stopAll(proc);
      rmSync(dir, { recursive: true, force: true });
    });

    it('httpGet /healthz answers 200 (startup and liveness)', async () => {
      for (const probe of [sidecar.startupProbe, sidecar.livenessProbe]) {
        const res = await fetch(`http://${proc.httpAddress}${probe?.httpGet?.path}`);
        expect(res.status).toBe(200);
      }
    });

    it('grpc probe: grpc.health.v1 Check for the probe service answers SERVING (readiness)', async () => {
      const service = sidecar.readinessProbe?.grpc?.service ?? '';
      const request = service === '' ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(service)]), Buffer.from(service)]);
      const identity = (b: Buffer): Buffer => b;
      const answer = await new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(HEALTH_CHECK_METHOD, identity, identity, request, (err, value) => (err ? reject(err) : resolve(value as Buffer)));
      });
      expect(answer).toEqual(HEALTH_SERVING);
    });
  });
});

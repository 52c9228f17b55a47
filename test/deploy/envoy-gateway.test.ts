/**
 * deploy/envoy-gateway/: the sidecar's own Deployment, Service and NetworkPolicy are validated
 * against the Kubernetes schemas; Envoy Gateway's Backend and EnvoyExtensionPolicy CRDs are not in
 * kubernetes-validate's schemas, so they are checked against what they must agree with: the
 * Service they point at and envoy/envoy.yaml's ext_proc settings.
 */
import * as path from 'node:path';
import { DEPLOY_DIR, envoyExtProcFilter, expectValidKubernetes, findManifest, type Manifest } from './manifests';

interface Container { name: string; ports: Array<{ name: string; containerPort: number }> }
const containers = (deployment: Manifest): Container[] => (deployment.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers;

const sidecarDeployment = findManifest('envoy-gateway', 'Deployment');
const service = findManifest('envoy-gateway', 'Service');
const backend = findManifest('envoy-gateway', 'Backend');
const policy = findManifest('envoy-gateway', 'EnvoyExtensionPolicy');

describe('deploy/envoy-gateway', () => {
  it('sidecar.yaml passes kubernetes-validate --strict, every document', () => {
    expectValidKubernetes([path.join(DEPLOY_DIR, 'envoy-gateway', 'sidecar.yaml')], 3);
  });

  it("runs the same sidecar container as deploy/kubernetes' pod", () => {
    const podSidecar = containers(findManifest('kubernetes', 'Deployment')).find((c) => c.name === 'aws-lambda-sidecar');
    expect(containers(sidecarDeployment)).toEqual([podSidecar]);
  });

  it("points the Backend at the sidecar's gRPC Service over h2c", () => {
    const grpcPort = containers(sidecarDeployment)[0].ports.find((p) => p.name === 'grpc')?.containerPort;
    const servicePort = (service.spec as { ports: Array<{ port: number; targetPort: string; appProtocol: string }> }).ports[0];
    expect([servicePort.targetPort, servicePort.port, servicePort.appProtocol]).toEqual(['grpc', grpcPort, 'kubernetes.io/h2c']);
    expect(backend.apiVersion).toBe('gateway.envoyproxy.io/v1alpha1');
    const spec = backend.spec as { endpoints: Array<{ fqdn: { hostname: string; port: number } }>; appProtocols: string[] };
    expect(spec.endpoints).toEqual([{ fqdn: { hostname: `${service.metadata.name}.default.svc.cluster.local`, port: servicePort.port } }]);
    expect(spec.appProtocols).toEqual(['gateway.envoyproxy.io/h2c']);
    const networkPolicy = findManifest('envoy-gateway', 'NetworkPolicy').spec as { ingress: Array<{ ports: Array<{ port: number }> }> };
    expect(networkPolicy.ingress.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual([grpcPort]);
  });

  it("configures ext_proc like envoy/envoy.yaml: request headers and BUFFERED body, no response phases, 60 s, fail closed", () => {
    const extProc = (policy.spec as { extProc: Array<{ backendRefs: Array<Record<string, unknown>>; messageTimeout: string; failOpen: boolean; processingMode: { request?: { body?: string }; response?: unknown } }> }).extProc;
    expect(extProc).toHaveLength(1);
    const [settings] = extProc;
    expect(settings.backendRefs).toEqual([{ group: 'gateway.envoyproxy.io', kind: 'Backend', name: backend.metadata.name, port: 50051 }]);
    const envoy = envoyExtProcFilter().typed_config as { message_timeout: string; failure_mode_allow: boolean; processing_mode: Record<string, string> };
    expect(settings.messageTimeout).toBe(envoy.message_timeout);
    expect(settings.failOpen).toBe(envoy.failure_mode_allow);
    expect(envoy.processing_mode['request_body_mode']).toBe('BUFFERED');
    expect(settings.processingMode.request?.body).toBe('Buffered');
    expect(envoy.processing_mode['response_header_mode']).toBe('SKIP');
    expect(settings.processingMode.response).toBeUndefined();
  });
});

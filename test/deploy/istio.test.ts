/**
 * deploy/istio/envoyfilter.yaml: Istio's EnvoyFilter CRD is not in kubernetes-validate's schemas,
 * so what it produces is checked instead. Its patches are applied, as Istio applies them, to a
 * minimal Envoy bootstrap (a listener whose http_connection_manager ends with the router, like the
 * inbound listeners Istio generates); Envoy validates the result, and then runs it in front of a real
 * sidecar and stand-in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import { freeEnvoyPorts, renderEnvoyConfig, startEnvoy, startSidecar, stopAll, type EnvoyProcess, type SidecarProcess } from '../e2e/support/processes';
import { runTool } from './deploy-tools';
import { envoyCluster, envoyExtProcFilter, findManifest, type EnvoyBootstrap, type EnvoyCluster, type EnvoyFilterEntry } from './manifests';

interface ConfigPatch {
  applyTo: string;
  match: { context: string; listener?: { filterChain: { filter: { name: string; subFilter?: { name: string } } } } };
  patch: { operation: string; value: Record<string, unknown> };
}

const envoyFilter = findManifest('istio', 'EnvoyFilter');
const patches = (envoyFilter.spec as { configPatches: ConfigPatch[] }).configPatches;
const APP_ANSWER = 'the workload answered';

/** What Istio's inbound listener looks like to the patch: an HCM whose last filter is the router. */
const BOOTSTRAP_TEXT = `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
static_resources:
  listeners:
    - name: virtualInbound
      address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: inbound
                route_config:
                  virtual_hosts:
                    - name: workload
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          direct_response: { status: 200, body: { inline_string: "${APP_ANSWER}" } }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters: []
`;

/** Istio's CLUSTER ADD and HTTP_FILTER INSERT_BEFORE, the only operations the file uses. */
function applyPatches(bootstrap: EnvoyBootstrap, configPatches: readonly ConfigPatch[]): EnvoyBootstrap {
  const result = structuredClone(bootstrap);
  for (const { applyTo, match, patch } of configPatches) {
    if (applyTo === 'CLUSTER' && patch.operation === 'ADD') {
      result.static_resources.clusters.push(patch.value as EnvoyCluster);
    } else if (applyTo === 'HTTP_FILTER' && patch.operation === 'INSERT_BEFORE') {
      const target = match.listener?.filterChain.filter;
      let inserted = 0;
      for (const listener of result.static_resources.listeners) {
        for (const chain of listener.filter_chains) {
          for (const filter of chain.filters) {
            if (filter.name !== target?.name) continue;
            const httpFilters = filter.typed_config.http_filters;
            const at = httpFilters.findIndex((f) => f.name === target.subFilter?.name);
            if (at < 0) continue;
            httpFilters.splice(at, 0, patch.value as unknown as EnvoyFilterEntry);
            inserted += 1;
          }
        }
      }
      if (inserted === 0) throw new Error(`HTTP_FILTER patch matched nothing: ${JSON.stringify(match)}`);
    } else {
      throw new Error(`patch ${applyTo} ${patch.operation} is not modelled by this test`);
    }
  }
  return result;
}

const patched = applyPatches(parse(BOOTSTRAP_TEXT) as EnvoyBootstrap, patches);

describe('deploy/istio/envoyfilter.yaml', () => {
  it("inserts envoy/envoy.yaml's ext_proc filter before the router and adds its sidecar cluster", () => {
    expect(envoyFilter.apiVersion).toBe('networking.istio.io/v1alpha3');
    const filter = patches.find((p) => p.applyTo === 'HTTP_FILTER');
    expect(filter?.patch.operation).toBe('INSERT_BEFORE');
    expect(filter?.match.listener?.filterChain.filter.subFilter?.name).toBe('envoy.filters.http.router');
    expect(filter?.patch.value).toEqual(envoyExtProcFilter());
    const typed = filter?.patch.value['typed_config'] as { processing_mode: { request_body_mode: string }; message_timeout: string; failure_mode_allow: boolean; grpc_service: { envoy_grpc: { cluster_name: string } } };
    expect([typed.processing_mode.request_body_mode, typed.message_timeout, typed.failure_mode_allow]).toEqual(['BUFFERED', '60s', false]);

    const cluster = patches.find((p) => p.applyTo === 'CLUSTER');
    expect(cluster?.patch.value).toEqual(envoyCluster('lambda_sidecar'));
    expect(cluster?.patch.value['name']).toBe(typed.grpc_service.envoy_grpc.cluster_name);
    expect(JSON.stringify(cluster?.patch.value)).toContain('"address":"127.0.0.1","port_value":50051');
  });

  it('produces a configuration that envoy --mode validate accepts', () => {
    const names = patched.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.map((f) => f.name);
    expect(names).toEqual(['envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'istio-patch-'));
    try {
      const file = path.join(dir, 'envoy.yaml');
      writeFileSync(file, stringify(patched));
      const run = runTool('envoy', ['--mode', 'validate', '-c', file, '--log-level', 'error']);
      expect(run.stdout + run.stderr).toContain('OK');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('run in front of a real sidecar', () => {
    let standIn: StandIn;
    let sidecar: SidecarProcess;
    let envoy: EnvoyProcess;
    let dir: string;

    beforeAll(async () => {
      standIn = await startStandIn({ apiKey: 'istio-key' });
      dir = mkdtempSync(path.join(os.tmpdir(), 'istio-run-'));
      writeFileSync(path.join(dir, 'routes.yaml'), stringify({ routes: [{ id: 'lambda', uri: '/lambda', plugins: { 'aws-lambda': { function_uri: `${standIn.url}/fn`, authorization: { apikey: 'istio-key' } } } }] }));
      sidecar = await startSidecar(['--config', path.join(dir, 'routes.yaml'), '--grpc-listen', '127.0.0.1:0', '--http-listen', 'off']);
      writeFileSync(path.join(dir, 'patched.yaml'), stringify(patched));
      const ports = await freeEnvoyPorts(Number(sidecar.grpcAddress.split(':').pop()), 0);
      envoy = await startEnvoy(renderEnvoyConfig(path.join(dir, 'patched.yaml'), ports), ports);
    });

    afterAll(async () => {
      await stopAll(envoy, sidecar);
      await standIn?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers a route from the function, and lets every other request reach the workload', async () => {
      const routed = await fetch(`http://127.0.0.1:${envoy.listenerPort}/lambda?name=Istio`);
      expect([routed.status, await routed.text()]).toEqual([200, '"Hello, Istio!"']);
      const other = await fetch(`http://127.0.0.1:${envoy.listenerPort}/elsewhere`);
      expect([other.status, await other.text()]).toEqual([200, APP_ANSWER]);
    });
  });
});

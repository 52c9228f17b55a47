/**
 * Envoy for the bench: the `envoy-native` configuration written here (what a user would run instead
 * of the sidecar: Envoy's own aws_request_signing filter); the checked-in configurations
 * (envoy/envoy.yaml, envoy/envoy-ext-authz.yaml) are rendered with the bench's ports by the e2e
 * harness's renderEnvoyConfigText. Every Envoy runs with --concurrency 1 (ENVOY_CONCURRENCY) so each
 * setup has the same budget.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startEnvoy, type EnvoyPorts, type EnvoyProcess } from '../test/e2e/support/processes';
import { httpRequest } from './http-request';
import { BENCH_SPAWN } from './processes';

/** Fake, well-formed credentials: nothing leaves 127.0.0.1, nobody checks the signature. */
export const BENCH_CREDENTIALS = {
  accessKeyId: 'AKIDBENCHEXAMPLE',
  secretAccessKey: 'bench/secret/key/EXAMPLE',
} as const;
export const BENCH_API_KEY = 'bench-api-key';
export const AWS_REGION = 'us-east-1';
export const AWS_SERVICE = 'execute-api';

/**
 * Envoy signing requests itself. `use_unsigned_payload: false` makes it buffer and hash the body like
 * the sidecar does; the credential chain is limited to the environment provider so Envoy never
 * reaches for instance metadata (169.254.169.254) or a credentials file.
 * `ports.sidecarGrpc` is unused; `ports.defaultUpstream` is the function nginx, where `/aws/` goes.
 * Checked against Envoy 1.40 with `envoy --mode validate`.
 */
export function nativeEnvoyConfig(ports: EnvoyPorts): string {
  return `# Rendered by bench/envoy.ts: envoy-native, Envoy's own SigV4 signing (no sidecar).
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: ${ports.admin} }
static_resources:
  listeners:
    - name: native_http
      address:
        socket_address: { address: 127.0.0.1, port_value: ${ports.listener} }
      # Same as envoy/envoy.yaml, so both Envoys buffer the same way.
      per_connection_buffer_limit_bytes: 10485760
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: native_http
                codec_type: AUTO
                route_config:
                  name: native_route
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/aws/" }
                          route:
                            cluster: function
                            prefix_rewrite: "/default/"
                          request_headers_to_add:
                            - header: { key: x-api-key, value: ${BENCH_API_KEY} }
                              append_action: OVERWRITE_IF_EXISTS_OR_ADD
                http_filters:
                  - name: envoy.filters.http.aws_request_signing
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning
                      service_name: ${AWS_SERVICE}
                      region: ${AWS_REGION}
                      use_unsigned_payload: false
                      credential_provider:
                        custom_credential_provider_chain: true
                        environment_credential_provider: {}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: function
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: function
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: ${ports.defaultUpstream} }
      circuit_breakers:
        thresholds:
          - { priority: DEFAULT, max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }
`;
}

export interface BenchEnvoy extends EnvoyProcess {
  readonly configFile: string;
}

/** Writes `configText` to `dir`/`name`.yaml and starts Envoy on it (the harness's flags: --concurrency 1). */
export async function startBenchEnvoy(
  envoyBin: string,
  name: string,
  dir: string,
  configText: string,
  ports: EnvoyPorts,
  env: NodeJS.ProcessEnv,
): Promise<BenchEnvoy> {
  const configFile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(configFile, configText);
  return { ...(await startEnvoy(configFile, ports, { ...BENCH_SPAWN, bin: envoyBin, name, env })), configFile };
}

/** Non-zero counters whose name mentions one of `words` (ext_proc failures, 5xx...). */
export async function envoyCounters(adminPort: number, words: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const res = await httpRequest(adminPort, '/stats?usedonly');
    for (const line of res.body.toString('utf8').split('\n')) {
      const m = /^([^:]+):\s*(\d+)$/.exec(line);
      if (m === null || m[2] === '0') continue;
      if (words.some((w) => m[1].includes(w))) out[m[1]] = Number(m[2]);
    }
  } catch {
    // Envoy gone: the run's error already says why.
  }
  return out;
}

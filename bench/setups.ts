/**
 * The setups compared, and the processes behind them. Every setup ends at the same function nginx;
 * they differ in what sits in front of it. Optional doors join automatically once their config file
 * exists in the repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freeEnvoyPorts, freePort, renderEnvoyConfigText, REPO_ROOT } from '../test/e2e/support/processes';
import { BENCH_CREDENTIALS, BenchEnvoy, nativeEnvoyConfig, startBenchEnvoy } from './envoy';
import { FUNCTION_PATHS, frontNginxConf, functionNginxConf, NginxProcess, startNginx } from './nginx';
import type { WatchedProcess } from './proc-usage';
import type { PayloadName, SetupName, SetupRecord } from './results';
import { SETUP_NAMES } from './results';
import { BenchSidecar, startBenchSidecar } from './sidecar';
import type { ToolPaths } from './tools';

export const EXT_PROC_CONFIG = 'envoy/envoy.yaml';
export const EXT_AUTHZ_CONFIG = 'envoy/envoy-ext-authz.yaml';
export const NGINX_FRONT_CONFIG = 'nginx/aws-lambda.conf';
export const ENVOY_UPSTREAM_CONFIG = 'envoy/envoy-upstream.yaml';

export const DESCRIPTIONS: Readonly<Record<SetupName, string>> = {
  direct: 'wrk → nginx (the function) with nothing in between: the ceiling of this machine, no signing.',
  'envoy-native':
    'wrk → Envoy with its own `envoy.filters.http.aws_request_signing` (SigV4, service execute-api, us-east-1, ' +
    'credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `use_unsigned_payload: false` so the body is hashed), ' +
    'route `prefix_rewrite` /aws/ → /default/, `x-api-key` added → nginx. What a user would run instead of the sidecar.',
  'envoy-ext_proc':
    `wrk → Envoy (${EXT_PROC_CONFIG}: ext_proc, request headers SEND, body BUFFERED) → sidecar over gRPC ` +
    '(route `/aws/*` → `http://127.0.0.1:<nginx>/default`, IAM SigV4 + x-api-key, `keepalive_pool: 64`) → nginx.',
  'envoy-ext_authz': `wrk → Envoy (${EXT_AUTHZ_CONFIG}) → sidecar ext_authz over gRPC → nginx (same routes file).`,
  'nginx-http': `wrk → nginx (${NGINX_FRONT_CONFIG}, proxy_pass) → sidecar HTTP front → nginx (same routes file).`,
  'envoy-upstream':
    `wrk → Envoy (${ENVOY_UPSTREAM_CONFIG}: the router, the sidecar as an HTTP/1.1 keep-alive cluster, no side stream) ` +
    '→ sidecar HTTP front → nginx (same routes file).',
};

/** Where load for a setup goes. */
export interface SetupHandle {
  readonly name: SetupName;
  readonly port: number;
  readonly paths: Readonly<Record<PayloadName | 'debug', string>>;
  /** The listener speaks h2c with prior knowledge (Envoy's codec_type AUTO). */
  readonly http2: boolean;
  /** True when the request passes the sidecar (its RSS/CPU belong in the table). */
  readonly viaSidecar: boolean;
  readonly sidecar: BenchSidecar | undefined;
  readonly envoy: BenchEnvoy | undefined;
  /** Processes whose CPU/RSS are recorded during this setup's runs (the function nginx included). */
  readonly watched: readonly WatchedProcess[];
}

export interface SetupSelection {
  readonly records: readonly SetupRecord[];
  readonly selected: readonly SetupName[];
}

/** Which setups run: the three core ones always, the later doors when their config file exists; --only narrows. */
export function selectSetups(only: readonly SetupName[] | undefined, extAuthzConfig: string | undefined, nginxConfig: string | undefined): SetupSelection {
  const records: SetupRecord[] = [];
  for (const name of SETUP_NAMES) {
    let missing: string | undefined;
    if (name === 'envoy-ext_authz' && !fs.existsSync(path.resolve(REPO_ROOT, extAuthzConfig ?? EXT_AUTHZ_CONFIG))) {
      missing = `${extAuthzConfig ?? EXT_AUTHZ_CONFIG} does not exist yet`;
    }
    if (name === 'nginx-http' && !fs.existsSync(path.resolve(REPO_ROOT, nginxConfig ?? NGINX_FRONT_CONFIG))) {
      missing = `${nginxConfig ?? NGINX_FRONT_CONFIG} does not exist yet`;
    }
    if (name === 'envoy-upstream' && !fs.existsSync(path.resolve(REPO_ROOT, ENVOY_UPSTREAM_CONFIG))) {
      missing = `${ENVOY_UPSTREAM_CONFIG} does not exist yet`;
    }
    if (missing !== undefined && only?.includes(name) === true) throw new Error(`--only ${name}: ${missing}`);
    const skippedBecause = missing ?? (only !== undefined && !only.includes(name) ? 'not in --only' : undefined);
    records.push({ name, included: skippedBecause === undefined, description: DESCRIPTIONS[name], skippedBecause });
  }
  return { records, selected: records.filter((r) => r.included).map((r) => r.name) };
}

const ENVOY_PATHS = { small: '/aws/small', large: '/aws/large', debug: '/aws/debug' } as const;

export interface BenchEnvironment {
  readonly function: NginxProcess;
  readonly setups: ReadonlyMap<SetupName, SetupHandle>;
}

/** Starts the function nginx, then everything the selected setups need. */
export async function startEnvironment(
  tools: ToolPaths,
  dir: string,
  selected: readonly SetupName[],
  configs: { extAuthz: string | undefined; nginx: string | undefined },
): Promise<BenchEnvironment> {
  const fnPort = await freePort();
  const fn = await startNginx(tools.nginx, 'function-nginx', dir, fnPort, (prefix) => functionNginxConf(prefix, fnPort), FUNCTION_PATHS.small);
  const fnWatch: WatchedProcess = { role: 'function-nginx', pid: fn.pid };
  const setups = new Map<SetupName, SetupHandle>();
  // No AWS credentials in any process but envoy-native's; never let an SDK go looking for metadata.
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' };
  delete baseEnv.AWS_ACCESS_KEY_ID;
  delete baseEnv.AWS_SECRET_ACCESS_KEY;
  delete baseEnv.AWS_SESSION_TOKEN;

  // Port 0: the sidecar binds and reports its ports, so no other process can take them meanwhile.
  const sidecarFor = (name: SetupName): Promise<BenchSidecar> => startBenchSidecar(`sidecar-${name}`, dir, fnPort, 0, 0);

  for (const name of selected) {
    switch (name) {
      case 'direct':
        setups.set(name, { name, port: fnPort, paths: FUNCTION_PATHS, http2: false, viaSidecar: false, sidecar: undefined, envoy: undefined, watched: [fnWatch] });
        break;
      case 'envoy-native': {
        const ports = await freeEnvoyPorts(0, fnPort);
        const env = { ...baseEnv, AWS_ACCESS_KEY_ID: BENCH_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: BENCH_CREDENTIALS.secretAccessKey };
        const envoy = await startBenchEnvoy(tools.envoy, 'envoy-native', dir, nativeEnvoyConfig(ports), ports, env);
        setups.set(name, {
          name, port: ports.listener, paths: ENVOY_PATHS, http2: true, viaSidecar: false, sidecar: undefined, envoy,
          watched: [{ role: 'envoy', pid: envoy.pid }, fnWatch],
        });
        break;
      }
      case 'envoy-ext_proc':
      case 'envoy-ext_authz':
      case 'envoy-upstream': {
        const sidecar = await sidecarFor(name);
        // envoy-upstream's Envoy talks to the sidecar's HTTP front; the filters' to its gRPC port.
        const ports = name === 'envoy-upstream' ? await freeEnvoyPorts(0, fnPort, sidecar.httpPort) : await freeEnvoyPorts(sidecar.grpcPort, fnPort);
        const file = name === 'envoy-ext_proc' ? EXT_PROC_CONFIG : name === 'envoy-upstream' ? ENVOY_UPSTREAM_CONFIG : configs.extAuthz ?? EXT_AUTHZ_CONFIG;
        const envoy = await startBenchEnvoy(tools.envoy, name, dir, renderEnvoyConfigText(file, ports), ports, baseEnv);
        setups.set(name, {
          name, port: ports.listener, paths: ENVOY_PATHS, http2: true, viaSidecar: true, sidecar, envoy,
          watched: [{ role: 'envoy', pid: envoy.pid }, { role: 'sidecar', pid: sidecar.pid }, fnWatch],
        });
        break;
      }
      case 'nginx-http': {
        const sidecar = await sidecarFor(name);
        const port = await freePort();
        const source = fs.readFileSync(path.resolve(REPO_ROOT, configs.nginx ?? NGINX_FRONT_CONFIG), 'utf8');
        const front = await startNginx(tools.nginx, 'front-nginx', dir, port, (prefix) => frontNginxConf(prefix, port, source, sidecar.httpAddress), undefined);
        setups.set(name, {
          name, port, paths: ENVOY_PATHS, http2: false, viaSidecar: true, sidecar, envoy: undefined,
          watched: [{ role: 'nginx-front', pid: front.pid }, { role: 'sidecar', pid: sidecar.pid }, fnWatch],
        });
        break;
      }
    }
  }
  return { function: fn, setups };
}

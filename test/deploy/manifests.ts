/** Reading the YAML files under deploy/ in the tests: documents, and the pieces the tests compare. */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../e2e/support/processes';
import { runTool } from './deploy-tools';

export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy');
export const ENVOY_YAML = path.join(REPO_ROOT, 'envoy', 'envoy.yaml');

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [field: string]: unknown;
}

/** Every document of every .yaml file in deploy/<folder>, with the file it came from. */
export function manifestsIn(folder: string): Array<{ file: string; manifest: Manifest }> {
  const dir = path.join(DEPLOY_DIR, folder);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .flatMap((name) => {
      const file = path.join(dir, name);
      return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => ({ file, manifest: doc.toJS() as Manifest }));
    });
}

export function findManifest(folder: string, kind: string, name?: string): Manifest {
  const found = manifestsIn(folder).find(({ manifest }) => manifest.kind === kind && (name === undefined || manifest.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} in deploy/${folder}`);
  return found.manifest;
}

export interface EnvoyFilterEntry { name: string; typed_config: Record<string, unknown> }
export interface EnvoyCluster { name: string; [field: string]: unknown }
export interface EnvoyBootstrap {
  static_resources: {
    listeners: Array<{ filter_chains: Array<{ filters: Array<{ name: string; typed_config: { http_filters: EnvoyFilterEntry[] } & Record<string, unknown> }> }> }>;
    clusters: EnvoyCluster[];
  };
  [field: string]: unknown;
}

export function readEnvoyConfig(file: string = ENVOY_YAML): EnvoyBootstrap {
  return parse(readFileSync(file, 'utf8')) as EnvoyBootstrap;
}

/** The ext_proc HTTP filter of envoy/envoy.yaml's listener. */
export function envoyExtProcFilter(config: EnvoyBootstrap = readEnvoyConfig()): EnvoyFilterEntry {
  const filters = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters;
  const extProc = filters.find((f) => f.name === 'envoy.filters.http.ext_proc');
  if (extProc === undefined) throw new Error('envoy/envoy.yaml has no ext_proc filter');
  return extProc;
}

export function envoyCluster(name: string, config: EnvoyBootstrap = readEnvoyConfig()): EnvoyCluster {
  const cluster = config.static_resources.clusters.find((c) => c.name === name);
  if (cluster === undefined) throw new Error(`envoy/envoy.yaml has no cluster ${name}`);
  return cluster;
}

/** The oldest Kubernetes minor still supported upstream, and the newest kubernetes-validate knows. */
export const KUBERNETES_VERSIONS = ['1.33.0', '1.37.0'];

/** Runs kubernetes-validate --strict; every document must pass (a kind without a schema is a failure here). */
export function expectValidKubernetes(files: readonly string[], documents: number): void {
  for (const version of KUBERNETES_VERSIONS) {
    const run = runTool('kubernetes-validate', ['--strict', '--kubernetes-version', version, ...files]);
    const output = run.stdout + run.stderr;
    expect([version, output.split('\n').filter((line) => /^(WARN|ERROR)/.test(line))]).toEqual([version, []]);
    expect(output.match(/ passed for resource /g)?.length).toBe(documents);
    expect(run.status).toBe(0);
  }
}


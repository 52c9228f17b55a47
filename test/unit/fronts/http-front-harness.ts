/**
 * A sidecar in this process with only its HTTP front on 127.0.0.1:0, its routes in a temp file,
 * its log lines captured, and a plain local HTTP server playing the function.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { FileRouteStore } from '../../../src/config/stores/file-store';
import { createLogger } from '../../../src/logger';
import { RunningSidecar, SidecarOptions, startSidecar } from '../../../src/server';

export type LogLine = Record<string, unknown>;

export interface Harness {
  readonly sidecar: RunningSidecar;
  readonly httpPort: number;
  /** The function's URL (function_uri of the routes). */
  readonly functionUrl: string;
  readonly logs: LogLine[];
  /** Requests the function received so far, by url. */
  readonly functionHits: string[];
  close(): Promise<void>;
}

export interface HarnessOptions extends Partial<Omit<SidecarOptions, 'store' | 'logger' | 'grpcListen' | 'httpListen'>> {
  /** The function's handler; default: 200 `fn:<url>` once the body is read. */
  readonly fn?: http.RequestListener;
}

/** A pino logger writing parsed JSON lines into `lines`. */
export function capturingLogger(lines: LogLine[]): ReturnType<typeof createLogger> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return createLogger('debug', sink);
}

export async function startHarness(routesYaml: (functionUrl: string) => string, opts: HarnessOptions = {}): Promise<Harness> {
  const functionHits: string[] = [];
  const fnServer = http.createServer((req, res) => {
    functionHits.push(req.url ?? '');
    if (opts.fn !== undefined) return opts.fn(req, res);
    req.resume();
    req.on('end', () => res.end(`fn:${req.url}`));
  });
  await new Promise<void>((resolve) => fnServer.listen(0, '127.0.0.1', resolve));
  const functionUrl = `http://127.0.0.1:${(fnServer.address() as AddressInfo).port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'sidecar-http-front-'));
  const file = path.join(dir, 'routes.yaml');
  writeFileSync(file, routesYaml(functionUrl));
  const logs: LogLine[] = [];
  const { fn: _fn, ...sidecarOpts } = opts;
  const sidecar = await startSidecar({ ...sidecarOpts, store: new FileRouteStore(file), grpcListen: undefined, httpListen: '127.0.0.1:0', logger: capturingLogger(logs) });
  const httpPort = Number(/:(\d+)$/.exec(sidecar.httpAddress ?? '')?.[1]);
  return {
    sidecar,
    httpPort,
    functionUrl,
    logs,
    functionHits,
    close: async () => {
      await sidecar.close();
      fnServer.closeAllConnections();
      await new Promise<void>((resolve) => fnServer.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function request(port: number, urlPath: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Resolves once `probe` holds, polling every 5 ms; throws after timeoutMs naming `what`. */
export async function until(what: string, probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * One-off HTTP/1.1 requests on loopback for readiness checks, verification and admin pages. Never used
 * to generate load (wrk and h2load do that, in their own processes).
 */
import * as http from 'node:http';

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export interface SimpleResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export function httpRequest(
  port: number,
  urlPath: string,
  opts: { method?: string; body?: Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(opts.body.length);
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: opts.method ?? 'GET', headers, agent: false, timeout: opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} 127.0.0.1:${port}${urlPath} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** true when GET answers 200 (any failure is just "not yet"). */
export async function answers200(port: number, urlPath: string): Promise<boolean> {
  try {
    return (await httpRequest(port, urlPath, { timeoutMs: 1_000 })).status === 200;
  } catch {
    return false;
  }
}

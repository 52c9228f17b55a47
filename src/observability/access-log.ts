/**
 * `--access-log <path|stdout>`: one JSON line per finished request (README "Observability").
 * No header value and no query is written. Lines go through the same bounded, non-blocking writer
 * as the logs: when the file or pipe does not keep up, lines past `--access-log-buffer-bytes` are
 * dropped and counted (aws_lambda_sidecar_access_log_dropped_lines_total, and a note line).
 */
import { randomUUID } from 'node:crypto';
import { openSync } from 'node:fs';
import { StdoutDestination } from '../logger';
import type { RequestObserver, RequestRecord } from './request-observer';

export const DEFAULT_ACCESS_LOG_BUFFER_BYTES = 4 * 1024 * 1024;
export const ACCESS_LOG_STDOUT = 'stdout';

export class AccessLog implements RequestObserver {
  private readonly out: StdoutDestination;

  /** `target`: a file path (appended to, created when missing) or `stdout`. */
  constructor(target: string, maxBufferBytes = DEFAULT_ACCESS_LOG_BUFFER_BYTES, stdout?: StdoutDestination) {
    this.out = target === ACCESS_LOG_STDOUT && stdout !== undefined ? stdout : new StdoutDestination(target === ACCESS_LOG_STDOUT ? 1 : openSync(target, 'a'), maxBufferBytes);
  }

  get droppedLines(): number {
    return this.out.droppedTotal;
  }

  requestDone(r: RequestRecord): void {
    this.out.write(`${JSON.stringify({
      time: new Date().toISOString(),
      requestId: r.requestId ?? randomUUID(),
      door: r.door,
      route: r.route,
      method: r.method,
      path: r.path,
      status: r.status,
      code: r.code,
      durationMs: r.durationMs,
      functionMs: r.functionMs === undefined ? undefined : Math.round(r.functionMs * 10) / 10,
      requestBytes: r.requestBytes,
      responseBytes: r.responseBytes,
    })}\n`);
  }

  drain(timeoutMs: number): Promise<void> {
    return this.out.drain(timeoutMs);
  }
}

/**
 * The process logger: pino JSON lines on stdout. Secrets never reach a log line because we never log
 * route objects or request headers; the redaction list is a second line of defence.
 */
import { write as fsWrite } from 'node:fs';
import pino, { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Log bytes held while stdout does not keep up (a slow or stuck reader); beyond it lines are dropped. */
export const DEFAULT_LOG_BUFFER_BYTES = 8 * 1024 * 1024;
/** How long an exit waits for buffered log lines to reach stdout. */
export const LOG_FLUSH_TIMEOUT_MS = 1_000;
/** A full non-blocking pipe answers EAGAIN: try again after this long. */
const EAGAIN_RETRY_MS = 50;

const REDACT_PATHS = [
  'secret_key', 'secretkey', 'apikey', 'session_token', 'authorization', 'x-api-key', 'adminKey',
  '*.secret_key', '*.secretkey', '*.apikey', '*.session_token', '*.authorization', '*["x-api-key"]', '*.adminKey',
];

/**
 * stdout for pino, asynchronous and bounded, that never wedges the process. pino's own destination
 * (sonic-boom) flushes synchronously at exit and retries a failed write forever: with stdout's
 * reader gone that is a busy loop on `write() = EPIPE` that no signal can stop. Here a write error
 * other than EAGAIN (EPIPE: nobody reads any more) turns logging off for good, and an exit waits
 * for the buffer at most LOG_FLUSH_TIMEOUT_MS (`drain`).
 */
export class StdoutDestination {
  /** Lines accepted and not yet written; with `inFlight`, their size stays within maxBufferBytes. */
  private queued: string[] = [];
  private unwrittenBytes = 0;
  private writing = false;
  /** Set by the first write error other than EAGAIN: nothing is written afterwards. */
  private broken = false;
  private droppedLines = 0;
  /** Lines dropped since start (for the metrics). */
  droppedTotal = 0;
  private readonly drained = new Set<() => void>();

  constructor(
    private readonly fd = 1,
    private readonly maxBufferBytes = DEFAULT_LOG_BUFFER_BYTES,
  ) {}

  write(line: string): void {
    if (this.broken) return;
    const bytes = Buffer.byteLength(line);
    if (this.unwrittenBytes + bytes > this.maxBufferBytes) {
      this.droppedLines++;
      this.droppedTotal++;
      return;
    }
    if (this.droppedLines > 0) {
      const note = `${JSON.stringify({ level: 40, time: Date.now(), msg: 'log lines dropped: stdout did not keep up', dropped: this.droppedLines })}\n`;
      this.droppedLines = 0;
      this.queued.push(note);
      this.unwrittenBytes += Buffer.byteLength(note);
    }
    this.queued.push(line);
    this.unwrittenBytes += bytes;
    if (!this.writing) this.writeQueued();
  }

  /** Resolves once every line accepted so far is written (or logging is off), or after timeoutMs. */
  drain(timeoutMs = LOG_FLUSH_TIMEOUT_MS): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.drained.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.drained.add(done);
    });
  }

  private writeQueued(): void {
    if (this.broken || this.queued.length === 0) {
      this.writing = false;
      for (const done of [...this.drained]) done();
      return;
    }
    this.writing = true;
    const chunk = Buffer.from(this.queued.length === 1 ? this.queued[0] : this.queued.join(''));
    this.queued = [];
    this.writeChunk(chunk);
  }

  private writeChunk(chunk: Buffer): void {
    fsWrite(this.fd, chunk, 0, chunk.length, null, (err, written) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeChunk(chunk), EAGAIN_RETRY_MS).unref();
          return;
        }
        this.broken = true;
        this.queued = [];
        this.unwrittenBytes = 0;
        this.writeQueued();
        return;
      }
      this.unwrittenBytes -= written;
      if (written < chunk.length) this.writeChunk(chunk.subarray(written));
      else this.writeQueued();
    });
  }
}

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { svc: 'aws-lambda-sidecar' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination ?? new StdoutDestination(),
  );
}

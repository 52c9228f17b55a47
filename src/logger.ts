/**
 * The process logger: pino JSON lines on stdout. Secrets never reach a log line because we never log
 * route objects or request headers; the redaction list is a second line of defence.
 */
import pino, { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const REDACT_PATHS = [
  'secret_key', 'secretkey', 'apikey', 'session_token', 'authorization', 'x-api-key', 'adminKey',
  '*.secret_key', '*.secretkey', '*.apikey', '*.session_token', '*.authorization', '*["x-api-key"]', '*.adminKey',
];

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { svc: 'aws-lambda-sidecar' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

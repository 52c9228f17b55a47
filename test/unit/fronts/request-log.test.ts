// The one failure line every front writes for a request the sidecar answered with an error.
import pino from 'pino';
import { Writable } from 'node:stream';
import { ERROR_CODES, sidecarError, type ErrorCode } from '../../../src/errors';
import { logRequestFailure } from '../../../src/fronts/request-log';

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'trace' }, sink), lines };
}

const LEVEL = { debug: 20, warn: 40, error: 50 } as const;

it.each<[ErrorCode, number | undefined]>([
  [ERROR_CODES.UPSTREAM_TIMEOUT, LEVEL.warn],
  [ERROR_CODES.DRAINING, LEVEL.warn],
  [ERROR_CODES.INTERNAL, LEVEL.error],
  [ERROR_CODES.CLIENT_GONE, LEVEL.debug],
  // The credential source logs its outage once at each end: per request only at debug.
  [ERROR_CODES.CREDENTIALS, LEVEL.debug],
  // Logged by the Gateway, at most once per interval: a front adds nothing per request.
  [ERROR_CODES.OVERLOADED, undefined],
  [ERROR_CODES.RESPONSE_BUDGET, undefined],
])('%s is logged at level %s with the route and request id', (code, level) => {
  const { log, lines } = capture();
  logRequestFailure(log, sidecarError(code, `failed with ${code}`), { requestId: 'req-1', route: 'r1' });
  log.flush();
  if (level === undefined) {
    expect(lines).toEqual([]);
    return;
  }
  expect(lines).toEqual([expect.objectContaining({ level, code, requestId: 'req-1', route: 'r1' })]);
});

/**
 * The access log over a real pipe whose reader stops reading: lines past the buffer are dropped
 * and counted, the event loop keeps running, and nothing but the documented fields is written.
 */
import * as fs from 'node:fs';
import { AccessLog } from '../../../src/observability/access-log';
import type { RequestRecord } from '../../../src/observability/request-observer';
import { fifo, readAvailable } from '../../support/fifo';

const RECORD: RequestRecord = {
  door: 'http', route: 'r1', status: 200, code: undefined, durationMs: 1.2, requestId: 'id-1', method: 'GET', path: '/p',
  requestBytes: 0, responseBytes: 10, functionMs: 0.81,
};

it('a reader that stops: lines past the buffer are dropped and counted, without blocking the event loop', async () => {
  const { readFd, writeFd, dir, file } = fifo();
  fs.closeSync(writeFd); // the access log opens the FIFO itself, by path
  try {
    const log = new AccessLog(file, 16 * 1024);
    const started = Date.now();
    for (let i = 0; i < 5_000; i++) log.requestDone(RECORD);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(log.droppedLines).toBeGreaterThan(0);
    expect(log.droppedLines).toBeLessThan(5_000);
    let received = '';
    for (let round = 0; round < 100 && !received.includes('log lines dropped'); round++) {
      received += readAvailable(readFd);
      log.requestDone(RECORD);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await log.drain(1_000);
    received += readAvailable(readFd);
    const lines = received.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg !== undefined)).toEqual(expect.objectContaining({ msg: 'log lines dropped: stdout did not keep up', dropped: expect.any(Number) }));
    expect(lines[0]).toEqual({ time: expect.any(String), requestId: 'id-1', door: 'http', route: 'r1', method: 'GET', path: '/p', status: 200, durationMs: 1.2, functionMs: 0.8, requestBytes: 0, responseBytes: 10 });
  } finally {
    fs.closeSync(readFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

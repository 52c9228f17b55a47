/**
 * StdoutDestination over a real pipe (a FIFO): a reader that stops reading, then one that is gone.
 */
import * as fs from 'node:fs';
import { StdoutDestination } from '../../src/logger';
import { fifo, readAvailable } from '../support/fifo';

const LINE = `${JSON.stringify({ level: 30, msg: 'x'.repeat(200) })}\n`;
/** Far more than the pipe (64 KiB) plus the buffer below hold. */
const LINES = 2_000;
const BUFFER_BYTES = 32 * 1024;

describe('StdoutDestination', () => {
  it('holds at most its buffer while the reader does not read, drops the rest and says how many', async () => {
    const { readFd, writeFd, dir } = fifo();
    try {
      const out = new StdoutDestination(writeFd, BUFFER_BYTES);
      for (let i = 0; i < LINES; i++) out.write(LINE);
      // The pipe is full and the buffer too: drain gives up after its bound instead of waiting.
      const started = Date.now();
      await out.drain(200);
      expect(Date.now() - started).toBeLessThan(2_000);

      let received = '';
      // The reader catches up; the next line brings the note about the dropped ones.
      for (let round = 0; round < 100 && !received.includes('log lines dropped'); round++) {
        received += readAvailable(readFd);
        out.write(LINE);
        await new Promise((r) => setTimeout(r, 60));
      }
      const lines = received.split('\n').filter((l) => l !== '');
      const note = lines.map((l) => JSON.parse(l) as { msg: string; dropped?: number }).find((l) => l.msg.startsWith('log lines dropped'));
      expect(note?.dropped).toBeGreaterThan(0);
      // Everything written got out or was counted as dropped: pipe content plus buffer, never more.
      expect(lines.length - 1 + (note?.dropped ?? 0)).toBeLessThanOrEqual(LINES + 100);
      expect(lines.length).toBeLessThan(LINES);
    } finally {
      fs.closeSync(writeFd);
      fs.closeSync(readFd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops writing for good when the reader is gone (EPIPE), without throwing or spinning', async () => {
    const { readFd, writeFd, dir } = fifo();
    try {
      fs.closeSync(readFd);
      const out = new StdoutDestination(writeFd, BUFFER_BYTES);
      out.write(LINE);
      await out.drain(1_000);
      const started = Date.now();
      for (let i = 0; i < LINES; i++) out.write(LINE);
      await out.drain(1_000);
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      fs.closeSync(writeFd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A real pipe (FIFO) for tests of the bounded writers: the reader reads only when the test says so. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A FIFO in a fresh temp dir, its read end open (non-blocking); `writeFd` a non-blocking write end. */
export function fifo(): { readFd: number; writeFd: number; dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-fifo-'));
  const file = path.join(dir, 'pipe');
  execFileSync('mkfifo', [file]);
  const readFd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  return { readFd, writeFd, dir, file };
}

/** Everything the pipe holds now, without waiting. */
export function readAvailable(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw err;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

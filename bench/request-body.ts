/**
 * The large payload's request body: 64 KiB of JSON, written once to a file that wrk (through
 * bench/wrk/report.lua) and h2load (-d) both send, so every setup gets the same bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REQUEST_BODY_BYTES = 64 * 1024;

export function writeRequestBody(dir: string): { file: string; body: Buffer } {
  const head = '{"data":"';
  const tail = '"}';
  const body = Buffer.from(head + 'a'.repeat(REQUEST_BODY_BYTES - head.length - tail.length) + tail);
  const file = path.join(dir, 'request-64k.json');
  fs.writeFileSync(file, body);
  return { file, body };
}

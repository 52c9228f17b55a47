/**
 * Before any load: every setup must answer 200 with the function's body for both payloads, and every
 * signing setup must really sign. The function nginx echoes the headers it received on its debug path,
 * so one request per setup shows the Authorization header that reached the "function".
 */
import { createHash } from 'node:crypto';
import { AWS_REGION, AWS_SERVICE, BENCH_API_KEY, BENCH_CREDENTIALS } from './envoy';
import { httpRequest } from './http-request';
import { LARGE_RESPONSE_BYTES, SMALL_RESPONSE_BODY } from './nginx';
import type { VerificationRecord } from './results';
import type { SetupHandle } from './setups';

const SIGNATURE = new RegExp(
  `^AWS4-HMAC-SHA256 Credential=${BENCH_CREDENTIALS.accessKeyId}/\\d{8}/${AWS_REGION}/${AWS_SERVICE}/aws4_request, ?` +
    'SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$',
);
const DEBUG_BODY = Buffer.from('{"bench":"is the body hashed into the signature?"}');

function echoed(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.toString('utf8').split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 2));
  }
  return out;
}

/** Runs the checks for one setup; the records say what was seen, `ok: false` stops the bench. */
export async function verifySetup(setup: SetupHandle, largeBody: Buffer): Promise<VerificationRecord[]> {
  const records: VerificationRecord[] = [];
  const record = (check: string, ok: boolean, detail: string): void => {
    records.push({ setup: setup.name, check, ok, detail });
  };
  const attempt = async (check: string, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      record(check, false, (err as Error).message);
    }
  };

  await attempt('GET small → 200', async () => {
    const res = await httpRequest(setup.port, setup.paths.small);
    const body = res.body.toString('utf8');
    record('GET small → 200', res.status === 200 && body === SMALL_RESPONSE_BODY, `status ${res.status}, ${res.body.length} B body${body === SMALL_RESPONSE_BODY ? ' (the function\'s)' : `: ${body.slice(0, 200)}`}`);
  });
  await attempt('POST large → 200', async () => {
    const res = await httpRequest(setup.port, setup.paths.large, { method: 'POST', body: largeBody, headers: { 'content-type': 'application/json' } });
    record('POST large → 200', res.status === 200 && res.body.length === LARGE_RESPONSE_BYTES, `status ${res.status}, sent ${largeBody.length} B, got ${res.body.length} B`);
  });
  if (setup.name === 'direct') return records;

  await attempt('signed (debug request)', async () => {
    const res = await httpRequest(setup.port, setup.paths.debug, { method: 'POST', body: DEBUG_BODY, headers: { 'content-type': 'application/json' } });
    const seen = echoed(res.body);
    const authorization = seen.get('authorization') ?? '';
    const apiKey = seen.get('x-api-key') ?? '';
    const contentSha = seen.get('x-amz-content-sha256') ?? '';
    const bodySha = createHash('sha256').update(DEBUG_BODY).digest('hex');
    const signed = res.status === 200 && SIGNATURE.test(authorization) && apiKey === BENCH_API_KEY;
    const hashNote = contentSha === '' ? 'no x-amz-content-sha256 header (the body hash is inside the signature only)'
      : contentSha === bodySha ? 'x-amz-content-sha256 = sha256(body): the body is hashed, not UNSIGNED-PAYLOAD'
      : `x-amz-content-sha256 = ${contentSha} (NOT the body's hash)`;
    record(
      'signed (debug request)',
      signed && (contentSha === '' || contentSha === bodySha),
      `status ${res.status}; the function received authorization: ${authorization === '' ? '(none)' : authorization}; ` +
        `x-amz-date: ${seen.get('x-amz-date') ?? ''}; x-api-key: ${apiKey === BENCH_API_KEY ? '(the bench key)' : apiKey === '' ? '(none)' : '(another value)'}; ` +
        `path: ${seen.get('uri') ?? ''}; ${hashNote}`,
    );
  });
  return records;
}

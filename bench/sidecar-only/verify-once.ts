/**
 * One request through each door before a load, read to the end and checked: the load tools only
 * count HTTP statuses, and every ext_proc answer is an HTTP 200 whatever it carries.
 */
import * as http2 from 'node:http2';
import { METHOD_PATHS, type ProcessingResponse } from '../../src/fronts/grpc-definitions';
import { httpRequest } from '../http-request';
import { LARGE_RESPONSE_BYTES, SMALL_RESPONSE_BODY } from '../nginx';
import type { PayloadName } from '../results';
import { decodeResponseBody, EXT_PROC_PATHS } from './grpc-body';

const VERIFY_TIMEOUT_MS = 5_000;

/** The function's answer for a payload, as the check expects it. */
function functionAnswerProblem(payload: PayloadName, status: number | undefined, body: Buffer): string | undefined {
  if (status !== 200) return `status ${status ?? '(none)'}: ${body.toString('utf8').slice(0, 200)}`;
  if (payload === 'small' && body.toString('utf8') !== SMALL_RESPONSE_BODY) return `not the function's body: ${body.toString('utf8').slice(0, 200)}`;
  if (payload === 'large' && body.length !== LARGE_RESPONSE_BYTES) return `${body.length} B body, the function answers ${LARGE_RESPONSE_BYTES} B`;
  return undefined;
}

/** POSTs `grpcBody` to Process over h2c and returns the decoded answers and grpc-status. */
export function callProcess(grpcPort: number, grpcBody: Buffer): Promise<{ messages: ProcessingResponse[]; grpcStatus: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
    const fail = (err: Error): void => {
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    session.setTimeout(VERIFY_TIMEOUT_MS, () => fail(new Error(`ext_proc check: no answer within ${VERIFY_TIMEOUT_MS} ms`)));
    const stream = session.request({
      ':method': 'POST',
      ':path': METHOD_PATHS.externalProcessorProcess,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    const statusOf = (headers: http2.IncomingHttpHeaders): void => {
      const s = headers['grpc-status'];
      if (typeof s === 'string') grpcStatus = s;
    };
    stream.on('response', statusOf); // a trailers-only answer carries grpc-status in the headers
    stream.on('trailers', statusOf);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', fail);
    stream.on('end', () => {
      session.close();
      try {
        resolve({ messages: decodeResponseBody(Buffer.concat(chunks)), grpcStatus });
      } catch (err) {
        reject(err as Error);
      }
    });
    stream.end(grpcBody);
  });
}

/** undefined when the sidecar answered like Envoy expects: (CONTINUE for a body, then) 200 with the function's body, grpc-status 0. */
export async function extProcProblem(grpcPort: number, payload: PayloadName, grpcBody: Buffer): Promise<string | undefined> {
  const { messages, grpcStatus } = await callProcess(grpcPort, grpcBody);
  const expected = payload === 'large' ? ['request_headers', 'immediate_response'] : ['immediate_response'];
  const seen = messages.map((m) => m.response ?? '(empty)');
  if (seen.join(',') !== expected.join(',')) return `answers ${seen.join(', ') || '(none)'}, expected ${expected.join(', ')}; grpc-status ${grpcStatus}`;
  if (grpcStatus !== '0') return `grpc-status ${grpcStatus ?? '(none)'}`;
  const last = messages[messages.length - 1];
  const immediate = last.immediate_response;
  return functionAnswerProblem(payload, immediate?.status?.code, immediate?.body ?? Buffer.alloc(0));
}

/** undefined when the HTTP front answers 200 with the function's body. */
export async function httpFrontProblem(httpPort: number, payload: PayloadName, largeBody: Buffer): Promise<string | undefined> {
  const res = payload === 'small'
    ? await httpRequest(httpPort, EXT_PROC_PATHS.small)
    : await httpRequest(httpPort, EXT_PROC_PATHS.large, { method: 'POST', body: largeBody, headers: { 'content-type': 'application/json' } });
  return functionAnswerProblem(payload, res.status, res.body);
}

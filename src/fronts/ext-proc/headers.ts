/**
 * Conversions between Envoy's header messages and our neutral request/response.
 */
import type { HeaderValue, HeaderValueOption } from '../grpc-definitions';
import type { HeaderList, LambdaResponse } from '../../invoke/client-request';
import { headerOptions } from '../header-options';

export interface IncomingHeaders {
  method: string;
  /** `:path` with the query. */
  target: string;
  authority: string;
  headers: HeaderList;
  contentLength: number | undefined;
}

/** Envoy sends values in `raw_value` (bytes); older builds used `value`. Names arrive lower-case. */
function valueOf(h: HeaderValue): string {
  return h.raw_value !== undefined ? h.raw_value.toString('latin1') : (h.value ?? '');
}

/** Reads pseudo-headers and regular headers; undefined when `:method` or `:path` is missing. */
export function readRequestHeaders(list: readonly HeaderValue[]): IncomingHeaders | undefined {
  let method: string | undefined;
  let target: string | undefined;
  let authority = '';
  let contentLength: number | undefined;
  const headers: HeaderList = [];
  for (const h of list) {
    const key = h.key;
    if (key === undefined || key === '') continue;
    const value = valueOf(h);
    if (key.charCodeAt(0) === 58 /* ':' */) {
      if (key === ':method') method = value;
      else if (key === ':path') target = value;
      else if (key === ':authority') authority = value;
      continue;
    }
    const name = key.toLowerCase();
    if (name === 'host' && authority === '') authority = value;
    if (name === 'content-length') {
      const n = Number(value);
      if (Number.isSafeInteger(n) && n >= 0) contentLength = n;
    }
    headers.push([name, value]);
  }
  if (method === undefined || target === undefined || method === '' || target === '') return undefined;
  return { method, target, authority, headers, contentLength };
}

/**
 * Response headers as ext_proc mutations. Envoy reads only `raw_value`. The first value of a name
 * overwrites (Envoy's local reply may already carry e.g. content-type); later values of the same
 * name append, so several set-cookie headers all reach the client.
 */
export function toHeaderMutations(res: LambdaResponse): HeaderValueOption[] {
  return headerOptions(res.headers, (key, value, repeat) => ({ header: { key, raw_value: Buffer.from(value, 'latin1') }, append: { value: repeat } }));
}

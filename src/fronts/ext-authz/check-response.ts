/**
 * The neutral response → CheckResponse.
 *
 * Envoy decides allow or deny from `CheckResponse.status.code` alone (envoy issue #10158): 0 lets
 * the request continue to Envoy's upstream, anything else sends `denied_response` to the client as
 * a local reply, whatever its HTTP status. So the function's answer travels as a "denial" with a
 * non-zero gRPC code and the function's own status (200 included).
 */
import { isUtf8 } from 'node:buffer';
import { ERROR_CODES, SidecarError, sidecarError } from '../../errors';
import type { LambdaResponse } from '../../invoke/client-request';
import { type CheckResponse, HeaderAppendAction, type HeaderValueOption } from '../grpc-definitions';
import { headerOptions } from '../header-options';

/** google.rpc.Code PERMISSION_DENIED: any non-zero code makes Envoy answer with denied_response. */
export const RELAY_GRPC_CODE = 7;

/** Let the request through untouched (no route, or a route without the plugin). */
export const ALLOW: CheckResponse = Object.freeze({ status: { code: 0 }, ok_response: {} });

/** A byte string (latin1) as the UTF-8 proto string that puts the same bytes on the wire. */
function bytesToUtf8(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'latin1').toString('utf8');
  }
  return value;
}

/**
 * Envoy reads `value` here, not `raw_value` (checked with 1.40: a raw_value-only header arrives
 * empty). `append` stays unset: Envoy 1.40 drops every denied header with `append: true` and keeps
 * all the others, repeats included (it removes the name from its local reply, then adds each
 * value). `append_action` says the same to Envoy versions that read it: the first value of a name
 * overwrites (the local reply already carries content-type: text/plain), later values are added, so
 * several set-cookie headers all reach the client.
 */
export function toDeniedHeaders(res: LambdaResponse): HeaderValueOption[] {
  return headerOptions(res.headers, (key, value, repeat) => ({
    header: { key, value: bytesToUtf8(value) },
    append_action: repeat ? HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD : HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
  }));
}

/**
 * The error to answer with when `res` cannot pass through ext_authz: its body is a proto string, so
 * bytes that are not UTF-8 would be mangled on the way (envoy issues #9822, #27386).
 */
export function unrelayable(res: LambdaResponse, headOnly: boolean): SidecarError | undefined {
  if (headOnly || res.body.length === 0 || isUtf8(res.body)) return undefined;
  return sidecarError(
    ERROR_CODES.UPSTREAM_RESPONSE,
    'the function answered with a binary (non-UTF-8) body, which cannot pass through Envoy ext_authz ' +
      '(its body is a string); use the ext_proc filter for this route',
  );
}

/** The function's answer as a CheckResponse; call `unrelayable` first. HEAD gets headers only. */
export function toCheckResponse(res: LambdaResponse, headOnly: boolean): CheckResponse {
  return {
    status: { code: RELAY_GRPC_CODE },
    denied_response: {
      status: { code: res.status },
      headers: toDeniedHeaders(res),
      body: headOnly ? '' : res.body.toString('utf8'),
    },
  };
}

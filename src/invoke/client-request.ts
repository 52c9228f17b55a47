/**
 * The neutral request and response every front converts to and from. No gRPC or HTTP-server type
 * reaches past this point. Strings are byte strings (latin1: one char per byte), so header and path
 * bytes travel unchanged.
 */

export type HeaderList = Array<[name: string, value: string]>;

export interface ClientRequest {
  readonly method: string;
  /** Path without the query, as it arrived. */
  readonly path: string;
  /** Query without `?`, as it arrived ('' when absent). */
  readonly query: string;
  /** The client's authority (Host / :authority), '' when absent. */
  readonly host: string;
  /** Client headers: lower-case names, no pseudo-headers, received order, repeats kept. */
  readonly headers: HeaderList;
  readonly body: Buffer | null;
  /**
   * The client's IP address when the front knows it (Envoy's `source.address` attribute, the HTTP
   * front's peer or its trusted proxy's X-Forwarded-For); Lambda Invoke events carry it.
   */
  readonly sourceIp?: string;
}

export interface LambdaResponse {
  readonly status: number;
  /** Lower-case names, hop-by-hop headers already removed, repeats (set-cookie) kept. */
  readonly headers: HeaderList;
  readonly body: Buffer;
}

/** Splits `:path` into path and query at the first `?`; a fragment (never sent by clients) is dropped. */
export function splitPathAndQuery(target: string): { path: string; query: string } {
  const hash = target.indexOf('#');
  const t = hash === -1 ? target : target.slice(0, hash);
  const q = t.indexOf('?');
  return q === -1 ? { path: t, query: '' } : { path: t.slice(0, q), query: t.slice(q + 1) };
}

/** `1.2.3.4:5678` / `[::1]:5678` (Envoy's `source.address`) → the IP; a bare IP stays as it is. */
export function ipOfAddress(address: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6 !== null) return v6[1];
  const v4 = /^([^:]+):\d+$/.exec(address);
  return v4 === null ? address : v4[1];
}

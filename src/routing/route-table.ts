/**
 * The compiled route table: built once per routes snapshot, read-only afterwards.
 *
 * Matching rule (documented in README "Routes"): a route matches when one of its uris matches the
 * request path (exact, or a prefix for a uri ending in `*`), its methods (if any) include the
 * request method, and its hosts (if any) match the request host. Among matching routes the one with
 * the highest `priority` wins, then the first in file order. Disabled routes (`status: 0`) never
 * match. The payload type lets the caller attach what it needs per route (the invoke target).
 */
import type { RouteConfig } from '../config/route-schema';
import { wireFormUri } from './uri-encoding';

export interface RouteEntry<T> {
  readonly id: string;
  readonly config: RouteConfig;
  readonly payload: T;
  /** Sort rank: lower wins (priority desc, then file order). */
  readonly rank: number;
  readonly methods: ReadonlySet<string> | null;
  readonly hosts: readonly HostMatcher[] | null;
  /** The wire-form prefixes of its uris ending in `*` (what a forwarded rest follows). */
  readonly prefixes: readonly string[];
}

export interface RouteMatch<T> {
  readonly entry: RouteEntry<T>;
  /**
   * For a uri ending in `*`: the rest of the path after the matched prefix, as raw wire bytes
   * (may be ''); undefined for an exact uri.
   */
  readonly rest: string | undefined;
}

export interface MatchInput {
  readonly method: string;
  /** The path without its query, as it arrived. */
  readonly path: string;
  /** The request host (authority), possibly with a port; '' when absent. */
  readonly host: string;
}

type HostMatcher = { readonly exact: string } | { readonly suffix: string } | { readonly any: true };

interface PrefixMatcher<T> {
  readonly prefix: string;
  readonly entry: RouteEntry<T>;
}

function compileHost(host: string): HostMatcher {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === '*') return { any: true };
  if (h.startsWith('*.')) return { suffix: h.slice(1) };
  return { exact: h };
}

/** Lower-case host without port; handles `[v6]:port`. */
export function hostWithoutPort(authority: string): string {
  let h = authority;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.lastIndexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  return h.toLowerCase().replace(/\.$/, '');
}

function hostMatches(matchers: readonly HostMatcher[], host: string): boolean {
  for (const m of matchers) {
    if ('any' in m) return true;
    if ('exact' in m ? host === m.exact : host.endsWith(m.suffix) && host.length > m.suffix.length) return true;
  }
  return false;
}

export class RouteTable<T> {
  private readonly exact = new Map<string, RouteEntry<T>[]>();
  private readonly prefixes: PrefixMatcher<T>[] = [];
  private readonly byId = new Map<string, RouteEntry<T>>();
  readonly size: number;

  constructor(routes: readonly RouteConfig[], makePayload: (route: RouteConfig) => T) {
    // Stable sort: priority desc, then file order.
    const ordered = routes
      .map((config, index) => ({ config, index }))
      .sort((a, b) => b.config.priority - a.config.priority || a.index - b.index);
    ordered.forEach(({ config }, rank) => {
      const hostList = config.hosts ?? (config.host !== undefined ? [config.host] : null);
      const uris = (config.uris ?? [config.uri as string]).map(wireFormUri);
      const entry: RouteEntry<T> = Object.freeze({
        id: config.id,
        config,
        payload: makePayload(config),
        rank,
        methods: config.methods !== undefined && config.methods.length > 0 ? new Set(config.methods) : null,
        hosts: hostList === null ? null : hostList.map(compileHost),
        prefixes: Object.freeze(uris.filter((uri) => uri.endsWith('*')).map((uri) => uri.slice(0, -1))),
      });
      this.byId.set(config.id, entry);
      if (config.status === 0) return;
      for (const uri of uris) {
        if (uri.endsWith('*')) {
          this.prefixes.push({ prefix: uri.slice(0, -1), entry });
        } else {
          const list = this.exact.get(uri) ?? [];
          list.push(entry);
          this.exact.set(uri, list);
        }
      }
    });
    this.prefixes.sort((a, b) => a.entry.rank - b.entry.rank);
    this.size = routes.length;
  }

  /** The route named explicitly (Envoy metadata, ext_authz context); undefined when unknown or disabled. */
  get(id: string): RouteEntry<T> | undefined {
    const entry = this.byId.get(id);
    return entry === undefined || entry.config.status === 0 ? undefined : entry;
  }

  /**
   * The route named explicitly, with the rest of `path` forwarded when one of its uris ending in
   * `*` is a prefix of it (the same rule as matching); undefined when unknown or disabled.
   */
  named(id: string, path: string): RouteMatch<T> | undefined {
    const entry = this.get(id);
    if (entry === undefined) return undefined;
    const prefix = entry.prefixes.find((p) => path.startsWith(p));
    return { entry, rest: prefix === undefined ? undefined : path.slice(prefix.length) };
  }

  entries(): IterableIterator<RouteEntry<T>> {
    return this.byId.values();
  }

  match(input: MatchInput): RouteMatch<T> | undefined {
    let host: string | undefined;
    const accepts = (entry: RouteEntry<T>): boolean => {
      if (entry.methods !== null && !entry.methods.has(input.method)) return false;
      if (entry.hosts !== null) {
        host ??= hostWithoutPort(input.host);
        if (!hostMatches(entry.hosts, host)) return false;
      }
      return true;
    };
    let best: RouteMatch<T> | undefined;
    const exact = this.exact.get(input.path);
    if (exact !== undefined) {
      for (const entry of exact) {
        if (accepts(entry)) {
          best = { entry, rest: undefined };
          break;
        }
      }
    }
    for (const p of this.prefixes) {
      if (best !== undefined && p.entry.rank >= best.entry.rank) break;
      if (input.path.startsWith(p.prefix) && accepts(p.entry)) {
        return { entry: p.entry, rest: input.path.slice(p.prefix.length) };
      }
    }
    return best;
  }
}

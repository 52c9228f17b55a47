/**
 * What every front calls: pick the route for a request (by an explicit route id from Envoy, or by
 * matching), lease the route table for the request's lifetime, and invoke the function.
 */
import { ERROR_CODES, sidecarError } from './errors';
import { invoke } from './invoke/invoke';
import type { LambdaRequest, LambdaResponse } from './invoke/lambda-request';
import type { LambdaTarget } from './invoke/target';
import type { LiveRoutes, RouteLease } from './routing/live-routes';
import type { MatchInput } from './routing/route-table';
import { wireFormUri } from './routing/uri-encoding';

export type TargetTable = LiveRoutes<LambdaTarget | null>;

export interface RoutedRequest {
  readonly routeId: string;
  /** null: the route matched but has no enabled aws-lambda plugin, so the request passes through. */
  readonly target: LambdaTarget | null;
  readonly rest: string | undefined;
  /** Ends the lease on the route table; call exactly when the request is finished. */
  readonly done: () => void;
}

export class Gateway {
  constructor(private readonly routes: TargetTable) {}

  /**
   * The route for a request, or undefined when none matches (the request passes through).
   * `routeId` (from Envoy's per-route metadata) wins over matching; an unknown id is an error.
   */
  route(input: MatchInput, routeId?: string): RoutedRequest | undefined {
    const lease: RouteLease<LambdaTarget | null> = this.routes.lease();
    if (routeId !== undefined && routeId !== '') {
      const entry = lease.table.get(routeId);
      if (entry === undefined) {
        lease.release();
        throw sidecarError(ERROR_CODES.ROUTE_NOT_FOUND, `route "${routeId}" named by the proxy is not configured in the sidecar`);
      }
      return { routeId: entry.id, target: entry.payload, rest: restFor(entry.config.uris ?? [entry.config.uri as string], input.path), done: lease.release };
    }
    const m = lease.table.match(input);
    if (m === undefined) {
      lease.release();
      return undefined;
    }
    return { routeId: m.entry.id, target: m.entry.payload, rest: m.rest, done: lease.release };
  }

  invoke(routed: RoutedRequest & { target: LambdaTarget }, req: LambdaRequest, signal?: AbortSignal): Promise<LambdaResponse> {
    return invoke(routed.target, routed.rest, req, signal);
  }
}

/**
 * For a route named explicitly: forward the rest of the path when one of its uris ends in `*` and
 * the request path starts with that prefix; otherwise send the function_uri path as it is.
 */
function restFor(uris: readonly string[], path: string): string | undefined {
  for (const written of uris) {
    const uri = wireFormUri(written);
    if (uri.endsWith('*') && path.startsWith(uri.slice(0, -1))) return path.slice(uri.length - 1);
  }
  return undefined;
}

/**
 * What every front calls: pick the route for a request (by an explicit route id from Envoy, or by
 * matching), lease the route table for the request's lifetime, and invoke the function.
 */
import type { Logger } from 'pino';
import { ERROR_CODES, sidecarError, type ErrorCode } from './errors';
import type { ClientRequest, LambdaResponse } from './invoke/client-request';
import { BudgetHold, ResponseBudget } from './invoke/response-budget';
import { ShutdownSwitch } from './invoke/shutdown-switch';
import type { RouteTarget } from './invoke/route-target';
import type { LiveRoutes, RouteLease } from './routing/live-routes';
import type { MatchInput } from './routing/route-table';
import type { RequestObservation, RequestObserver } from './observability/request-observer';

export type TargetTable = LiveRoutes<RouteTarget | null>;

/**
 * Requests in flight at once, across routes and fronts. Measured (bench/ANALYSIS.md): the heap
 * holds about 130 MB at 1,000 concurrent requests with the CLI's 256 MB old space, so 1,000 keeps
 * headroom for request bodies and route tables; more would trade that for queueing in the sidecar
 * instead of in the proxy, which can retry elsewhere.
 */
export const DEFAULT_MAX_INFLIGHT_REQUESTS = 1000;
/**
 * Function answers buffered at once, across requests: 4 of the largest relayable answer (32 MiB)
 * or thousands of ordinary ones. With the 256 MB heap this keeps RSS under the README's bound.
 */
export const DEFAULT_MAX_BUFFERED_RESPONSE_BYTES = 128 * 1024 * 1024;
/** At most one warn line per code per interval when requests are refused for capacity. */
export const CAPACITY_LOG_INTERVAL_MS = 10_000;

export interface RequestPipelineOptions {
  readonly maxInflightRequests?: number;
  readonly maxBufferedResponseBytes?: number;
  readonly logger?: Logger;
  /** Metrics, tracing, access log (src/observability); undefined: none, and nothing is measured. */
  readonly observer?: RequestObserver;
}

/** One warn line per interval for a capacity code, with how many requests it hit meanwhile. */
class CapacityLog {
  private lastAtMs = -Infinity;
  private count = 0;

  constructor(private readonly code: ErrorCode, private readonly log: Logger | undefined, private readonly limit: Record<string, number>) {}

  /** `req`: the request that hit the limit (its x-request-id is looked up only when a line is written). */
  hit(route: string, req: ClientRequest): void {
    this.count++;
    const now = Date.now();
    if (now - this.lastAtMs < CAPACITY_LOG_INTERVAL_MS) return;
    const requestId = req.headers.find(([name]) => name === 'x-request-id')?.[1];
    this.log?.warn({ code: this.code, route, requestId, requests: this.count, ...this.limit, intervalMs: CAPACITY_LOG_INTERVAL_MS }, 'capacity limit hit: requests answered 503');
    this.lastAtMs = now;
    this.count = 0;
  }
}

/**
 * The request goes on to the proxy's own upstream: no route matched (routeId undefined), or the
 * route has no enabled aws-lambda plugin. Nothing to release.
 */
export interface PassDecision {
  readonly action: 'pass';
  readonly routeId: string | undefined;
  readonly observation: RequestObservation | undefined;
}

/** The route's function answers the request. */
export interface RoutedRequest {
  readonly action: 'invoke';
  readonly routeId: string;
  readonly target: RouteTarget;
  readonly rest: string | undefined;
  /** Ends the lease on the route table and gives back the answer bytes it held; call exactly once, when the request is finished. */
  readonly done: () => void;
  /** The request's share of the buffered-answer budget (kept through `{ ...routed }` copies). */
  readonly budget: BudgetHold;
  /** What the observers keep about this request (undefined when nothing observes). */
  readonly observation: RequestObservation | undefined;
}

/** What routing decided for a request: pass it on, or invoke the route's target. */
export type RouteDecision = PassDecision | RoutedRequest;

const UNMATCHED: PassDecision = Object.freeze({ action: 'pass', routeId: undefined, observation: undefined });

export class RequestPipeline {
  private readonly shutdown = new ShutdownSwitch();
  /** Invokes started and not yet settled. */
  private inflight = 0;
  /** Resolvers of `settled()` calls, run when `inflight` reaches 0. */
  private settledWaiters: Array<() => void> = [];

  private readonly maxInflight: number;
  private readonly budget: ResponseBudget;
  private readonly overloadLog: CapacityLog;
  private readonly budgetLog: CapacityLog;
  readonly observer: RequestObserver | undefined;

  constructor(private readonly routes: TargetTable, opts: RequestPipelineOptions = {}) {
    this.maxInflight = opts.maxInflightRequests ?? DEFAULT_MAX_INFLIGHT_REQUESTS;
    this.budget = new ResponseBudget(opts.maxBufferedResponseBytes ?? DEFAULT_MAX_BUFFERED_RESPONSE_BYTES);
    this.overloadLog = new CapacityLog(ERROR_CODES.OVERLOADED, opts.logger, { maxInflightRequests: this.maxInflight });
    this.budgetLog = new CapacityLog(ERROR_CODES.RESPONSE_BUDGET, opts.logger, { maxBufferedResponseBytes: this.budget.maxBytes });
    this.observer = opts.observer;
  }

  /** Answer bytes held by requests not yet done. */
  get bufferedResponseBytes(): number {
    return this.budget.held;
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  /**
   * The drain timeout passed: every invoke still waiting or running (and any started from now on)
   * ends with ERR_DRAINING, so each front answers its client 503 and logs it.
   */
  cutInflight(): void {
    this.shutdown.cutAll();
  }

  /** Resolves once no invoke is in flight. */
  settled(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /**
   * The route for a request, or undefined when none matches (the request passes through).
   * `routeId` (from Envoy's per-route metadata) wins over matching; an unknown id is an error.
   */
  route(input: MatchInput, routeId?: string): RouteDecision {
    const lease: RouteLease<RouteTarget | null> = this.routes.lease();
    if (routeId !== undefined && routeId !== '') {
      const named = lease.table.named(routeId, input.path);
      if (named === undefined) {
        lease.release();
        throw sidecarError(ERROR_CODES.ROUTE_NOT_FOUND, `route "${routeId}" named by the proxy is not configured in the sidecar`);
      }
      return this.routed(named.entry.id, named.entry.payload, named.rest, lease);
    }
    const m = lease.table.match(input);
    if (m === undefined) {
      lease.release();
      return UNMATCHED;
    }
    return this.routed(m.entry.id, m.entry.payload, m.rest, lease);
  }

  private routed(routeId: string, target: RouteTarget | null, rest: string | undefined, lease: RouteLease<RouteTarget | null>): RouteDecision {
    if (target === null) {
      lease.release();
      return { action: 'pass', routeId, observation: this.newObservation() };
    }
    const budget = new BudgetHold(this.budget);
    return {
      action: 'invoke',
      routeId,
      target,
      rest,
      budget,
      observation: this.newObservation(),
      done: () => {
        budget.release();
        lease.release();
      },
    };
  }

  /**
   * Invokes the route's function, within the sidecar's bounds: at most maxInflightRequests at once
   * (above it ERR_OVERLOADED, before anything is sent), the buffered-answer budget (ERR_RESPONSE_BUDGET)
   * and the drain timeout (ERR_DRAINING). Capacity refusals are logged here, at most once per
   * interval; the front answers each one.
   */
  private newObservation(): RequestObservation | undefined {
    return this.observer === undefined ? undefined : { functionMs: undefined, span: undefined };
  }

  async invoke(routed: RoutedRequest, req: ClientRequest, signal?: AbortSignal): Promise<LambdaResponse> {
    if (this.inflight >= this.maxInflight) {
      this.overloadLog.hit(routed.routeId, req);
      throw sidecarError(ERROR_CODES.OVERLOADED, `the sidecar has ${this.maxInflight} requests in flight (--max-inflight-requests); retry`);
    }
    this.inflight++;
    const observation = routed.observation;
    const observer = this.observer;
    const startedMs = observation === undefined ? 0 : performance.now();
    if (observation !== undefined) observer?.functionStart?.(routed.routeId, req, observation);
    let code: ErrorCode | undefined;
    try {
      return await routed.target.invoke(req, routed.rest, signal, { shutdown: this.shutdown, budget: routed.budget });
    } catch (err) {
      code = (err as { code?: ErrorCode }).code;
      if ((err as { code?: unknown }).code === ERROR_CODES.RESPONSE_BUDGET) {
        routed.budget.release(); // the cut answer's bytes are gone already: let others use them now
        this.budgetLog.hit(routed.routeId, req);
      }
      throw err;
    } finally {
      if (observation !== undefined) {
        observation.functionMs = performance.now() - startedMs;
        observer?.functionDone?.(routed.routeId, observation.functionMs, observation, code);
      }
      if (--this.inflight === 0 && this.settledWaiters.length > 0) {
        const waiters = this.settledWaiters;
        this.settledWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }
}


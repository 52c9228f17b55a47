/**
 * A route's target is a behaviour: each kind (one file each) sends a request its own way, the
 * request pipeline only calls `invoke`. Kinds share the pools (DispatcherRegistry, ConnectionGate), the
 * upstream error mapping (`mapUpstreamError`), the answer budget and SigV4 signing.
 */
import type { LambdaInvokeTarget } from './lambda/lambda-invoke-target';
import type { LambdaTarget } from './target';

/** `http`: API Gateway / function URL / any URL (target.ts + invoke.ts); `lambda_invoke`: Lambda's Invoke API. */
export type RouteTarget = LambdaTarget | LambdaInvokeTarget;

/**
 * grpc.health.v1: SERVING while the sidecar takes requests, NOT_SERVING once it drains.
 * Check answers for "" (the whole server) and for the services we host; Watch streams changes.
 */
import { status } from '@grpc/grpc-js';
import type { ServerStreamCall, UnaryCall, UnaryCallback } from './grpc/call-surface';
import { HealthCheckRequest, HealthCheckResponse, HealthHandlers, SERVICE_NAMES, ServingStatus, type ServingStatusValue } from './grpc-definitions';

export class HealthState {
  private serving = true;
  private readonly watchers = new Set<(serving: boolean) => void>();

  get isServing(): boolean {
    return this.serving;
  }

  setServing(serving: boolean): void {
    if (serving === this.serving) return;
    this.serving = serving;
    for (const w of this.watchers) w(serving);
  }

  subscribe(listener: (serving: boolean) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }
}

const KNOWN_SERVICES: ReadonlySet<string> = new Set(['', SERVICE_NAMES.externalProcessor, SERVICE_NAMES.authorization]);

function statusFor(state: HealthState, service: string | undefined): ServingStatusValue {
  if (!KNOWN_SERVICES.has(service ?? '')) return ServingStatus.SERVICE_UNKNOWN;
  return state.isServing ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

export function healthHandlers(state: HealthState): HealthHandlers {
  return {
    Check: (call: UnaryCall<HealthCheckRequest>, callback: UnaryCallback<HealthCheckResponse>) => {
      const serving = statusFor(state, call.request.service);
      if (serving === ServingStatus.SERVICE_UNKNOWN) callback({ code: status.NOT_FOUND, details: 'unknown service' });
      else callback(null, { status: serving });
    },
    Watch: (call: ServerStreamCall<HealthCheckRequest, HealthCheckResponse>) => {
      const service = call.request.service;
      call.write({ status: statusFor(state, service) });
      const unsubscribe = state.subscribe(() => call.write({ status: statusFor(state, service) }));
      const stop = (): void => {
        unsubscribe();
      };
      call.on('cancelled', stop);
      call.on('error', stop);
      call.on('close', stop);
    },
  };
}

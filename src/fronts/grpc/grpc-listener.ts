/**
 * The gRPC listener (ext_proc, ext_authz, health), served by one of two servers:
 * - `h2` (default): h2-grpc-server.ts, node:http2 with hand-made gRPC framing; about half the
 *   server CPU per call of grpc-js (issue 13: ~56 vs ~101 µs for a fixed answer; bench/ANALYSIS.md).
 * - `grpc-js`: grpc-js-server.ts, the @grpc/grpc-js server.
 * Both take the same service definitions and handler objects (call-surface.ts).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcJsServer } from './grpc-js-server';
import { H2GrpcServer } from './h2-grpc-server';

export const GRPC_SERVER_NAMES = ['h2', 'grpc-js'] as const;
export type GrpcServerName = (typeof GRPC_SERVER_NAMES)[number];
export const DEFAULT_GRPC_SERVER: GrpcServerName = 'h2';

export interface GrpcListenerOptions {
  /** Largest message received and sent; above it the call ends with RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  readonly log: Logger;
}

export interface GrpcListener {
  addService(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void;
  /** Listens on host:port (0: any free port); resolves with the port. */
  bind(host: string, port: number): Promise<number>;
  /** Stops accepting, tells connected peers (GOAWAY), calls `done` once the open calls ended. */
  tryShutdown(done: () => void): void;
  /** Closes every connection now. */
  forceShutdown(): void;
}

export function createGrpcListener(name: GrpcServerName, opts: GrpcListenerOptions): GrpcListener {
  return name === 'h2' ? new H2GrpcServer(opts) : new GrpcJsServer(opts);
}

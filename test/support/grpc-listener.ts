/**
 * Starts either gRPC server (src/fronts/grpc/grpc-listener.ts) on 127.0.0.1:0 with the given
 * services, for the suites that run against both (describe.each(GRPC_SERVER_NAMES)).
 */
import type * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { createGrpcListener, type GrpcListener, type GrpcServerName } from '../../src/fronts/grpc/grpc-listener';
import { DEFAULT_MAX_GRPC_MESSAGE_BYTES } from '../../src/server';

export { GRPC_SERVER_NAMES } from '../../src/fronts/grpc/grpc-listener';

export async function startGrpcListener(
  name: GrpcServerName,
  services: ReadonlyArray<readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation]>,
  maxMessageBytes = DEFAULT_MAX_GRPC_MESSAGE_BYTES,
): Promise<{ readonly listener: GrpcListener; readonly port: number }> {
  const listener = createGrpcListener(name, { maxMessageBytes, log: pino({ level: 'silent' }) });
  for (const [service, handlers] of services) listener.addService(service, handlers);
  return { listener, port: await listener.bind('127.0.0.1', 0) };
}

/**
 * What our handlers (ext_proc, ext_authz, health) use of a gRPC call: the part of grpc-js's call
 * objects both gRPC servers provide (grpc-js's own calls, and grpc-call.ts for the h2 server).
 */
import type { MetadataValue, status } from '@grpc/grpc-js';

export interface CallStatus {
  readonly code: status;
  readonly details: string;
}

export interface CallMetadata {
  /** The values of one request header (`-bin` ones decoded), [] when absent. */
  get(key: string): MetadataValue[];
}

/** A bidirectional stream. `emit('error', status)` ends it with that status. */
export interface DuplexCall<Req, Res> {
  readonly metadata: CallMetadata;
  on(event: 'data', listener: (message: Req) => void): this;
  /** 'end': the peer half-closed; 'cancelled' / 'error': it left (reset, connection closed, deadline). */
  on(event: 'end' | 'error' | 'cancelled', listener: () => void): this;
  write(message: Res): boolean;
  /** Ends the call with OK (or the status an 'error' set). */
  end(): void;
  emit(event: 'error', status: CallStatus): boolean;
}

export interface UnaryCall<Req> {
  readonly request: Req;
  readonly metadata: CallMetadata;
  once(event: 'cancelled', listener: () => void): this;
}

export type UnaryCallback<Res> = (error: CallStatus | null, value?: Res) => void;

export interface ServerStreamCall<Req, Res> {
  readonly request: Req;
  readonly metadata: CallMetadata;
  on(event: 'cancelled' | 'error' | 'close', listener: () => void): this;
  write(message: Res): boolean;
  end(): void;
}

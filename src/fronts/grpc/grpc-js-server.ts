/**
 * The `grpc-js` gRPC server: @grpc/grpc-js, with our HTTP/2 settings (http2-settings.ts) set
 * through two of its internals (pinned version, covered by test/unit/server.test.ts): the options
 * it passes to http2.createServer at bind time, and the http2 servers it created, whose sessions
 * then widen their connection window. If the internals move, we log once and keep Node's defaults.
 */
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type { Logger } from 'pino';
import { formatAddress } from '../../config/network-address';
import type { GrpcListener, GrpcListenerOptions } from './grpc-listener';
import { grpcHttp2ServerOptions, widenConnectionWindow } from './http2-settings';

interface GrpcServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server, unknown>;
}

function tuneHttp2Server(server: grpc.Server, log: Logger): void {
  const internals = server as unknown as GrpcServerInternals;
  if (internals.commonServerOptions === undefined) {
    log.warn('grpc-js internals changed: HTTP/2 stream window and reset rate left at their defaults');
    return;
  }
  const { settings, ...rest } = grpcHttp2ServerOptions();
  Object.assign(internals.commonServerOptions, rest, { settings: { ...internals.commonServerOptions.settings, ...settings } });
}

function widenConnectionWindows(server: grpc.Server, log: Logger): void {
  const servers = (server as unknown as GrpcServerInternals).http2Servers;
  if (servers === undefined) {
    log.warn('grpc-js internals changed: HTTP/2 connection window left at its default');
    return;
  }
  for (const h2 of servers.keys()) h2.on('session', widenConnectionWindow);
}

export class GrpcJsServer implements GrpcListener {
  private readonly server: grpc.Server;

  constructor(private readonly opts: GrpcListenerOptions) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      // Envoy keeps its HTTP/2 connection to us alive with pings: do not punish it for them.
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1000,
      // channelz bookkeeping costs on every call and nobody reads it here.
      'grpc.enable_channelz': 0,
    });
    tuneHttp2Server(this.server, opts.log);
  }

  addService(service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, handlers);
  }

  async bind(host: string, port: number): Promise<number> {
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(formatAddress(host, port), grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    widenConnectionWindows(this.server, this.opts.log);
    return bound;
  }

  tryShutdown(done: () => void): void {
    this.server.tryShutdown(() => done());
  }

  forceShutdown(): void {
    this.server.forceShutdown();
  }
}

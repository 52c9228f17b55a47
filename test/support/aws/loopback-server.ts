/**
 * The HTTP server under every AWS stand-in: 127.0.0.1, port 0, the whole body read, calls counted
 * per operation, and an availability switch so a test can take the service down and back up.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `up`: answers normally. `error`: 500 to everything. `refuse`: resets every connection. */
export type Availability = 'up' | 'error' | 'refuse';

export interface StandInRequest {
  readonly method: string;
  /** Path as sent, without the query. */
  readonly path: string;
  readonly query: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export interface StandInAnswer {
  readonly status: number;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string;
  /** Counted under this name (e.g. 'token', 'credentials', 'AssumeRole'); the path otherwise. */
  readonly operation?: string;
}

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Calls answered per operation, failed ones included (not those refused while down). */
  calls(operation: string): number;
  /** The largest number of requests in progress at once so far. */
  readonly maxConcurrent: number;
  setAvailability(availability: Availability): void;
  close(): Promise<void>;
}

export interface LoopbackServerOptions {
  /** Delay before each answer (to make concurrent callers overlap). */
  readonly answerDelayMs?: number;
}

export async function startLoopbackServer(
  handle: (request: StandInRequest) => StandInAnswer | Promise<StandInAnswer>,
  options: LoopbackServerOptions = {},
): Promise<LoopbackServer> {
  const counts = new Map<string, number>();
  let availability: Availability = 'up';
  let inProgress = 0;
  let maxConcurrent = 0;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (availability === 'refuse') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inProgress += 1;
      maxConcurrent = Math.max(maxConcurrent, inProgress);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const request: StandInRequest = {
        method: req.method ?? 'GET',
        path: q === -1 ? url : url.slice(0, q),
        query: q === -1 ? '' : url.slice(q + 1),
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const answer = async (): Promise<StandInAnswer> => {
        if (options.answerDelayMs !== undefined) await new Promise((r) => setTimeout(r, options.answerDelayMs));
        if (availability === 'error') return { status: 500, body: 'stand-in is down', operation: 'down' };
        return handle(request);
      };
      answer()
        .catch((err: unknown): StandInAnswer => ({ status: 500, body: `stand-in bug: ${String(err)}`, operation: 'bug' }))
        .then((a) => {
          const op = a.operation ?? request.path;
          counts.set(op, (counts.get(op) ?? 0) + 1);
          inProgress -= 1;
          res.writeHead(a.status, a.headers);
          res.end(a.body ?? '');
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls: (operation) => counts.get(operation) ?? 0,
    get maxConcurrent() {
      return maxConcurrent;
    },
    setAvailability: (a) => {
      availability = a;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

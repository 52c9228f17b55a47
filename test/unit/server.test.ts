import * as http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { FileRouteStore } from '../../src/config/stores/file-store';
import { withAwsEnvironment } from '../support/aws/aws-environment';
import { GRPC_SERVER_NAMES } from '../../src/fronts/grpc/grpc-listener';
import { GRPC_CONNECTION_WINDOW_BYTES, GRPC_STREAM_WINDOW_BYTES } from '../../src/fronts/grpc/http2-settings';
import { RunningSidecar, startSidecar } from '../../src/server';

describe.each(GRPC_SERVER_NAMES)('gRPC listener flow-control windows, %s server', (grpcServer) => {
  let dir: string;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sidecar-server-'));
    const file = path.join(dir, 'routes.yaml');
    writeFileSync(file, 'routes: []\n');
    sidecar = await startSidecar({
      store: new FileRouteStore(file),
      grpcListen: '127.0.0.1:0',
      grpcServer,
      httpListen: undefined,
      logger: pino({ level: 'silent' }),
    });
  });

  afterAll(async () => {
    await sidecar.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('advertises the wide per-stream window and widens the connection window', async () => {
    const session = http2.connect(`http://${sidecar.grpcAddress}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      expect(session.remoteSettings.initialWindowSize).toBe(GRPC_STREAM_WINDOW_BYTES);
      // The connection window arrives as a WINDOW_UPDATE right after the handshake.
      const deadline = Date.now() + 2000;
      while ((session.state.remoteWindowSize ?? 0) < GRPC_CONNECTION_WINDOW_BYTES && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(session.state.remoteWindowSize).toBe(GRPC_CONNECTION_WINDOW_BYTES);
    } finally {
      session.close();
    }
  });
});

describe('credential sources at start and on reload', () => {
  const fn = 'http://127.0.0.1:9/fn';
  const signed = (id: string, iam: Record<string, unknown>): unknown => ({ id, uri: `/${id}`, plugins: { 'aws-lambda': { function_uri: fn, authorization: { iam } } } });

  it('a route without credentials yet: one warning naming it and its source, /healthz 200; a reload warns for the new source only', async () => {
    await withAwsEnvironment({}, async (dir) => {
      const lines: Array<Record<string, unknown>> = [];
      const logger = pino({ level: 'debug' }, { write: (text: string) => void lines.push(JSON.parse(text) as Record<string, unknown>) });
      const file = path.join(dir, 'routes.json');
      writeFileSync(file, JSON.stringify({ routes: [signed('a', {})] }));
      const sidecar = await startSidecar({ store: new FileRouteStore(file, logger, 50), grpcListen: undefined, httpListen: '127.0.0.1:0', logger });
      const warnings = (): Array<Record<string, unknown>> => lines.filter((l) => l.level === 40);
      const until = async (what: string, done: () => boolean): Promise<void> => {
        for (const deadline = Date.now() + 5_000; !done(); await new Promise((r) => setTimeout(r, 20))) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(lines)}`);
        }
      };
      try {
        await until('the start-up warning', () => warnings().length === 1);
        expect(warnings()[0]).toMatchObject({ source: 'AWS default credential chain', routes: ['a'] });
        expect(String(warnings()[0]?.msg)).toContain('ERR_CREDENTIALS');
        const health = await fetch(`http://${sidecar.httpAddress}/healthz`);
        expect(health.status).toBe(200);

        writeFileSync(file, JSON.stringify({ routes: [signed('a', {}), signed('b', { profile: 'late' }), signed('c', {})] }));
        await until('the reload', () => lines.some((l) => l.msg === 'routes updated'));
        await until('the new source\'s warning', () => warnings().length === 2);
        await new Promise((r) => setTimeout(r, 200));
        expect(warnings()).toHaveLength(2); // route c shares a's source, whose outage was logged already
        expect(warnings()[1]).toMatchObject({ source: 'profile "late"', routes: ['b'] });
      } finally {
        await sidecar.close();
      }
    });
  });
});

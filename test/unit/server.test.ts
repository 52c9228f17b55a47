import * as http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { FileRouteStore } from '../../src/config/stores/file-store';
import { GRPC_CONNECTION_WINDOW_BYTES, GRPC_STREAM_WINDOW_BYTES, RunningSidecar, startSidecar } from '../../src/server';

describe('gRPC listener flow-control windows', () => {
  let dir: string;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sidecar-server-'));
    const file = path.join(dir, 'routes.yaml');
    writeFileSync(file, 'routes: []\n');
    sidecar = await startSidecar({
      store: new FileRouteStore(file),
      grpcListen: '127.0.0.1:0',
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

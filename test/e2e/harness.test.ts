/**
 * The process harness itself (test/e2e/support/processes.ts), where its behaviour decides whether
 * the other suites are reliable on a busy machine.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { freePort } from './support/processes';

const PORTS = 200;

function ephemeralLow(): number {
  return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
}

describe('freePort', () => {
  // Ports from bind(0) come from the ephemeral range, where any process's outgoing connection can
  // take them before Envoy binds them (seen: "cannot bind '127.0.0.1:36089': Address already in use").
  it('hands out distinct, bindable ports below the ephemeral range that outgoing connections use', async () => {
    const low = ephemeralLow();
    const ports: number[] = [];
    for (let i = 0; i < PORTS; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(PORTS);
    expect(ports.filter((port) => port >= low)).toEqual([]);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

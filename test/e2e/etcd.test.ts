/**
 * The etcd store end to end: a real etcd, two sidecar processes watching the same prefix (each with
 * its own Admin API and HTTP front) and an API-Gateway stand-in. A change made on one node reaches
 * the other within 1 s; an etcd outage keeps the last routes serving, is logged once, refuses
 * writes, and is followed by a resync once etcd is back; bad values in etcd are logged and ignored.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { Agent, request } from 'undici';
import { DEFAULT_ETCD_CALL_TIMEOUT_MS } from '../../src/config/stores/etcd-store';
import { startStandIn, type StandIn } from '../../demo/lambda-stand-in';
import {
  canConnect,
  etcdArgs,
  freePort,
  requireBinary,
  sleep,
  spawnManaged,
  startSidecar,
  stopAll,
  waitFor,
  waitReady,
  type ManagedProcess,
  type SidecarProcess,
} from './support/processes';

const PREFIX = '/test/routes';
const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1';
const STAND_IN_API_KEY = 'stand-in-key-etcd';
const PROPAGATION_DEADLINE_MS = 1000;
const ETCD_READY_TIMEOUT_MS = 15_000;
/** Reconnect backoff (max 2 s) plus etcd3's per-host circuit breaker (half-open after 5 s). */
const RECOVERY_DEADLINE_MS = 15_000;

interface Answer {
  status: number;
  body: string;
  json: Record<string, unknown>;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function countLogs(sidecar: SidecarProcess, fragment: string): number {
  return sidecar.logLines().filter((l) => String(l.msg).includes(fragment)).length;
}

function route(uri: string, standIn: StandIn, fnPath: string): string {
  return JSON.stringify({ uri, plugins: { 'aws-lambda': { function_uri: `${standIn.url}${fnPath}`, authorization: { apikey: STAND_IN_API_KEY } } } });
}

describe('etcd store: two sidecars, one etcd', () => {
  const agent = new Agent({ keepAliveTimeout: 10, connect: { timeout: 2000 } });
  let etcdBin: string;
  let clientPort: number;
  let peerPort: number;
  let dataDir: string;
  let etcd: ManagedProcess | undefined;
  let standIn: StandIn | undefined;
  let a: SidecarProcess | undefined;
  let b: SidecarProcess | undefined;
  const timings: string[] = [];

  const call = async (url: string, method = 'GET', body?: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await request(url, { method, body, headers, dispatcher: agent, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const text = await res.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: `body` says what came back
    }
    return { status: res.statusCode, body: text, json };
  };
  const admin = (s: SidecarProcess, method: string, id: string, body?: string): Promise<Answer> =>
    call(`http://${s.adminAddress}/apisix/admin/routes/${id}`, method, body, { 'x-api-key': ADMIN_KEY });
  /** Through a sidecar's HTTP front (what nginx would do). */
  const front = (s: SidecarProcess, urlPath: string): Promise<Answer> => call(`http://${s.httpAddress}${urlPath}`);
  /** aws_lambda_sidecar_route_store_connected from the node's GET /metrics. */
  const storeConnected = async (s: SidecarProcess): Promise<number | undefined> => {
    const text = await (await fetch(`http://${s.httpAddress}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('aws_lambda_sidecar_route_store_connected '));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const serves = (s: SidecarProcess, uri: string, name: string) => async (): Promise<boolean> => {
    const res = await front(s, `${uri}?name=${name}`);
    return res.status === 200 && res.body === `"Hello, ${name}!"`;
  };

  const startEtcd = async (): Promise<ManagedProcess> => {
    const proc = spawnManaged('etcd', etcdBin, etcdArgs(dataDir, clientPort, peerPort));
    await waitReady(proc, () => healthy(clientPort), { timeoutMs: ETCD_READY_TIMEOUT_MS, intervalMs: 50 });
    return proc;
  };

  /** A client of our own, as an operator's etcdctl would be (fresh each time: no leftover backoff). */
  const withEtcd = async <T>(fn: (client: Etcd3) => Promise<T>): Promise<T> => {
    const client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}` });
    try {
      return await fn(client);
    } finally {
      client.close();
    }
  };

  const sidecarArgs = (): string[] => [
    '--store', `etcd://127.0.0.1:${clientPort}${PREFIX}`,
    '--admin-listen', '127.0.0.1:0',
    '--admin-key', ADMIN_KEY,
    '--http-listen', '127.0.0.1:0',
    '--grpc-listen', '127.0.0.1:0',
    '--drain-timeout-ms', '1000',
  ];

  beforeAll(async () => {
    etcdBin = requireBinary('etcd', 'apt-get install etcd-server');
    clientPort = await freePort();
    peerPort = await freePort();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'etcd-e2e-'));
    etcd = await startEtcd();
    standIn = await startStandIn({ apiKey: STAND_IN_API_KEY });
    [a, b] = await Promise.all([startSidecar(sidecarArgs()), startSidecar(sidecarArgs())]);
  }, 40_000);

  afterAll(async () => {
    await stopAll(a, b, etcd);
    await standIn?.close();
    await agent.close();
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    console.log(`etcd store timings:\n  ${timings.join('\n  ')}`);
  });

  it('a PUT on sidecar A (201, then 200) is served by sidecar B within 1 s', async () => {
    const body = route('/aws', standIn!, '/default/test-apisix');
    const sentAt = Date.now();
    const put = await admin(a!, 'PUT', '1', body);
    const answeredMs = Date.now() - sentAt;
    const { elapsedMs } = await waitFor('sidecar B to serve /aws', serves(b!, '/aws', 'APISIX'), PROPAGATION_DEADLINE_MS + 4000);
    const propagationMs = Date.now() - sentAt;
    timings.push(`A→B propagation: PUT answered in ${answeredMs} ms, B served the route ${propagationMs} ms after the PUT was sent (${elapsedMs} ms after A answered)`);

    expect(put.status).toBe(201);
    expect(put.json).toMatchObject({ key: '/apisix/routes/1', value: { uri: '/aws', plugins: { 'aws-lambda': { authorization: { apikey: '******' } } } } });
    expect(propagationMs).toBeLessThan(PROPAGATION_DEADLINE_MS);
    // A answers at once: the write was live on A when the PUT returned.
    expect(await serves(a!, '/aws', 'APISIX')()).toBe(true);
    expect((await front(b!, '/aws?name=APISIX')).body).toBe('"Hello, APISIX!"');
    // Stored as APISIX stores it: the route's JSON under <prefix>/<id>.
    const stored = await withEtcd((c) => c.get(`${PREFIX}/1`).json());
    expect(stored).toMatchObject({ uri: '/aws', plugins: { 'aws-lambda': { authorization: { apikey: STAND_IN_API_KEY } } } });

    const again = await admin(a!, 'PUT', '1', body);
    expect(again.status).toBe(200);
  });

  it('concurrent PATCHes of different fields on one sidecar all land in etcd', async () => {
    const count = 15;
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => admin(a!, 'PATCH', '1', JSON.stringify({ labels: { [`l${i}`]: `v${i}` } }))));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    const stored = await withEtcd((c) => c.get(`${PREFIX}/1`).json());
    expect((stored as { labels?: unknown }).labels).toEqual(Object.fromEntries(Array.from({ length: count }, (_, i) => [`l${i}`, `v${i}`])));
    expect(await serves(b!, '/aws', 'patched')()).toBe(true);
  });

  it('concurrent PATCHes of one route through both sidecars all land (compare-and-put against what each node saw)', async () => {
    const count = 16;
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) => admin(i % 2 === 0 ? a! : b!, 'PATCH', '1', JSON.stringify({ labels: { [`both${i}`]: `v${i}` } }))),
    );
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    const stored = (await withEtcd((c) => c.get(`${PREFIX}/1`).json())) as { labels?: Record<string, string> };
    const expected = Object.fromEntries(Array.from({ length: count }, (_, i) => [`both${i}`, `v${i}`]));
    expect(stored.labels).toMatchObject(expected);
    // Both nodes end up with etcd's version.
    for (const s of [a!, b!]) {
      await waitFor('the node to hold every label', async () => {
        const got = await admin(s, 'GET', '1');
        return Object.keys(expected).every((k) => (got.json.value as { labels?: Record<string, string> }).labels?.[k] === expected[k]);
      }, 3000);
    }
  });

  it('both sidecars match overlapping routes in the same (creation) order', async () => {
    // Pairs of routes for the same uri, the first created on A, the second on B: every node must
    // pick the first created one (route-store.ts: "creation order for etcd"). Whether A gets its
    // own write's watch event before its put() resolves is a race, hence several pairs.
    const pairs = [0, 1, 2, 3, 4];
    try {
      for (const i of pairs) {
        // (201 or 200: the status of a creation is checked by the first test.)
        expect([200, 201]).toContain((await admin(a!, 'PUT', `order-${i}-first`, route(`/order-${i}`, standIn!, '/first'))).status);
        await waitFor('B to see the first route', serves(b!, `/order-${i}`, 'probe'), 3000);
        expect([200, 201]).toContain((await admin(b!, 'PUT', `order-${i}-second`, route(`/order-${i}`, standIn!, '/second'))).status);
        await waitFor('A to see the second route', async () => (await admin(a!, 'GET', `order-${i}-second`)).status === 200, 3000);
      }
      await sleep(200);
      const servedBy = async (s: SidecarProcess, uri: string, name: string): Promise<string | undefined> => {
        await front(s, `${uri}?name=${name}`);
        return standIn!.received.find((r) => r.rawQuery === `name=${name}`)?.rawPath;
      };
      const answers: Record<string, string | undefined> = {};
      for (const i of pairs) {
        answers[`/order-${i} on A`] = await servedBy(a!, `/order-${i}`, `order-${i}-a`);
        answers[`/order-${i} on B`] = await servedBy(b!, `/order-${i}`, `order-${i}-b`);
      }
      expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, '/first'])));
    } finally {
      // Leave nothing behind for the next tests.
      for (const i of pairs) {
        await admin(a!, 'DELETE', `order-${i}-first`);
        await admin(a!, 'DELETE', `order-${i}-second`);
      }
      for (const s of [a!, b!]) {
        await waitFor('the order routes to go', async () => (await front(s, '/order-4?name=x')).status === 404, 3000);
      }
    }
  });

  it('an etcd value that is not JSON, or not a valid route, is logged and ignored; the other routes keep working', async () => {
    const badJson = `${PREFIX}/bad-json`;
    const badRoute = `${PREFIX}/bad-route`;
    await withEtcd(async (c) => {
      await c.put(badJson).value('{"uri": "/bad", "plugins": {');
      await c.put(badRoute).value(JSON.stringify({ uri: '/bad2', plugins: { 'aws-lambda': { function_uri: `${standIn!.url}/x`, timeout: 50 } } }));
      await c.put(`${PREFIX}/direct`).value(route('/aws-direct', standIn!, '/direct'));
    });
    for (const s of [a!, b!]) {
      await waitFor('the direct route', serves(s, '/aws-direct', 'direct'), 3000);
      await waitFor('both bad values to be logged', async () => {
        const lines = s.logLines().filter((l) => String(l.msg).startsWith('etcd route ignored'));
        return lines.some((l) => l.key === badJson) && lines.some((l) => l.key === badRoute);
      }, 3000);
      const lines = s.logLines().filter((l) => String(l.msg).startsWith('etcd route ignored'));
      const routeLine = lines.find((l) => l.key === badRoute);
      expect(String(routeLine?.msg)).toContain('route "bad-route"');
      expect(String(routeLine?.msg)).toContain('plugins.aws-lambda.timeout');
      expect(lines.filter((l) => l.key === badJson)).toHaveLength(1);
      expect(await serves(s, '/aws', 'still')()).toBe(true);
      expect((await front(s, '/bad2?name=x')).status).toBe(404);
      const list = await call(`http://${s.adminAddress}/apisix/admin/routes`, 'GET', undefined, { 'x-api-key': ADMIN_KEY });
      expect((list.json.list as Array<{ key: string }>).map((i) => i.key).sort()).toEqual(['/apisix/routes/1', '/apisix/routes/direct']);
    }
    await withEtcd(async (c) => {
      await c.delete().key(badJson);
      await c.delete().key(badRoute);
      await c.delete().key(`${PREFIX}/direct`);
    });
    for (const s of [a!, b!]) await waitFor('direct to go', async () => (await front(s, '/aws-direct?name=x')).status === 404, 3000);
  });

  it('etcd down: both keep serving, each logs the outage once, writes fail with 5xx; etcd back: resync, logged once, a direct change reaches both', async () => {
    expect([await storeConnected(a!), await storeConnected(b!)]).toEqual([1, 1]);
    const stoppedAt = Date.now();
    await etcd!.stop('SIGTERM');
    // etcd re-raises SIGTERM after its graceful stop (exit code null); the harness's SIGKILL
    // fallback would have said so in the output.
    expect(etcd!.output()).not.toContain('did not stop within');
    expect(() => process.kill(etcd!.pid, 0)).toThrow();
    expect(await canConnect(clientPort)).toBe(false);

    // A few seconds without etcd: every request still answered from the last known routes.
    const failures: string[] = [];
    while (Date.now() - stoppedAt < 3000) {
      for (const [name, s] of [['A', a!], ['B', b!]] as const) {
        const res = await front(s, '/aws?name=outage');
        if (res.body !== '"Hello, outage!"') failures.push(`${name}: ${res.status} ${res.body}`);
      }
      await sleep(100);
    }
    expect(failures).toEqual([]);

    const putStarted = Date.now();
    const refused = await admin(a!, 'PUT', 'outage', route('/aws-outage', standIn!, '/outage'));
    const refusedMs = Date.now() - putStarted;
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(refused.status).toBeLessThan(600);
    expect(typeof refused.json.error_msg).toBe('string');
    expect((await front(a!, '/aws-outage?name=x')).status).toBe(404);
    const deleteRefused = await admin(b!, 'DELETE', '1');
    expect(deleteRefused.status).toBeGreaterThanOrEqual(500);
    expect(await serves(b!, '/aws', 'kept')()).toBe(true);

    await sleep(1000);
    const outageLines = { A: countLogs(a!, 'etcd unreachable'), B: countLogs(b!, 'etcd unreachable') };
    expect(outageLines).toEqual({ A: 1, B: 1 });
    expect([await storeConnected(a!), await storeConnected(b!)]).toEqual([0, 0]);
    const outageLoggedMs = Math.max(
      ...[a!, b!].map((s) => Number(s.logLines().find((l) => String(l.msg).includes('etcd unreachable'))?.time) - stoppedAt),
    );
    const otherWarnings = [a!, b!].map((s) => s.logLines().filter((l) => (l.level as number) >= 40 && !String(l.msg).includes('etcd unreachable')).length);
    timings.push(
      `outage: logged ${outageLoggedMs} ms after etcd was stopped; admin PUT refused (${refused.status}) in ${refusedMs} ms; ` +
        `other warn/error lines so far: ${otherWarnings.join(' / ')} (A / B)`,
    );

    // etcd back, same data dir and ports; an operator changes the routes directly in etcd.
    etcd = await startEtcd();
    const backAt = Date.now();
    await withEtcd((c) => c.put(`${PREFIX}/2`).value(route('/aws-new', standIn!, '/new')).exec());
    const [onA, onB] = await Promise.all([
      waitFor('A to serve /aws-new', serves(a!, '/aws-new', 'new'), RECOVERY_DEADLINE_MS, 50),
      waitFor('B to serve /aws-new', serves(b!, '/aws-new', 'new'), RECOVERY_DEADLINE_MS, 50),
    ]);
    await waitFor('both to log the recovery', () => countLogs(a!, 'etcd reachable again') > 0 && countLogs(b!, 'etcd reachable again') > 0, RECOVERY_DEADLINE_MS, 50);
    const resyncMs = [a!, b!].map((s) => Number(s.logLines().find((l) => String(l.msg).includes('etcd reachable again'))?.time) - backAt);
    timings.push(
      `recovery: resync logged ${resyncMs.join(' / ')} ms (A / B) after etcd was healthy again; ` +
        `the direct change served ${onA.elapsedMs} / ${onB.elapsedMs} ms after the put`,
    );

    await sleep(1000);
    expect([await storeConnected(a!), await storeConnected(b!)]).toEqual([1, 1]);
    expect({ A: countLogs(a!, 'etcd reachable again'), B: countLogs(b!, 'etcd reachable again') }).toEqual({ A: 1, B: 1 });
    expect({ A: countLogs(a!, 'etcd unreachable'), B: countLogs(b!, 'etcd unreachable') }).toEqual({ A: 1, B: 1 });
    for (const s of [a!, b!]) {
      expect(await serves(s, '/aws', 'after')()).toBe(true);
      expect((await front(s, '/aws-outage?name=x')).status).toBe(404);
    }
    // Writes work again, and still reach the other node.
    expect([200, 201]).toContain((await admin(b!, 'PUT', 'after', route('/aws-after', standIn!, '/after'))).status);
    await waitFor('A to serve /aws-after', serves(a!, '/aws-after', 'after'), PROPAGATION_DEADLINE_MS);
  }, 45_000);

  it('etcd paused (SIGSTOP): an Admin write is answered within the 3 s call timeout as "may still be applied", and every node then agrees with etcd', async () => {
    const body = route('/aws-paused', standIn!, '/paused');
    process.kill(etcd!.pid, 'SIGSTOP');
    let answer: Answer;
    let answeredMs: number;
    try {
      const sentAt = Date.now();
      answer = await admin(a!, 'PUT', 'paused', body);
      answeredMs = Date.now() - sentAt;
    } finally {
      process.kill(etcd!.pid, 'SIGCONT');
    }
    timings.push(`etcd paused: admin PUT answered ${answer.status} in ${answeredMs} ms`);
    expect(answeredMs).toBeLessThan(DEFAULT_ETCD_CALL_TIMEOUT_MS + 1500);
    expect(answer.status).toBe(504);
    expect(String(answer.json.error_msg)).toContain('may still be applied');

    // A write made after the resume is handled by etcd after the paused one (if that one was
    // sent); once both nodes serve it, their watches have passed the paused write's revision too.
    await waitFor('A to accept writes again', async () => [200, 201].includes((await admin(a!, 'PUT', 'resumed', route('/aws-resumed', standIn!, '/resumed'))).status), RECOVERY_DEADLINE_MS, 200);
    for (const s of [a!, b!]) await waitFor('the write after the resume', serves(s, '/aws-resumed', 'resumed'), RECOVERY_DEADLINE_MS, 50);
    const inEtcd = (await withEtcd((c) => c.get(`${PREFIX}/paused`).string())) !== null;
    const served = { A: (await front(a!, '/aws-paused?name=p')).status === 200, B: (await front(b!, '/aws-paused?name=p')).status === 200 };
    timings.push(`etcd paused: the unconfirmed write was ${inEtcd ? '' : 'not '}applied by etcd`);
    expect(served).toEqual({ A: inEtcd, B: inEtcd });
    await admin(a!, 'DELETE', 'paused');
    await admin(a!, 'DELETE', 'resumed');
  }, 45_000);

  it('etcd wiped and restarted on the same port (revisions start again at 1): both sidecars resync and see every new put', async () => {
    const resyncs = (): number[] => [a!, b!].map((s) => countLogs(s, 'etcd reachable again'));
    const resyncsBefore = resyncs();
    const revisionBefore = await withEtcd(async (c) => Number((await c.getAll().prefix(`${PREFIX}/`).exec()).header.revision));
    await etcd!.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
    etcd = await startEtcd();
    // Both have reconnected and read the (empty) prefix again before anything is put.
    await waitFor('both sidecars to resync with the wiped etcd', () => resyncs().every((n, i) => n > resyncsBefore[i]), RECOVERY_DEADLINE_MS, 50);
    for (const s of [a!, b!]) await waitFor('the routes of the old etcd to go', async () => (await front(s, '/aws?name=x')).status === 404, 3000);

    const putRevision = await withEtcd(async (c) => Number((await c.put(`${PREFIX}/wiped`).value(route('/aws-wiped', standIn!, '/wiped')).exec()).header.revision));
    timings.push(`etcd wiped: revision ${revisionBefore} before, the first put after it got revision ${putRevision}`);
    expect(putRevision).toBeLessThan(revisionBefore);
    await Promise.all([a!, b!].map((s) => waitFor('the put made after the wipe', serves(s, '/aws-wiped', 'wiped'), PROPAGATION_DEADLINE_MS + 2000, 50)));
    // And Admin writes on one node reach the other.
    expect((await admin(a!, 'PUT', 'after-wipe', route('/aws-after-wipe', standIn!, '/after-wipe'))).status).toBe(201);
    await waitFor('B to serve the Admin write made on A', serves(b!, '/aws-after-wipe', 'after'), PROPAGATION_DEADLINE_MS);
    for (const s of [a!, b!]) expect(countLogs(s, "etcd's history restarted")).toBeGreaterThan(0);
  }, 45_000);

  it('a watch resumed from a compacted revision: both sidecars read everything again and keep seeing new puts', async () => {
    // Both sidecars frozen while etcd restarts and its history moves on and is compacted: when
    // they wake up, the revision their watch resumes from no longer exists.
    const sidecars = [a!, b!];
    for (const s of sidecars) process.kill(s.pid, 'SIGSTOP');
    try {
      await etcd!.stop('SIGTERM');
      etcd = await startEtcd();
      await withEtcd(async (c) => {
        await c.put(`${PREFIX}/compacted`).value(route('/aws-compacted', standIn!, '/compacted')).exec();
        const res = await c.put(`${PREFIX}/filler`).value('{}').exec();
        await c.delete().key(`${PREFIX}/filler`).exec();
        await c.kv.compact({ revision: res.header.revision, physical: true });
      });
    } finally {
      for (const s of sidecars) process.kill(s.pid, 'SIGCONT');
    }
    await Promise.all(sidecars.map((s) => waitFor('the route put before the compaction', serves(s, '/aws-compacted', 'compacted'), RECOVERY_DEADLINE_MS, 50)));
    await withEtcd((c) => c.put(`${PREFIX}/after-compaction`).value(route('/aws-after-compaction', standIn!, '/after-compaction')).exec());
    await Promise.all(sidecars.map((s) => waitFor('a put made after the compaction', serves(s, '/aws-after-compaction', 'after'), PROPAGATION_DEADLINE_MS + 2000, 50)));
  }, 45_000);
});


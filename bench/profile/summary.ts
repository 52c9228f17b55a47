/**
 * Where a CPU profile's time goes, by component: `node --cpu-prof` writes a `.cpuprofile`; this
 * buckets every sample by the nearest frame, leaf upwards, that names a component (our modules,
 * each library, Node's HTTP/2 and HTTP/1.1 cores, the garbage collector). Generic Node frames
 * (streams, events, timers, the microtask queue, crypto) are passed over on the way up, so a
 * socket write lands on the library that asked for it and a hash on the signer. With the CPU
 * per request measured from /proc, each share becomes microseconds per request. Start-up (module
 * loading under the main module's first run) and idle time are left out.
 *
 *   node build/bench/profile/summary.js <file.cpuprofile> [cpu µs per request]
 */
import * as fs from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** First match wins; `generic` components are passed over while a more specific one may lie above. */
const COMPONENTS: ReadonlyArray<{ readonly test: RegExp; readonly name: string; readonly generic?: boolean }> = [
  { test: /^\(garbage collector\)/, name: 'garbage collector' },
  { test: /^\(idle\)/, name: '(idle)' },
  { test: /^\(program\)/, name: 'native, unattributed (program)' },
  { test: /\/aws\/sigv4|node_modules\/aws4\//, name: 'SigV4 signing' },
  { test: /node_modules\/undici\/|internal\/deps\/undici/, name: 'undici (upstream HTTP/1.1, socket writes included)' },
  { test: /\/fronts\/grpc\/|@grpc\/grpc-js/, name: 'gRPC server' },
  { test: /protobufjs/, name: 'protobuf encode/decode' },
  { test: /node:internal\/http2/, name: 'Node HTTP/2 core' },
  { test: /node:_http_|node:internal\/http/, name: 'Node HTTP/1.1 server' },
  { test: /\/invoke\//, name: 'ours: invoke (headers, path, pool gate, answer)' },
  { test: /\/fronts\//, name: 'ours: fronts (Envoy messages, requests, answers)' },
  { test: /\/request-pipeline|\/routing\//, name: 'ours: routing and pipeline' },
  { test: /\/observability\//, name: 'ours: metrics and observers' },
  { test: /\/(dist|src)\//, name: 'ours: other' },
  { test: /node:internal\/crypto/, name: 'crypto', generic: true },
  { test: /node:|^ /, name: 'Node streams, events, timers, microtasks', generic: true },
];

/** Loading the modules at start runs under the main module's first run: not per request, left out. */
const START_UP_URL = 'node:internal/main/run_main_module';

export interface ComponentShare {
  readonly name: string;
  /** Share of the profile's busy time (not idle, not start-up), 0..1. */
  readonly share: number;
}

export function summarize(profile: CpuProfile): ComponentShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const timeOf = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) timeOf.set(profile.samples[i], (timeOf.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const totals = new Map<string, number>();
  const atStartUp = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) if ((byId.get(cur) as ProfileNode).callFrame.url === START_UP_URL) return true;
    return false;
  };
  for (const [id, time] of timeOf) {
    if (atStartUp(id)) continue;
    let found: string | undefined;
    let generic: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && found === undefined; cur = parent.get(cur)) {
      const frame = (byId.get(cur) as ProfileNode).callFrame;
      const component = COMPONENTS.find((c) => c.test.test(`${frame.url} ${frame.functionName}`) || c.test.test(frame.functionName));
      if (component === undefined) continue;
      if (component.generic === true) generic ??= component.name;
      else found = component.name;
    }
    const name = found ?? generic ?? 'other';
    totals.set(name, (totals.get(name) ?? 0) + time);
  }
  totals.delete('(idle)');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals].map(([name, t]) => ({ name, share: busy === 0 ? 0 : t / busy })).sort((a, b) => b.share - a.share);
}

export function summaryTable(shares: readonly ComponentShare[], cpuUsPerRequest: number | undefined): string {
  const lines = ['| component | share of busy CPU |' + (cpuUsPerRequest === undefined ? '' : ' µs per request |'), '| --- | --- |' + (cpuUsPerRequest === undefined ? '' : ' --- |')];
  for (const s of shares) {
    if (s.share < 0.005) continue;
    lines.push(`| ${s.name} | ${(s.share * 100).toFixed(1)}% |${cpuUsPerRequest === undefined ? '' : ` ${(s.share * cpuUsPerRequest).toFixed(0)} |`}`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const [file, perRequest] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node build/bench/profile/summary.js <file.cpuprofile> [cpu µs per request]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${summaryTable(summarize(profile), perRequest === undefined ? undefined : Number(perRequest))}\n`);
}

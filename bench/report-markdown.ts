/**
 * bench/RESULTS.md from a results JSON (and the latest full-length soak, if any): machine, versions,
 * method, tables, ratios, the targets with a plain met / not met, and where the CPU went.
 */
import { aggregate, Cell, cellKey, median as plainMedian } from './aggregate';
import type { BenchResults, PayloadName, Phase, SetupName, SoakResults } from './results';
import { PAYLOADS } from './results';
import { DEFAULT_SOAK_MINUTES } from './options';

/** Issue 13's targets. */
export const TARGETS = {
  throughputRatio: 0.5,
  /** Sidecar CPU per small signed ext_proc request, µs (stretch 100). */
  sidecarCpuUsPerRequest: 150,
  p50SlackMs: 0.5,
  p99Factor: 2,
  rssAt1000Mb: 150,
  soakGrowthPercent: 5,
} as const;

/** A fixed-rate run that reached less than this share of its target rate was overloaded. */
const SUSTAINED_FRACTION = 0.95;

export interface TargetVerdict {
  readonly name: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
  readonly detail: string;
}

const fmt = (v: number | undefined, digits = 2): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const fmtInt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US'));
const yesNo = (met: boolean | undefined): string => (met === undefined ? 'not measured' : met ? '**met**' : '**NOT met**');

function get(cells: Map<string, Cell>, phase: Phase, setup: SetupName, payload: PayloadName, connections: number): Cell | undefined {
  return cells.get(cellKey(phase, setup, payload, connections));
}

export function evaluateTargets(results: BenchResults, soak: SoakResults | undefined): TargetVerdict[] {
  const cells = aggregate(results.runs);
  const verdicts: TargetVerdict[] = [];
  for (const payload of PAYLOADS) {
    const native64 = get(cells, 'throughput', 'envoy-native', payload, 64);
    const ext64 = get(cells, 'throughput', 'envoy-ext_proc', payload, 64);
    const name = `envoy-ext_proc throughput ≥ ${TARGETS.throughputRatio * 100}% of envoy-native (64 connections, ${payload})`;
    if (native64 === undefined || ext64 === undefined) {
      verdicts.push({ name, met: undefined, detail: 'needs both setups' });
      continue;
    }
    const ratio = ext64.rps / native64.rps;
    verdicts.push({ name, met: ratio >= TARGETS.throughputRatio, detail: `${fmtInt(ext64.rps)} vs ${fmtInt(native64.rps)} req/s = ${(ratio * 100).toFixed(1)}%` });
  }
  const extSmall = get(cells, 'throughput', 'envoy-ext_proc', 'small', 64);
  const cpuName = `Sidecar CPU ≤ ${TARGETS.sidecarCpuUsPerRequest} µs per small signed ext_proc request (64 connections)`;
  const us = extSmall === undefined ? undefined : cpuUsPerRequest(extSmall.sidecarCpuPercent, extSmall.rps);
  if (extSmall === undefined || us === undefined) {
    verdicts.push({ name: cpuName, met: undefined, detail: 'no envoy-ext_proc run with the sidecar\'s CPU' });
  } else {
    verdicts.push({
      name: cpuName,
      met: us <= TARGETS.sidecarCpuUsPerRequest,
      detail: `${fmt(us, 0)} µs (${fmt(extSmall.sidecarCpuPercent, 0)}% of a core at ${fmtInt(extSmall.rps)} req/s; without Envoy: bench/SIDECAR-RESULTS.md)`,
    });
  }
  const rateConns = results.settings.rateConnections;
  for (const payload of PAYLOADS) {
    const native = get(cells, 'rate', 'envoy-native', payload, rateConns);
    const ext = get(cells, 'rate', 'envoy-ext_proc', payload, rateConns);
    if (native === undefined || ext === undefined) continue;
    const sustained = ext.targetRps === undefined || ext.rps >= ext.targetRps * SUSTAINED_FRACTION;
    const overload = sustained ? '' : `; envoy-ext_proc reached only ${fmtInt(ext.rps)} of ${fmtInt(ext.targetRps)} req/s, so it was overloaded at this rate`;
    const p50Limit = native.latencyMs.p50 + TARGETS.p50SlackMs;
    const p99Limit = native.latencyMs.p99 * TARGETS.p99Factor;
    verdicts.push({
      name: `p50 ≤ native p50 + ${TARGETS.p50SlackMs} ms at the moderate rate (${payload}, ${fmtInt(ext.targetRps)} req/s)`,
      met: ext.latencyMs.p50 <= p50Limit,
      detail: `ext_proc p50 ${fmt(ext.latencyMs.p50)} ms vs native ${fmt(native.latencyMs.p50)} ms (limit ${fmt(p50Limit)} ms)${overload}`,
    });
    verdicts.push({
      name: `p99 ≤ ${TARGETS.p99Factor}× native p99 at the moderate rate (${payload})`,
      met: ext.latencyMs.p99 <= p99Limit,
      detail: `ext_proc p99 ${fmt(ext.latencyMs.p99)} ms vs native ${fmt(native.latencyMs.p99)} ms (limit ${fmt(p99Limit)} ms)${overload}`,
    });
  }
  const c1000 = get(cells, 'c1000', 'envoy-ext_proc', 'small', 1000);
  verdicts.push({
    name: `Sidecar RSS ≤ ${TARGETS.rssAt1000Mb} MB at 1,000 concurrent connections`,
    met: c1000?.sidecarRssPeakMb === undefined ? undefined : c1000.sidecarRssPeakMb <= TARGETS.rssAt1000Mb,
    detail: c1000 === undefined ? 'no 1000-connection run' : `peak VmRSS ${fmt(c1000.sidecarRssPeakMb, 1)} MB during wrk -c1000 (${fmtInt(c1000.rps)} req/s, ${c1000.errors} errors)`,
  });
  verdicts.push({
    name: `Soak: sidecar RSS growth ≤ ${TARGETS.soakGrowthPercent}% over ${DEFAULT_SOAK_MINUTES} minutes`,
    met: soak?.growthPercent === undefined ? undefined : soak.growthPercent <= TARGETS.soakGrowthPercent,
    detail:
      soak === undefined
        ? `no ${DEFAULT_SOAK_MINUTES}-minute soak in bench/results yet (npm run bench -- --soak)`
        : `${soak.startedAt}: ${fmt(soak.rssStartMb, 1)} → ${fmt(soak.rssEndMb, 1)} MB (${fmt(soak.growthPercent, 1)}%) at ${fmtInt(soak.targetRps)} req/s, ${soak.totalErrors} errors`,
  });
  const measuredErrors = results.runs.filter((r) => !r.warmup).reduce((a, r) => a + r.result.errors.total, 0);
  const warmupErrors = results.runs.filter((r) => r.warmup).reduce((a, r) => a + r.result.errors.total, 0);
  const soakErrors = soak?.totalErrors ?? 0;
  const bySetup = new Map<string, { errors: number; runs: number; kinds: Set<string> }>();
  for (const r of results.runs) {
    if (r.result.errors.total === 0) continue;
    const e = bySetup.get(r.setup) ?? { errors: 0, runs: 0, kinds: new Set<string>() };
    e.errors += r.result.errors.total;
    e.runs += 1;
    if (r.result.errors.non2xx > 0) e.kinds.add('non-2xx');
    if (r.result.errors.socket > 0) e.kinds.add('socket errors');
    bySetup.set(r.setup, e);
  }
  const erroredRuns = [...bySetup].map(([setup, e]) => `${setup}: ${e.errors} (${[...e.kinds].join(' + ')}) in ${e.runs} run(s)`);
  const clean = setupsOf(results).filter((x) => !bySetup.has(x));
  if (clean.length > 0 && erroredRuns.length > 0) erroredRuns.push(`none in ${clean.join(', ')}`);
  verdicts.push({
    name: 'Zero errors (non-2xx + socket errors) in every run',
    met: measuredErrors + warmupErrors + soakErrors === 0 && results.failure === undefined,
    detail: `${measuredErrors} in measured runs, ${warmupErrors} in warm-ups${soak === undefined ? '' : `, ${soakErrors} in the soak`}${erroredRuns.length > 0 ? `: ${erroredRuns.join('; ')}` : ''}`,
  });
  return verdicts;
}

/** Log lines without their timestamp/ids, each distinct one once with its count (Envoy repeats itself). */
export function distinctLines(text: string): string[] {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const key = line
      .replace(/^\[[^\]]*\]\[\d+\]/, '') // Envoy: [time][thread]
      .replace(/\[Tags: [^\]]*\] /, '')
      .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (\*\d+ )?/, '$1 ') // nginx: time [level] pid#tid: *conn
      .trim();
    if (key !== '') counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([line, n]) => (n > 1 ? `${n}× ${line}` : line));
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cols: readonly string[]): string => `| ${cols.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function setupsOf(results: BenchResults): SetupName[] {
  return results.setups.filter((s) => s.included).map((s) => s.name);
}

/** CPU per request in µs for a process at `cpuPercent` of a core serving `rps`; undefined without both. */
function cpuUsPerRequest(cpuPercent: number | undefined, rps: number): number | undefined {
  return cpuPercent === undefined || rps <= 0 ? undefined : (cpuPercent / 100 / rps) * 1e6;
}

function usPerRequest(cpuPercent: number | undefined, rps: number): string {
  const us = cpuUsPerRequest(cpuPercent, rps);
  return us === undefined ? '–' : fmt(us, 0);
}

function bottleneckText(results: BenchResults, cells: Map<string, Cell>): string[] {
  const out: string[] = [];
  const nproc = results.machine.nproc;
  const sidecarSetups = setupsOf(results).filter((x) => x !== 'direct' && x !== 'envoy-native');
  for (const payload of PAYLOADS) {
    for (const setup of sidecarSetups) {
      const c = get(cells, 'throughput', setup, payload, 64);
      if (c === undefined) continue;
      const perRound = results.runs
        .filter((r) => !r.warmup && r.phase === 'throughput' && r.setup === setup && r.payload === payload && r.connections === 64)
        .map((r) => `${fmt(r.usage.processes.find((p) => p.role === 'sidecar')?.cpuPercent, 0)}% (other programs ${fmt(r.usage.otherBusyCores)} cores)`);
      const sidecar = c.sidecarCpuPercent ?? 0;
      const busiest = sidecar >= (c.envoyCpuPercent ?? 0) && sidecar >= (c.functionCpuPercent ?? 0);
      const verdict =
        sidecar >= 90
          ? `the sidecar is at ${fmt(sidecar, 0)}% of one core: **it is the bottleneck** (one Node.js event loop cannot use more than about one core)`
          : c.machineBusyCores >= nproc * 0.85
            ? `the sidecar is below one core (${fmt(sidecar, 0)}%) because the **machine** is full: ${fmt(c.machineBusyCores)} of ${nproc} cores busy, ` +
              `${fmt(c.otherBusyCores)} of them taken by other programs. ${busiest ? 'The sidecar is the busiest process on this path, so on a quiet machine it is the limit.' : ''}`
            : `the sidecar is at ${fmt(sidecar, 0)}% of one core and the machine at ${fmt(c.machineBusyCores)} of ${nproc} cores: neither is saturated`;
      out.push(
        `- **${setup}, ${payload}, 64 connections** (${fmtInt(c.rps)} req/s): sidecar ${fmt(c.sidecarCpuPercent, 0)}% · ${setup === 'nginx-http' ? 'nginx front' : 'Envoy'} ${fmt(c.envoyCpuPercent, 0)}% · ` +
          `function nginx ${fmt(c.functionCpuPercent, 0)}% · wrk ${fmt(c.loadgenCpuPercent, 0)}% (medians; 100% = one core). Sidecar per round: ${perRound.join(', ')}. ` +
          `So ${verdict.trim().replace(/([^.])$/, '$1.')}`,
      );
      const native = get(cells, 'throughput', 'envoy-native', payload, 64);
      out.push(
        `  CPU per request: sidecar ${usPerRequest(c.sidecarCpuPercent, c.rps)} µs + ${setup === 'nginx-http' ? 'nginx front' : 'Envoy'} ${usPerRequest(c.envoyCpuPercent, c.rps)} µs` +
          (native === undefined ? '.' : `, against ${usPerRequest(native.envoyCpuPercent, native.rps)} µs for the whole envoy-native Envoy (signing included, ${fmtInt(native.rps)} req/s at ${fmt(native.envoyCpuPercent, 0)}%).`),
      );
    }
  }
  for (const payload of results.settings.h2Payloads ?? []) {
    const c = get(cells, 'h2', 'envoy-ext_proc', payload, results.settings.h2Connections);
    if (c !== undefined) {
      out.push(`- HTTP/2 (${payload}), envoy-ext_proc: sidecar ${fmt(c.sidecarCpuPercent, 0)}% of one core at ${fmtInt(c.rps)} req/s, other programs ${fmt(c.otherBusyCores)} cores, machine ${fmt(c.machineBusyCores)} of ${nproc}.`);
    }
  }
  return out;
}

export function renderResultsMarkdown(results: BenchResults, soak: SoakResults | undefined, resultsFile: string): string {
  const cells = aggregate(results.runs);
  const setups = setupsOf(results);
  const s = results.settings;
  const m = results.machine;
  const v = results.versions;
  const lines: string[] = [];
  const push = (...l: string[]): void => {
    lines.push(...l);
  };

  push(
    '# Benchmark results',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${results.startedAt}; raw numbers in \`${resultsFile}\`. ` +
      'Rewritten by every full run: do not edit by hand.',
    '',
    '## Targets',
    '',
    table(['target', 'result', 'numbers'], evaluateTargets(results, soak).map((t) => [t.name, yesNo(t.met), t.detail])),
    '',
    'Why the targets stand where they do, with CPU profiles and the changes measured so far: ' +
      '[ANALYSIS.md](ANALYSIS.md) (written by hand, not by the bench).',
    '',
    '## Machine and versions',
    '',
    `- ${m.nproc} cores (\`nproc\`), ${m.cpuModel}, ${fmtInt(m.memoryMb)} MB memory, ${m.kernel}`,
    `- load average at start ${m.loadAvgStart.join(' / ')}, at end ${(m.loadAvgEnd ?? []).join(' / ')}; ` +
      `CPU used by other programs during the measured runs: median ${fmt(plainMedian(results.runs.filter((r) => !r.warmup).map((r) => r.usage.otherBusyCores)))} cores, ` +
      `max ${fmt(Math.max(0, ...results.runs.map((r) => r.usage.otherBusyCores)))} cores; ${fmt(results.busyCoresBeforeStart)} cores busy in the 2 s before the bench started anything ` +
      '(the box is shared: numbers taken while other programs ran are noisier, and every run records the CPU they took)',
    `- node ${v.node}, Envoy ${v.envoy}, ${v.nginx}, ${v.wrk}, h2load ${v.h2load}`,
    `- sidecar built from commit ${results.source.commit}${results.source.srcChanges > 0 ? ` plus ${results.source.srcChanges} uncommitted change(s) under src/` : ''} (\`npm run build\` at the start of the run)`,
    '',
    '## Method',
    '',
    'Everything runs on this machine, on 127.0.0.1. Setups:',
    '',
    ...results.setups.map((x) => `- **${x.name}**${x.included ? '' : ` (not run: ${x.skippedBecause})`}: ${x.description}`),
    '',
    `- **Envoy runs with \`--concurrency ${s.envoyConcurrency}\` in every Envoy setup**, so each setup gets the same budget of one worker thread.`,
    `- The function is nginx (\`worker_processes 1\`, \`access_log off\`, \`return 200\`): ${s.responseBytes.small} B JSON for *small* (GET), ` +
      `${fmtInt(s.responseBytes.large)} B for *large* (POST with a ${fmtInt(s.requestBodyBytes)} B JSON body).`,
    `- **Throughput**: \`wrk -t${s.wrkThreads} -c<N> -d${s.durationS}s --timeout ${s.wrkTimeoutS}s\` at ${s.connections.join(' and ')} connections, ` +
      `each preceded by a ${s.warmupS} s warm-up run that is not counted. Runs are interleaved (every setup in turn for each cell, ` +
      `${s.rounds} round(s)), and the table shows the median over rounds; *spread* is (max − min) / median of req/s. ` +
      'Latencies in this table are wrk\'s, under saturation (closed loop).',
    `- **Latency at a moderate rate**: ${results.moderateRate === undefined ? '' : `${fmtInt(results.moderateRate.small)} req/s small, ${fmtInt(results.moderateRate.large)} req/s large = ${results.moderateRate.reference}. `}` +
      `Debian's wrk has no \`-R\` (that is wrk2), so this uses \`h2load --h1 -c${s.rateConnections} --rps=<rate/${s.rateConnections}>\` ` +
      `(${s.rateWarmupS} s warm-up, ${s.rateDurationS} s measured, ${s.rateRounds} round(s), interleaved): a C load generator in its own process, ` +
      'fixed request rate, one log line per request, from which the bench computes exact nearest-rank percentiles. ' +
      'h2load times a request from when it is written, so a request waiting for a busy connection is not charged for the wait ' +
      '(coordinated omission); at half the maximum rate the connections are idle most of the time, and the achieved rate is shown next to the target.',
    `- **1000 connections**: \`wrk -t${s.wrkThreads} -c1000 -d${s.c1000DurationS}s\` through envoy-ext_proc (small), after a ${s.warmupS} s warm-up; the open-files limit of every spawned process is raised to its hard limit.`,
    `- **HTTP/2**: \`h2load -c${s.h2Connections} -m${s.h2Streams}\` (h2c, prior knowledge) for ${s.h2DurationS} s after a ${s.warmupS} s warm-up, ${s.h2Rounds} round(s).`,
    '- **req/s counts 2xx answers only.** **Errors** = non-2xx answers + socket errors (connect/read/write/timeout), from wrk\'s Lua `done()` summary (cross-checked with its ' +
      '"Non-2xx" and "Socket errors" lines) or h2load\'s counters; warm-up errors are counted too.',
    '- **CPU and RSS** of each process are read from /proc during every measured run: utime+stime (100% = one core busy for the whole run), ' +
      'peak VmRSS sampled every 100 ms. The sidecar is one Node.js process (`node dist/cli.js`).',
    `- The sidecar's route: \`/aws/*\` → \`http://127.0.0.1:<nginx>/default\`, IAM (SigV4) + x-api-key, \`keepalive_pool: ${s.keepalivePool}\`. ` +
      'Before the load, every setup answered one GET and one POST with 200 and the function\'s body, and a debug request showed the signature the function received:',
    '',
    ...results.verification.map((r) => `  - ${r.ok ? 'ok' : '**FAILED**'} ${r.setup} — ${r.check}: ${r.detail}`),
    '',
  );

  const usageCols = (c: Cell | undefined): string[] => [
    fmt(c?.sidecarCpuPercent, 0),
    fmt(c?.sidecarRssPeakMb, 1),
    fmt(c?.envoyCpuPercent, 0),
  ];

  push('## Throughput (wrk, fixed connections)', '');
  const tRows: string[][] = [];
  for (const payload of PAYLOADS) {
    for (const conns of s.connections) {
      for (const setup of setups) {
        const c = get(cells, 'throughput', setup, payload, conns);
        if (c === undefined) continue;
        tRows.push([setup, payload, String(conns), fmtInt(c.rps), c.rounds > 1 ? `${fmt(c.spreadPercent, 1)}%` : '–', fmt(c.latencyMs.p50), fmt(c.latencyMs.p90), fmt(c.latencyMs.p99), String(c.errors + c.warmupErrors), ...usageCols(c)]);
      }
    }
  }
  push(table(['setup', 'payload', 'conns', 'req/s', 'spread', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'sidecar CPU %', 'sidecar RSS MB (peak)', 'proxy CPU %'], tRows), '');
  push('*proxy CPU* is Envoy (or the nginx front for nginx-http); CPU columns: 100 = one core.', '');

  push('## Latency at a moderate rate (h2load HTTP/1.1, fixed rate)', '');
  const rRows: string[][] = [];
  for (const payload of PAYLOADS) {
    for (const setup of setups) {
      const c = get(cells, 'rate', setup, payload, s.rateConnections);
      if (c === undefined) continue;
      rRows.push([setup, payload, String(c.connections), fmtInt(c.targetRps), fmtInt(c.rps), fmt(c.latencyMs.p50), fmt(c.latencyMs.p90), fmt(c.latencyMs.p99), fmt(c.latencyMs.max), String(c.errors + c.warmupErrors), ...usageCols(c)]);
    }
  }
  push(table(['setup', 'payload', 'conns', 'target req/s', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors', 'sidecar CPU %', 'sidecar RSS MB (peak)', 'proxy CPU %'], rRows), '');
  push('A setup whose achieved rate is well below the target could not sustain it: its latencies are those of an overloaded server (requests queue).', '');

  push('## 1000 connections (wrk -c1000, envoy-ext_proc)', '');
  const kRows: string[][] = [];
  for (const setup of setups) {
    const c = get(cells, 'c1000', setup, 'small', 1000);
    if (c === undefined) continue;
    const sidecarUsage = results.runs.filter((r) => r.phase === 'c1000' && r.setup === setup).flatMap((r) => r.usage.processes.filter((p) => p.role === 'sidecar'));
    const hwm = Math.max(0, ...sidecarUsage.map((p) => p.hwmMb));
    // Older result files have no RssAnon reading.
    const anon = Math.max(0, ...sidecarUsage.map((p) => p.rssAnonAtPeakMb ?? 0));
    kRows.push([setup, 'small', '1000', fmtInt(c.rps), fmt(c.latencyMs.p50), fmt(c.latencyMs.p90), fmt(c.latencyMs.p99), String(c.errors + c.warmupErrors), ...usageCols(c), anon > 0 ? fmt(anon, 1) : '–', fmt(hwm, 1)]);
  }
  push(table(['setup', 'payload', 'conns', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'sidecar CPU %', 'sidecar RSS MB (peak)', 'proxy CPU %', 'of which anonymous MB', 'sidecar VmHWM MB (since start)'], kRows), '');
  push('*Of which anonymous*: RssAnon at the RSS peak, the sidecar\'s own memory (heap, buffers); the rest of its RSS is file-backed pages of the node binary and libraries (about 50 MB on Node 24), shared with other processes and reclaimable.', '');

  push(`## HTTP/2 (h2load h2c, -c${s.h2Connections} -m${s.h2Streams})`, '');
  const hRows: string[][] = [];
  for (const payload of PAYLOADS) {
    for (const setup of setups) {
      const c = get(cells, 'h2', setup, payload, s.h2Connections);
      if (c !== undefined) hRows.push([setup, payload, fmtInt(c.rps), fmt(c.latencyMs.p50), fmt(c.latencyMs.p90), fmt(c.latencyMs.p99), String(c.errors + c.warmupErrors), ...usageCols(c)]);
    }
  }
  push(table(['setup', 'payload', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'sidecar CPU %', 'sidecar RSS MB (peak)', 'proxy CPU %'], hRows), '');

  push('## Ratios', '');
  const ratioRows: string[][] = [];
  const sidecarSetups = setups.filter((x) => x !== 'direct' && x !== 'envoy-native');
  for (const setup of sidecarSetups) {
    for (const payload of PAYLOADS) {
      for (const conns of s.connections) {
        const c = get(cells, 'throughput', setup, payload, conns);
        const native = get(cells, 'throughput', 'envoy-native', payload, conns);
        const direct = get(cells, 'throughput', 'direct', payload, conns);
        if (c === undefined) continue;
        const pct = (other: Cell | undefined): string => (other === undefined ? '–' : `${((c.rps / other.rps) * 100).toFixed(1)}%`);
        ratioRows.push([setup, payload, String(conns), pct(native), pct(direct)]);
      }
    }
    for (const payload of PAYLOADS) {
      const c = get(cells, 'h2', setup, payload, s.h2Connections);
      const native = get(cells, 'h2', 'envoy-native', payload, s.h2Connections);
      if (c !== undefined && native !== undefined) ratioRows.push([`${setup} (HTTP/2)`, payload, `${s.h2Connections}×${s.h2Streams}`, `${((c.rps / native.rps) * 100).toFixed(1)}%`, '–']);
    }
  }
  push(table(['setup', 'payload', 'conns', 'req/s vs envoy-native', 'req/s vs direct'], ratioRows), '');
  push('![requests per second at 64 connections](results/chart.svg)', '');

  push('## Where the CPU goes', '', ...bottleneckText(results, cells), '');

  push('## Soak', '');
  if (soak === undefined) {
    push(`Not run yet: \`npm run bench -- --soak\` (${DEFAULT_SOAK_MINUTES} minutes through envoy-ext_proc) records the sidecar's RSS every minute; the newest soak of full length is shown here.`, '');
  } else {
    push(
      `${soak.startedAt}: ${soak.minutesPlanned} minutes at ${fmtInt(soak.targetRps)} req/s (${soak.rateReference}) through envoy-ext_proc, ${soak.connections} connections. ` +
        `Sidecar RSS ${fmt(soak.rssStartMb, 1)} MB at the start → ${fmt(soak.rssEndMb, 1)} MB at the end: **${fmt(soak.growthPercent, 1)}%**; ${soak.totalErrors} errors.`,
      '',
      table(
        ['minute', 'req/s', 'errors', 'p50 ms', 'p99 ms', 'sidecar RSS MB (end)', 'RSS peak MB', 'sidecar CPU %'],
        soak.minutes.map((x) => [String(x.minute), fmtInt(x.rps), String(x.errors), fmt(x.latencyMs.p50), fmt(x.latencyMs.p99), fmt(x.sidecarRssMb, 1), fmt(x.sidecarRssPeakMb, 1), fmt(x.sidecarCpuPercent, 0)]),
      ),
      '',
    );
  }

  push('## Sidecar log', '');
  for (const setup of setups) {
    const log = results.sidecarLogs[setup];
    if (log === undefined) continue;
    push(`- ${setup}: ${log.warnings} warning(s), ${log.errors} error(s) logged during the run${log.firstProblems.length > 0 ? '; first lines:' : '.'}`);
    for (const line of log.firstProblems.slice(0, 5)) push(`  - \`${line.slice(0, 300)}\``);
  }
  for (const [setup, values] of Object.entries(results.envoyCounters)) {
    const n = (suffix: string): number => Object.entries(values ?? {}).filter(([k]) => k.endsWith(suffix)).reduce((a, [, v]) => a + v, 0);
    const goaways = n('lambda_sidecar.upstream_cx_close_notify');
    const failed = n('ext_proc.streams_failed');
    if (goaways === 0 && failed === 0) continue;
    push(
      `- **${setup}**: Envoy counted ${failed} failed ext_proc stream(s) (answered 500: failure_mode_allow is false), ` +
        `${goaways} GOAWAY(s) from the sidecar's gRPC server (lambda_sidecar.upstream_cx_close_notify; ${n('lambda_sidecar.upstream_cx_total')} connections opened in all), ` +
        `and reset ${n('lambda_sidecar.http2.tx_reset')} of ${n('lambda_sidecar.upstream_rq_total')} streams to the sidecar itself (lambda_sidecar.http2.tx_reset).`,
    );
  }
  const counters = Object.entries(results.envoyCounters);
  if (counters.length > 0) {
    push('', 'Envoy counters about ext_proc / signing / 5xx at the end of the run (non-zero only):', '');
    for (const [setup, values] of counters) {
      const list = Object.entries(values ?? {}).map(([k, n]) => `${k}=${n}`);
      push(`- ${setup}: ${list.length === 0 ? '(none)' : list.join(', ')}`);
    }
  }
  const tails = Object.entries(results.processOutputTails);
  if (tails.length > 0) {
    push('', 'Last lines other processes printed (Envoy at warn level, nginx error.log):', '');
    for (const [who, text] of tails) push(`- ${who}:`, '', '  ```', ...text.split('\n').map((l) => `  ${l.slice(0, 400)}`), '  ```', '');
  }
  if (results.failure !== undefined) push('', `**The run stopped early:** ${results.failure}`);
  push('');
  return lines.join('\n');
}

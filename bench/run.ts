/**
 * `npm run bench`: the sidecar against the alternatives, in one run, on this machine, on loopback.
 * See bench/README.md. Phases, in order (each interleaves the setups: A B C A B C ...):
 *   verify → throughput (wrk, 16 and 64 connections) → latency at a fixed moderate rate (h2load)
 *   → 1000 connections through envoy-ext_proc → HTTP/2 (h2load) ; or --soak.
 * Every process started here is killed at the end, on error and on Ctrl-C.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aggregate, cellKey } from './aggregate';
import { envoyCounters } from './envoy';
import { clockTicksPerSecond, machineInfo, sourceInfo } from './machine';
import { measure, MeasureContext, RunSpec } from './measure';
import { estimateSeconds, MODERATE_RATE_FRACTION, parseOptions, settingsFor, USAGE, BenchOptions } from './options';
import { writeRequestBody } from './request-body';
import { latestFull, latestSoak, RESULTS_MD, CHART_SVG, timestamp, writeJson, writeReport } from './output-files';
import { sleep, stopEverything } from '../test/e2e/support/processes';
import { UsageSampler } from './proc-usage';
import { distinctLines, renderResultsMarkdown, evaluateTargets } from './report-markdown';
import type { BenchResults, PayloadName, RunRecord, SetupName } from './results';
import { PAYLOADS } from './results';
import { BenchEnvironment, SetupHandle, SetupSelection, selectSetups, startEnvironment } from './setups';
import { runSoak } from './soak';
import { findTools, missingToolsMessage, ToolPaths, toolVersions } from './tools';
import { verifySetup } from './verify';

const C1000 = 1000;
const OUTPUT_TAIL_LINES = 20;
/** Envoy counters worth keeping (non-zero ones): ext_proc/signing outcomes, 5xx, and the sidecar connection's churn. */
const ENVOY_COUNTER_WORDS = [
  'ext_proc', 'ext_authz', 'aws_request_signing', 'downstream_rq_5xx', 'downstream_rq_4xx', 'rq_timeout',
  'lambda_sidecar.upstream_cx_total', 'lambda_sidecar.upstream_cx_close_notify', 'lambda_sidecar.upstream_cx_destroy_remote',
  'lambda_sidecar.http2.tx_reset', 'lambda_sidecar.http2.rx_reset', 'lambda_sidecar.upstream_rq_total',
];
const QUIET_CHECK_MS = 2_000;

function readTail(file: string): string {
  try {
    return distinctLines(fs.readFileSync(file, 'utf8')).slice(-OUTPUT_TAIL_LINES).join('\n');
  } catch {
    return '';
  }
}

/** Cores busy on the machine over a short window, before the bench starts anything. */
async function busyCoresNow(): Promise<number> {
  const sampler = new UsageSampler([], clockTicksPerSecond());
  await sleep(QUIET_CHECK_MS);
  return sampler.stop().machineBusyCores;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function describeRun(r: RunRecord, index: number, total: number): string {
  const sidecar = r.usage.processes.find((p) => p.role === 'sidecar');
  const envoy = r.usage.processes.find((p) => p.role === 'envoy');
  const lat = r.result.latencyMs;
  return [
    `[${String(index).padStart(3)}/${total}]`,
    r.warmup ? 'warm-up   ' : r.phase.padEnd(10),
    r.setup.padEnd(15),
    r.payload.padEnd(5),
    `c${r.connections}`.padEnd(5),
    `r${r.round}`,
    `${Math.round(r.result.rps).toLocaleString('en-US').padStart(7)} req/s`,
    r.targetRps === undefined ? '' : `(target ${Math.round(r.targetRps)})`,
    `p50 ${lat.p50.toFixed(2)} p99 ${lat.p99.toFixed(2)} ms`,
    `err ${r.result.errors.total}`,
    sidecar === undefined ? '' : `sidecar ${sidecar.cpuPercent.toFixed(0)}% ${sidecar.rssPeakMb.toFixed(0)} MB`,
    envoy === undefined ? '' : `envoy ${envoy.cpuPercent.toFixed(0)}%`,
    `other ${r.usage.otherBusyCores.toFixed(2)} cores`,
  ]
    .filter((s) => s !== '')
    .join('  ');
}

interface Plan {
  readonly throughput: number;
  readonly rate: number;
  readonly c1000: number;
  readonly h2: number;
}

class BenchRun {
  private done = 0;
  private readonly total: number;
  private readonly ctx: MeasureContext;

  constructor(
    private readonly results: BenchResults,
    private readonly env: BenchEnvironment,
    private readonly order: readonly SetupName[],
    private readonly opts: BenchOptions,
    tools: ToolPaths,
    bodyFile: string,
    tempDir: string,
  ) {
    const plan = this.plan();
    this.total = plan.throughput + plan.rate + plan.c1000 + plan.h2;
    this.ctx = {
      tools,
      results,
      ticksPerSecond: clockTicksPerSecond(),
      bodyFile,
      tempDir,
      wrkThreads: results.settings.wrkThreads,
      wrkTimeoutS: results.settings.wrkTimeoutS,
      shared: [env.function],
      report: (record) => log(describeRun(record, ++this.done, this.total)),
    };
  }

  private get s(): BenchResults['settings'] {
    return this.results.settings;
  }

  private handle(name: SetupName): SetupHandle {
    const h = this.env.setups.get(name);
    if (h === undefined) throw new Error(`setup ${name} was not started`);
    return h;
  }

  private h2Setups(): SetupName[] {
    return this.order.filter((n) => n !== 'direct' && this.handle(n).http2);
  }

  private plan(): Plan {
    const s = this.results.settings;
    const n = this.order.length;
    return {
      throughput: s.rounds * PAYLOADS.length * s.connections.length * n * 2,
      rate: s.rateRounds * s.ratePayloads.length * n,
      c1000: this.order.includes('envoy-ext_proc') ? 2 : 0,
      h2: s.h2Rounds * s.h2Payloads.length * this.h2Setups().length,
    };
  }

  async throughput(): Promise<void> {
    log(`\n== throughput: wrk -t${this.s.wrkThreads}, ${this.s.connections.join('/')} connections, ${this.s.rounds} round(s) of ${this.s.warmupS} s warm-up + ${this.s.durationS} s`);
    for (let round = 1; round <= this.s.rounds; round++) {
      for (const payload of PAYLOADS) {
        for (const connections of this.s.connections) {
          for (const name of this.order) {
            const base = { phase: 'throughput' as const, payload, connections, round, load: { kind: 'wrk' as const } };
            await measure(this.ctx, this.handle(name), { ...base, warmup: true, durationS: this.s.warmupS });
            await measure(this.ctx, this.handle(name), { ...base, warmup: false, durationS: this.s.durationS });
          }
        }
      }
    }
  }

  /** 50% of envoy-native's median max at 64 connections, per payload (or --rate). */
  deriveModerateRate(): void {
    const cells = aggregate(this.results.runs);
    const rates: Partial<Record<PayloadName, number>> = {};
    let reference = '';
    for (const payload of PAYLOADS) {
      if (this.opts.rate !== undefined) {
        rates[payload] = this.opts.rate;
        reference = 'the --rate option';
        continue;
      }
      const native = cells.get(cellKey('throughput', 'envoy-native', payload, 64));
      if (native !== undefined) {
        rates[payload] = Math.max(1, Math.round(native.rps * MODERATE_RATE_FRACTION));
        reference = `${MODERATE_RATE_FRACTION * 100}% of envoy-native's maximum at 64 connections (median of the throughput rounds)`;
        continue;
      }
      // envoy-native not run (--only): the slowest setup's maximum stands in.
      const slowest = Math.min(...this.order.map((n) => cells.get(cellKey('throughput', n, payload, 64))?.rps ?? Infinity));
      rates[payload] = Math.max(1, Math.round((Number.isFinite(slowest) ? slowest : 1000) * MODERATE_RATE_FRACTION));
      reference = `${MODERATE_RATE_FRACTION * 100}% of the slowest setup's maximum at 64 connections (envoy-native was not run)`;
    }
    this.results.moderateRate = { small: rates.small ?? 1, large: rates.large ?? 1, reference };
  }

  async rate(): Promise<void> {
    const rate = this.results.moderateRate;
    if (rate === undefined) throw new Error('moderate rate not derived');
    log(`\n== latency at a fixed rate: h2load --h1 -c${this.s.rateConnections}, small ${rate.small} req/s, large ${rate.large} req/s (${rate.reference})`);
    for (let round = 1; round <= this.s.rateRounds; round++) {
      for (const payload of this.s.ratePayloads) {
        for (const name of this.order) {
          await measure(this.ctx, this.handle(name), {
            phase: 'rate', payload, connections: this.s.rateConnections, round, warmup: false, durationS: this.s.rateDurationS,
            load: { kind: 'h2load', http1: true, streams: 1, totalRps: rate[payload], warmupS: this.s.rateWarmupS },
          });
        }
      }
    }
  }

  async c1000(): Promise<void> {
    if (!this.order.includes('envoy-ext_proc')) return;
    log(`\n== ${C1000} connections through envoy-ext_proc: wrk -t${this.s.wrkThreads} -c${C1000}`);
    const base = { phase: 'c1000' as const, payload: 'small' as const, connections: C1000, round: 1, load: { kind: 'wrk' as const } };
    const setup = this.handle('envoy-ext_proc');
    await measure(this.ctx, setup, { ...base, warmup: true, durationS: this.s.warmupS });
    await measure(this.ctx, setup, { ...base, warmup: false, durationS: this.s.c1000DurationS });
  }

  async http2(): Promise<void> {
    const setups = this.h2Setups();
    if (setups.length === 0) return;
    log(`\n== HTTP/2: h2load -c${this.s.h2Connections} -m${this.s.h2Streams} (h2c), ${setups.join(' vs ')}`);
    for (let round = 1; round <= this.s.h2Rounds; round++) {
      for (const payload of this.s.h2Payloads) {
        for (const name of setups) {
          const spec: RunSpec = {
            phase: 'h2', payload, connections: this.s.h2Connections, round, warmup: false, durationS: this.s.h2DurationS,
            load: { kind: 'h2load', http1: false, streams: this.s.h2Streams, totalRps: undefined, warmupS: this.s.warmupS },
          };
          await measure(this.ctx, this.handle(name), spec);
        }
      }
    }
  }
}

async function runBench(opts: BenchOptions, tools: ToolPaths, selection: SetupSelection): Promise<number> {
  const startedAt = new Date();
  const quick = opts.mode === 'quick';
  const kind: BenchResults['kind'] = quick ? 'quick' : opts.only === undefined ? 'full' : 'partial';
  const order = selection.selected;
  const settings = settingsFor(quick, order.length);
  const h2Count = order.filter((n) => n.startsWith('envoy-')).length;
  const results: BenchResults = {
    kind,
    startedAt: startedAt.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo(),
    versions: toolVersions(tools),
    source: sourceInfo(),
    settings,
    setups: selection.records,
    verification: [],
    runs: [],
    envoyCounters: {},
    sidecarLogs: {},
    processOutputTails: {},
  };
  log(`aws-lambda-sidecar bench (${kind}): ${order.join(', ')}`);
  for (const r of selection.records.filter((x) => !x.included)) log(`  skipped ${r.name}: ${r.skippedBecause}`);
  log(`  ${results.machine.nproc} cores, ${results.machine.cpuModel}; load average ${results.machine.loadAvgStart.join(' ')}`);
  log(`  about ${Math.ceil(estimateSeconds(settings, order.length, h2Count) / 60)} minute(s)`);
  results.busyCoresBeforeStart = await busyCoresNow();
  log(`  machine busy before start: ${results.busyCoresBeforeStart} of ${results.machine.nproc} cores${results.busyCoresBeforeStart > 0.3 ? ' (other programs are running: expect noisier numbers)' : ''}`);

  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-lambda-sidecar-bench-'));
  const stamp = timestamp(startedAt);
  const jsonName = kind === 'full' ? `${stamp}.json` : `${stamp}-${kind}.json`;
  let env: BenchEnvironment | undefined;
  let exitCode = 0;

  const finish = async (): Promise<string> => {
    if (env !== undefined) {
      for (const [name, handle] of env.setups) {
        const envoyTail = distinctLines(handle.envoy?.output() ?? '').slice(-OUTPUT_TAIL_LINES).join('\n');
        if (envoyTail !== '') results.processOutputTails[`envoy (${name})`] = envoyTail;
        if (handle.envoy !== undefined) results.envoyCounters[name] = await envoyCounters(handle.envoy.adminPort, ENVOY_COUNTER_WORDS);
        if (handle.sidecar !== undefined) results.sidecarLogs[name] = handle.sidecar.logSummary();
      }
    }
    const fnErrors = env === undefined ? '' : readTail(env.function.errorLog);
    if (fnErrors !== '') results.processOutputTails['function nginx error.log'] = fnErrors;
    await stopEverything();
    results.finishedAt = new Date().toISOString();
    results.machine.loadAvgEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
    return writeJson(jsonName, results);
  };
  interruptHandler = async () => {
    results.failure = 'interrupted (SIGINT/SIGTERM)';
    const file = await finish();
    if (!opts.keepTemp) fs.rmSync(tempDir, { recursive: true, force: true });
    log(`\ninterrupted: every process stopped; partial results in ${file}`);
  };

  try {
    const body = writeRequestBody(tempDir);
    env = await startEnvironment(tools, tempDir, order, { extAuthz: opts.extAuthzConfig, nginx: opts.nginxConfig });
    log('\n== verify: one GET and one POST per setup, and the signature the function receives');
    for (const name of order) {
      const handle = env.setups.get(name);
      if (handle === undefined) continue;
      for (const record of await verifySetup(handle, body.body)) {
        results.verification.push(record);
        log(`  ${record.ok ? 'ok    ' : 'FAILED'} ${name.padEnd(15)} ${record.check}: ${record.detail}`);
      }
    }
    const failed = results.verification.filter((r) => !r.ok);
    if (failed.length > 0) throw new Error(`verification failed: ${failed.map((r) => `${r.setup} ${r.check}`).join(', ')}`);

    const run = new BenchRun(results, env, order, opts, tools, body.file, tempDir);
    await run.throughput();
    run.deriveModerateRate();
    await run.rate();
    await run.c1000();
    await run.http2();
  } catch (err) {
    results.failure = (err as Error).message;
    exitCode = 1;
    log(`\nbench failed: ${(err as Error).message}`);
  } finally {
    interruptHandler = undefined;
  }
  const file = await finish();
  if (exitCode !== 0 || opts.keepTemp) log(`temp dir kept: ${tempDir}`);
  else fs.rmSync(tempDir, { recursive: true, force: true });

  const soak = latestSoak();
  log(`\nraw results: ${file}`);
  if (kind === 'full' && results.failure === undefined) {
    writeReport(results, file, soak);
    log(`rewrote ${RESULTS_MD} and ${CHART_SVG}`);
  } else {
    log(`(${kind}${results.failure === undefined ? '' : ', failed'} run: bench/RESULTS.md left as it was)`);
  }
  log('\n' + renderResultsMarkdown(results, soak, path.relative(process.cwd(), file)).split('\n## Method')[0]);
  log(evaluateTargets(results, soak).map((t) => `${t.met === undefined ? 'n/a' : t.met ? 'MET' : 'NOT MET'}: ${t.name} — ${t.detail}`).join('\n'));
  return exitCode;
}

let interruptHandler: (() => Promise<void>) | undefined;

function onSignal(signal: NodeJS.Signals): void {
  log(`\n${signal}: stopping every process the bench started`);
  const handler = interruptHandler;
  void (handler === undefined ? stopEverything() : handler()).finally(() => process.exit(130));
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`npm run bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.mode === 'render') {
    const full = latestFull();
    if (full === undefined) {
      process.stderr.write('npm run bench -- --render: no finished full run in bench/results yet\n');
      return 2;
    }
    writeReport(full.value, full.file, latestSoak());
    log(`rewrote ${RESULTS_MD} and ${CHART_SVG} from ${full.file}`);
    return 0;
  }
  const tools = findTools();
  if ('missing' in tools) {
    process.stderr.write(missingToolsMessage(tools.missing));
    return 2;
  }
  let selection: SetupSelection;
  try {
    selection = selectSetups(opts.only, opts.extAuthzConfig, opts.nginxConfig);
  } catch (err) {
    process.stderr.write(`npm run bench: ${(err as Error).message}\n`);
    return 2;
  }
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (opts.mode === 'soak') {
      return await runSoak(opts, tools.found, (handler) => {
        interruptHandler = handler;
      });
    }
    return await runBench(opts, tools.found, selection);
  } finally {
    await stopEverything();
  }
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`npm run bench: ${(err as Error).stack ?? String(err)}\n`);
    await stopEverything();
    process.exit(1);
  },
);

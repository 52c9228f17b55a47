/**
 * `npm run bench:sidecar`: the sidecar's own cost, with no Envoy or nginx front in the way. The load
 * goes straight at its gRPC port (ext_proc `Process` streams as Envoy sends them, h2load) and at its
 * HTTP front (wrk); every run is checked against the sidecar's own request counter. See
 * bench/README.md "Sidecar only".
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METHOD_PATHS } from '../../src/fronts/grpc-definitions';
import { findBinary, freePort, stopEverything } from '../../test/e2e/support/processes';
import { linkBuildProtos } from '../build-protos';
import { runH2load, h2loadCommandLine } from '../load-h2load';
import { runWrk, wrkCommandLine } from '../load-wrk';
import { clockTicksPerSecond, machineInfo, sourceInfo } from '../machine';
import { FUNCTION_PATHS, functionNginxConf, LARGE_RESPONSE_BYTES, SMALL_RESPONSE_BODY, startNginx, type NginxProcess } from '../nginx';
import { RESULTS_DIR, timestamp } from '../output-files';
import { processTree, UsageSampler, type UsageReport } from '../proc-usage';
import { REQUEST_BODY_BYTES, writeRequestBody } from '../request-body';
import type { LoadResult, PayloadName } from '../results';
import { PAYLOADS } from '../results';
import { median } from '../aggregate';
import { startBenchSidecar, type BenchSidecar } from '../sidecar';
import { versionLine } from '../tools';
import { EXT_PROC_PATHS, writeExtProcBodies } from './grpc-body';
import { countMismatch, requestDelta, settledRequestCounts } from './metrics-delta';
import { parseSidecarBenchOptions, USAGE, type SidecarBenchOptions } from './options';
import { summarize, summaryTable, type CpuProfile } from '../profile/summary';
import { flameSvg, flameTree } from '../profile/flame-svg';
import { cellTable, renderSidecarResults } from './report';
import { LOADS, sidecarCells, type LoadDef, type SidecarBenchResults, type SidecarRun } from './results';
import { extProcProblem, httpFrontProblem } from './verify-once';

const WARMUP_S = 2;
const QUICK_WARMUP_S = 1;
const WRK_TIMEOUT_S = 10;
/** The fewest requests of an h2load -n run, whatever the warm-up's rate. */
const MIN_FIXED_REQUESTS = 1_000;
const SIDECAR_CPU = '0';
const LOAD_CPU = '1';
const SIDECAR_RESULTS_MD = path.join(RESULTS_DIR, '..', 'SIDECAR-RESULTS.md');
const GRPC_HEADERS = ['content-type: application/grpc', 'te: trailers'] as const;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface Tools {
  readonly nginx: string;
  readonly wrk: string;
  readonly h2load: string;
  readonly taskset: string | undefined;
}

interface Variant {
  readonly name: string;
  readonly sidecar: BenchSidecar;
  /** Where its `--cpu-prof` profile goes (--cpu-prof), else undefined. */
  readonly profileDir: string | undefined;
}

interface Context {
  readonly tools: Tools;
  readonly opts: SidecarBenchOptions;
  readonly results: SidecarBenchResults;
  readonly fn: NginxProcess;
  readonly tempDir: string;
  readonly largeBody: { file: string; body: Buffer };
  readonly grpcBodies: Record<PayloadName, { file: string; body: Buffer }>;
  /** CPUs for the load tool, undefined when not pinned. */
  readonly loadCpus: string | undefined;
  readonly warmupS: number;
}

/** `taskset -a -p`: every thread of each process (and its children) onto `cpus`, from now on. */
function pinTree(taskset: string, pid: number, cpus: string): void {
  for (const p of processTree(pid)) execFileSync(taskset, ['-a', '-p', '-c', cpus, String(p)], { stdio: 'ignore', timeout: 5_000 });
}

function nodeVersion(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
}

function requireTool(name: string): string {
  const found = findBinary(name);
  if (found === undefined) throw new Error(`${name} is missing (apt-get install nginx-light wrk nghttp2-client)`);
  return found;
}

/** One load run with /proc sampling of the sidecar, the function and the tool itself. */
async function loadRun(ctx: Context, variant: Variant, load: LoadDef, payload: PayloadName, durationS: number, requests: number | undefined): Promise<{ result: LoadResult; usage: UsageReport | undefined; command: string }> {
  const { sidecar } = variant;
  let sampler: UsageSampler | undefined;
  const watch = (role: string) => (pid: number): void => {
    sampler = new UsageSampler([{ role: 'sidecar', pid: sidecar.pid }, { role: 'function-nginx', pid: ctx.fn.pid }, { role, pid }], clockTicksPerSecond());
  };
  const pinNote = ctx.loadCpus === undefined ? '' : `taskset -c ${ctx.loadCpus} `;
  let result: LoadResult;
  let command: string;
  if (load.tool === 'h2load') {
    const run = {
      url: `http://127.0.0.1:${sidecar.grpcPort}${METHOD_PATHS.externalProcessorProcess}`,
      clients: load.connections,
      streams: load.streams,
      http1: false,
      totalRps: undefined,
      durationS,
      warmupS: 0,
      bodyFile: ctx.grpcBodies[payload].file,
      headers: GRPC_HEADERS,
      requests,
      cpus: ctx.loadCpus,
      logFile: path.join(ctx.tempDir, `h2load-${process.hrtime.bigint()}.log`),
    };
    command = pinNote + h2loadCommandLine(ctx.tools.h2load, run);
    result = await runH2load(ctx.tools.h2load, run, watch('h2load'));
  } else {
    const run = {
      url: `http://127.0.0.1:${sidecar.httpPort}${EXT_PROC_PATHS[payload]}`,
      connections: load.connections,
      threads: 1,
      durationS,
      timeoutS: WRK_TIMEOUT_S,
      bodyFile: payload === 'large' ? ctx.largeBody.file : undefined,
      cpus: ctx.loadCpus,
    };
    command = pinNote + wrkCommandLine(ctx.tools.wrk, run);
    result = await runWrk(ctx.tools.wrk, run, watch('wrk'));
  }
  // The sampler may not exist if the tool failed to start; runH2load/runWrk threw then.
  return { result, usage: (sampler as UsageSampler | undefined)?.stop(), command };
}

function assertRunning(ctx: Context, variant: Variant): void {
  for (const p of [ctx.fn, variant.sidecar]) {
    if (!p.running()) throw new Error(`${p.name} is no longer running; its last output:\n${p.output().split('\n').slice(-30).join('\n')}`);
  }
}

/** Verify once, warm up, run, compare with the sidecar's count. */
async function measureCell(ctx: Context, variant: Variant, load: LoadDef, payload: PayloadName, round: number): Promise<SidecarRun> {
  assertRunning(ctx, variant);
  const { sidecar } = variant;
  const problem = load.door === 'ext_proc'
    ? await extProcProblem(sidecar.grpcPort, payload, ctx.grpcBodies[payload].body)
    : await httpFrontProblem(sidecar.httpPort, payload, ctx.largeBody.body);
  if (problem !== undefined) throw new Error(`check before ${load.id} ${payload} on ${variant.name}: ${problem}`);

  const warm = await loadRun(ctx, variant, load, payload, ctx.warmupS, undefined);
  const before = await settledRequestCounts(sidecar.httpPort, load.door);
  const fixed = load.tool === 'h2load' ? Math.max(MIN_FIXED_REQUESTS, Math.round(warm.result.rps * ctx.opts.durationS)) : undefined;
  const { result, usage, command } = await loadRun(ctx, variant, load, payload, ctx.opts.durationS, fixed);
  assertRunning(ctx, variant);
  const delta = requestDelta(before, await settledRequestCounts(sidecar.httpPort, load.door));

  const completed = result.requests - result.errors.non2xx;
  const slack = load.tool === 'wrk' ? load.connections : 0;
  const mismatch = result.errors.total > 0 ? `the load tool saw ${result.errors.total} error(s): ${result.errors.detail}` : countMismatch(delta, completed, slack);
  const role = (name: string) => usage?.processes.find((p) => p.role === name);
  const sc = role('sidecar');
  return {
    variant: variant.name,
    load: load.id,
    payload,
    round,
    command,
    completed,
    durationS: result.durationS,
    rps: result.rps,
    latencyMs: result.latencyMs,
    cpuUsPerRequest: sc === undefined || completed === 0 ? 0 : Math.round((sc.cpuSeconds * 1e6) / completed * 10) / 10,
    sidecarCpuPercent: sc?.cpuPercent ?? 0,
    sidecarRssPeakMb: sc?.rssPeakMb ?? 0,
    sidecarRssAnonMb: sc?.rssAnonAtPeakMb ?? 0,
    loadToolCpuPercent: role(load.tool)?.cpuPercent ?? 0,
    functionCpuPercent: role('function-nginx')?.cpuPercent ?? 0,
    otherBusyCores: usage?.otherBusyCores ?? 0,
    machineBusyCores: usage?.machineBusyCores ?? 0,
    sidecarCounted: delta,
    toolErrors: result.errors.total,
    failure: mismatch,
  };
}

function describeRun(r: SidecarRun, index: number, total: number): string {
  return [
    `[${String(index).padStart(3)}/${total}]`, r.load.padEnd(18), r.payload.padEnd(5), r.variant.padEnd(24), `r${r.round}`,
    `${Math.round(r.rps).toLocaleString('en-US').padStart(7)} req/s`, `${r.cpuUsPerRequest.toFixed(0).padStart(4)} µs/req`,
    `sidecar ${r.sidecarCpuPercent.toFixed(0)}% ${r.sidecarRssPeakMb.toFixed(0)} MB`, `other ${r.otherBusyCores.toFixed(2)} cores`,
    r.failure === undefined ? `ok (sidecar counted ${r.sidecarCounted.ok})` : `FAILED: ${r.failure}`,
  ].join('  ');
}

/** A checkout's name in the tables: its commit (and uncommitted src/ changes), else its folder. */
function checkoutLabel(dir: string): string {
  const { commit, srcChanges } = sourceInfo(dir);
  if (commit === 'unknown') return `build ${path.basename(dir)}`;
  return `build ${commit}${srcChanges > 0 ? ` +${srcChanges} changed` : ''}`;
}

function variantName(checkout: string | undefined, nodeVer: string, extraArgs: readonly string[], nodes: number, argSets: number): string {
  const parts = [checkout === undefined ? '' : checkoutLabel(checkout), nodes > 1 || argSets === 1 ? `node ${nodeVer}` : ''];
  if (argSets > 1) parts.push(extraArgs.length === 0 ? '(default flags)' : extraArgs.join(' '));
  return parts.filter((p) => p !== '').join(' ');
}

async function runAll(opts: SidecarBenchOptions, tools: Tools): Promise<number> {
  const startedAt = new Date();
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-lambda-sidecar-bench-sidecar-'));
  const pin = opts.pin && tools.taskset !== undefined && os.cpus().length >= 2;
  const results: SidecarBenchResults = {
    kind: opts.quick ? 'sidecar-only-quick' : 'sidecar-only',
    startedAt: startedAt.toISOString(),
    command: `npm run bench:sidecar${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machineInfo(),
    source: sourceInfo(),
    tools: {
      nginx: versionLine(tools.nginx, ['-v'], /nginx\/\S+/),
      wrk: versionLine(tools.wrk, ['-v'], /wrk \S+/),
      h2load: versionLine(tools.h2load, ['--version'], /nghttp2\/\S+/),
    },
    settings: {
      rounds: opts.rounds, durationS: opts.durationS, warmupS: opts.quick ? QUICK_WARMUP_S : WARMUP_S,
      requestBodyBytes: REQUEST_BODY_BYTES, responseBytes: { small: Buffer.byteLength(SMALL_RESPONSE_BODY), large: LARGE_RESPONSE_BYTES },
    },
    pinning: pin
      ? `sidecar on CPU ${SIDECAR_CPU}; load tool and function nginx on CPU ${LOAD_CPU} (taskset)`
      : `not pinned (${!opts.pin ? '--no-pin' : tools.taskset === undefined ? 'no taskset' : 'one CPU'}): the load tool shares the sidecar's cores`,
    variants: [],
    runs: [],
  };
  const stamp = timestamp(startedAt);
  const jsonFile = path.join(RESULTS_DIR, `${stamp}-sidecar${opts.quick ? '-quick' : ''}.json`);
  const variants: Variant[] = [];
  const write = (): void => {
    results.finishedAt = new Date().toISOString();
    results.machine.loadAvgEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
    results.variants.forEach((v, i) => {
      v.sidecarLog = variants[i]?.sidecar.logSummary();
    });
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  };
  onInterrupt = () => {
    results.failure = 'interrupted (SIGINT/SIGTERM)';
    write();
  };

  log(`aws-lambda-sidecar bench:sidecar${opts.quick ? ' (quick)' : ''}: ${opts.rounds} round(s) × ${opts.durationS} s per load`);
  log(`  ${results.machine.nproc} cores, ${results.machine.cpuModel}; load average ${results.machine.loadAvgStart.join(' ')}`);
  log(`  pinning: ${results.pinning}`);
  let exitCode = 0;
  try {
    const largeBody = writeRequestBody(tempDir);
    const grpcBodies = writeExtProcBodies(tempDir, largeBody.body);
    const fnPort = await freePort();
    const fn = await startNginx(tools.nginx, 'function-nginx', tempDir, fnPort, (prefix) => functionNginxConf(prefix, fnPort), FUNCTION_PATHS.small);
    if (pin) pinTree(tools.taskset as string, fn.pid, LOAD_CPU);
    for (const checkout of opts.checkouts?.map((dir) => path.resolve(dir)) ?? [undefined]) {
      for (const node of opts.nodes) {
        const version = nodeVersion(node);
        for (const extraArgs of opts.sidecarArgs) {
          const name = variantName(checkout, version, extraArgs, opts.nodes.length, opts.sidecarArgs.length);
          const profileDir = opts.cpuProfDir === undefined ? undefined : path.resolve(opts.cpuProfDir, String(variants.length));
          const nodeArgs = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
          const sidecar = await startBenchSidecar(`sidecar-${variants.length}`, tempDir, fnPort, 0, 0, { node, checkout, nodeArgs, extraArgs });
          if (pin) pinTree(tools.taskset as string, sidecar.pid, SIDECAR_CPU);
          variants.push({ name, sidecar, profileDir });
          results.variants.push({ name, node, nodeVersion: version, checkout, extraArgs });
          log(`  variant "${name}": ${node}${checkout === undefined ? '' : ` ${checkout}/dist/cli.js`}${extraArgs.length > 0 ? ` ${extraArgs.join(' ')}` : ''} (pid ${sidecar.pid})`);
        }
      }
    }
    const ctx: Context = { tools, opts, results, fn, tempDir, largeBody, grpcBodies, loadCpus: pin ? LOAD_CPU : undefined, warmupS: results.settings.warmupS };
    const loads = LOADS.filter((l) => opts.loads.includes(l.id));
    const total = opts.rounds * opts.payloads.length * loads.length * variants.length;
    log(`  ${total} runs, about ${Math.ceil((total * (opts.durationS + ctx.warmupS + 1)) / 60)} minute(s)\n`);
    for (let round = 1; round <= opts.rounds; round++) {
      for (const payload of opts.payloads) {
        for (const load of loads) {
          for (const variant of variants) {
            const run = await measureCell(ctx, variant, load, payload, round);
            results.runs.push(run);
            log(describeRun(run, results.runs.length, total));
          }
        }
      }
    }
    if (results.runs.some((r) => r.failure !== undefined)) {
      results.failure = 'some runs failed their checks (see the runs marked FAILED)';
      exitCode = 1;
    }
  } catch (err) {
    results.failure = (err as Error).message;
    exitCode = 1;
    log(`\nbench:sidecar failed: ${(err as Error).message}`);
  } finally {
    onInterrupt = undefined;
  }
  write();
  await stopEverything();
  if (exitCode !== 0 || opts.keepTemp) log(`temp dir kept: ${tempDir}`);
  else fs.rmSync(tempDir, { recursive: true, force: true });

  log(`\nraw results: ${jsonFile}`);
  const partial = opts.loads.length < LOADS.length || opts.payloads.length < PAYLOADS.length || opts.cpuProfDir !== undefined;
  if (!opts.quick && !partial && results.failure === undefined) {
    fs.writeFileSync(SIDECAR_RESULTS_MD, renderSidecarResults(results, path.relative(path.dirname(SIDECAR_RESULTS_MD), jsonFile)));
    log(`rewrote ${SIDECAR_RESULTS_MD}`);
  } else {
    log(`(${opts.quick ? 'quick' : partial ? 'partial or profiled' : 'failed'} run: bench/SIDECAR-RESULTS.md left as it was)`);
  }
  log(`pinning: ${results.pinning}\n\n${cellTable(sidecarCells(results.runs))}`);
  for (const variant of variants) if (variant.profileDir !== undefined) log(profileReport(variant, results.runs));
  return exitCode;
}

/**
 * Where a profiled sidecar's CPU went: its profile (written when it exited) by component, in µs per
 * request at the median CPU per request of its runs. That CPU includes the profiler's own sampling,
 * so compare the shares, and take µs from an unprofiled run.
 */
function profileReport(variant: Variant, runs: readonly SidecarRun[]): string {
  const dir = variant.profileDir as string;
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) return `\nno CPU profile for "${variant.name}" in ${dir} (the sidecar did not exit cleanly?)`;
  const file = path.join(dir, files.sort().at(-1) as string);
  const own = runs.filter((r) => r.variant === variant.name && r.failure === undefined).map((r) => r.cpuUsPerRequest);
  const perRequest = own.length === 0 ? undefined : Math.round(median(own));
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const flame = path.join(dir, 'flame.svg');
  fs.writeFileSync(flame, flameSvg(flameTree(profile), `${variant.name}: ${[...new Set(runs.map((r) => `${r.load} ${r.payload}`))].join(', ')}`));
  return [
    `\nCPU profile of "${variant.name}" (${file}; flame graph ${flame})${perRequest === undefined ? '' : `, at ${perRequest} µs per request (profiled; the profiler's sampling included)`}:`,
    summaryTable(summarize(profile), perRequest),
  ].join('\n');
}

let onInterrupt: (() => void) | undefined;

function onSignal(signal: NodeJS.Signals): void {
  log(`\n${signal}: stopping every process the bench started`);
  onInterrupt?.();
  void stopEverything().finally(() => process.exit(130));
}

async function main(): Promise<number> {
  let opts: SidecarBenchOptions;
  try {
    opts = parseSidecarBenchOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`npm run bench:sidecar: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let tools: Tools;
  try {
    tools = { nginx: requireTool('nginx'), wrk: requireTool('wrk'), h2load: requireTool('h2load'), taskset: findBinary('taskset') };
  } catch (err) {
    process.stderr.write(`npm run bench:sidecar: ${(err as Error).message}\n`);
    return 2;
  }
  linkBuildProtos();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runAll(opts, tools);
  } finally {
    await stopEverything();
  }
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`npm run bench:sidecar: ${(err as Error).stack ?? String(err)}\n`);
    await stopEverything();
    process.exit(1);
  },
);

/**
 * `npm run bench -- --soak`: a steady moderate rate through envoy-ext_proc for 10 minutes (h2load
 * HTTP/1.1, one 60 s segment per minute so each minute has its own counts and percentiles), the
 * sidecar's RSS at the start, after every minute and at the end, its growth, and every error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aggregate, cellKey } from './aggregate';
import { clockTicksPerSecond, machineInfo, sourceInfo } from './machine';
import { runH2load } from './load-h2load';
import { measure, MeasureContext } from './measure';
import { BenchOptions, DEFAULT_SOAK_MINUTES, MODERATE_RATE_FRACTION, settingsFor } from './options';
import { latestFull, RESULTS_MD, timestamp, writeJson, writeReport } from './output-files';
import { UsageSampler, rssMb, round } from './proc-usage';
import { stopEverything } from '../test/e2e/support/processes';
import type { RunRecord, SoakResults } from './results';
import { selectSetups, startEnvironment, BenchEnvironment } from './setups';
import { toolVersions, ToolPaths } from './tools';
import { verifySetup } from './verify';
import { writeRequestBody } from './request-body';

const SOAK_CONNECTIONS = 64;
const SOAK_WARMUP_S = 30;
const MINUTE_S = 60;
const RATE_PROBE_WARMUP_S = 3;
const RATE_PROBE_S = 10;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function runSoak(opts: BenchOptions, tools: ToolPaths, setInterruptHandler: (handler: (() => Promise<void>) | undefined) => void): Promise<number> {
  const startedAt = new Date();
  const needNative = opts.rate === undefined;
  const selection = selectSetups(needNative ? ['envoy-native', 'envoy-ext_proc'] : ['envoy-ext_proc'], undefined, undefined);
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-lambda-sidecar-soak-'));
  const soak: SoakResults = {
    kind: 'soak',
    startedAt: startedAt.toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    machine: machineInfo(),
    versions: toolVersions(tools),
    source: sourceInfo(),
    minutesPlanned: opts.soakMinutes,
    targetRps: opts.rate ?? 0,
    rateReference: opts.rate === undefined ? `${MODERATE_RATE_FRACTION * 100}% of envoy-native's maximum at 64 connections (measured first, ${RATE_PROBE_S} s)` : 'the --rate option',
    connections: SOAK_CONNECTIONS,
    minutes: [],
    totalErrors: 0,
  };
  const jsonName = `${timestamp(startedAt)}-soak.json`;
  let env: BenchEnvironment | undefined;
  let exitCode = 0;
  // The rate probe's runs (measure() records every run somewhere).
  const scratch: { runs: RunRecord[] } = { runs: [] };

  const finish = async (): Promise<string> => {
    const sidecar = env?.setups.get('envoy-ext_proc')?.sidecar;
    if (sidecar !== undefined) soak.sidecarLog = sidecar.logSummary();
    await stopEverything();
    soak.finishedAt = new Date().toISOString();
    soak.machine.loadAvgEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
    return writeJson(jsonName, soak);
  };
  setInterruptHandler(async () => {
    soak.failure = 'interrupted (SIGINT/SIGTERM)';
    const file = await finish();
    if (!opts.keepTemp) fs.rmSync(tempDir, { recursive: true, force: true });
    log(`\ninterrupted: partial soak results in ${file}`);
  });

  log(`aws-lambda-sidecar soak: ${opts.soakMinutes} minute(s) through envoy-ext_proc at a steady rate`);
  try {
    const { file: bodyFile, body } = writeRequestBody(tempDir);
    env = await startEnvironment(tools, tempDir, selection.selected, { extAuthz: undefined, nginx: undefined });
    for (const name of selection.selected) {
      const handle = env.setups.get(name);
      if (handle === undefined) continue;
      for (const r of await verifySetup(handle, body)) {
        log(`  ${r.ok ? 'ok    ' : 'FAILED'} ${name.padEnd(15)} ${r.check}: ${r.detail}`);
        if (!r.ok) throw new Error(`verification failed: ${name} ${r.check}`);
      }
    }
    const ext = env.setups.get('envoy-ext_proc');
    if (ext?.sidecar === undefined) throw new Error('envoy-ext_proc did not start');
    const sidecar = ext.sidecar;
    const ctx: MeasureContext = {
      tools,
      results: scratch,
      ticksPerSecond: clockTicksPerSecond(),
      bodyFile,
      tempDir,
      wrkThreads: settingsFor(false, 2).wrkThreads,
      wrkTimeoutS: settingsFor(false, 2).wrkTimeoutS,
      shared: [env.function],
      report: (r) => log(`  rate probe ${r.setup} c${r.connections}${r.warmup ? ' (warm-up)' : ''}: ${Math.round(r.result.rps)} req/s, ${r.result.errors.total} errors`),
    };

    let rate = opts.rate;
    if (rate === undefined) {
      const native = env.setups.get('envoy-native');
      if (native === undefined) throw new Error('envoy-native did not start');
      const base = { phase: 'throughput' as const, payload: 'small' as const, connections: 64, round: 1, load: { kind: 'wrk' as const } };
      await measure(ctx, native, { ...base, warmup: true, durationS: RATE_PROBE_WARMUP_S });
      await measure(ctx, native, { ...base, warmup: false, durationS: RATE_PROBE_S });
      const cell = aggregate(scratch.runs).get(cellKey('throughput', 'envoy-native', 'small', 64));
      rate = Math.max(1, Math.round((cell?.rps ?? 0) * MODERATE_RATE_FRACTION));
      // envoy-native is no longer needed: stop it so it does not share the machine during the soak.
      await native.envoy?.stop();
    }
    soak.targetRps = rate;
    const url = `http://127.0.0.1:${ext.port}${ext.paths.small}`;
    const segment = (durationS: number, label: string) =>
      runH2load(tools.h2load, {
        url, clients: SOAK_CONNECTIONS, streams: 1, http1: true, totalRps: rate, durationS, warmupS: 0, bodyFile: undefined,
        logFile: path.join(tempDir, `soak-${label}.log`),
      });

    log(`\n== warm-up: ${SOAK_WARMUP_S} s at ${rate} req/s (not counted)`);
    const warm = await segment(SOAK_WARMUP_S, 'warmup');
    soak.totalErrors += warm.errors.total;
    soak.rssStartMb = rssMb(sidecar.pid);
    log(`   sidecar RSS at the start: ${soak.rssStartMb} MB (warm-up errors: ${warm.errors.total})`);

    for (let minute = 1; minute <= opts.soakMinutes; minute++) {
      if (!sidecar.running()) throw new Error(`the sidecar exited during minute ${minute}:\n${sidecar.tail(40)}`);
      const sampler = new UsageSampler([{ role: 'sidecar', pid: sidecar.pid }], ctx.ticksPerSecond);
      const result = await segment(MINUTE_S, `m${minute}`);
      const usage = sampler.stop();
      if (!sidecar.running()) throw new Error(`the sidecar exited during minute ${minute}:\n${sidecar.tail(40)}`);
      const me = usage.processes[0];
      const entry = {
        minute,
        requests: result.requests,
        rps: result.rps,
        errors: result.errors.total,
        latencyMs: result.latencyMs,
        sidecarRssMb: rssMb(sidecar.pid),
        sidecarRssPeakMb: me?.rssPeakMb ?? 0,
        sidecarCpuPercent: me?.cpuPercent ?? 0,
      };
      soak.minutes.push(entry);
      soak.totalErrors += entry.errors;
      log(
        `   minute ${String(minute).padStart(2)}: ${Math.round(entry.rps)} req/s, ${entry.errors} errors, p50 ${entry.latencyMs.p50} p99 ${entry.latencyMs.p99} ms, ` +
          `sidecar RSS ${entry.sidecarRssMb} MB (peak ${entry.sidecarRssPeakMb}), CPU ${entry.sidecarCpuPercent}%` +
          (entry.errors > 0 ? ` — ${result.errors.detail}` : ''),
      );
    }
    soak.rssEndMb = soak.minutes[soak.minutes.length - 1]?.sidecarRssMb;
    if (soak.rssStartMb !== undefined && soak.rssEndMb !== undefined && soak.rssStartMb > 0) {
      soak.growthPercent = round(((soak.rssEndMb - soak.rssStartMb) / soak.rssStartMb) * 100, 2);
    }
  } catch (err) {
    soak.failure = (err as Error).message;
    exitCode = 1;
    log(`\nsoak failed: ${soak.failure}`);
  } finally {
    setInterruptHandler(undefined);
  }
  const file = await finish();
  if (exitCode !== 0 || opts.keepTemp) log(`temp dir kept: ${tempDir}`);
  else fs.rmSync(tempDir, { recursive: true, force: true });

  log(`\nraw results: ${file}`);
  log(
    `sidecar RSS ${soak.rssStartMb ?? '–'} MB → ${soak.rssEndMb ?? '–'} MB: growth ${soak.growthPercent ?? '–'}% (target ≤ 5%), ` +
      `${soak.totalErrors} errors (target 0), ${soak.sidecarLog?.warnings ?? 0} sidecar warnings, ${soak.sidecarLog?.errors ?? 0} sidecar errors`,
  );
  for (const line of soak.sidecarLog?.firstProblems ?? []) log(`   ${line}`);
  if (soak.failure === undefined && soak.minutesPlanned >= DEFAULT_SOAK_MINUTES) {
    const full = latestFull();
    if (full !== undefined) {
      writeReport(full.value, full.file, soak);
      log(`rewrote ${RESULTS_MD} (newest full run + this soak)`);
    }
  } else if (soak.minutesPlanned < DEFAULT_SOAK_MINUTES) {
    log(`(a ${soak.minutesPlanned}-minute soak is a smoke check: RESULTS.md only takes ${DEFAULT_SOAK_MINUTES}-minute soaks)`);
  }
  return exitCode;
}

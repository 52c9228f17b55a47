/**
 * `npm run bench -- [--quick | --soak] [--only a,b] ...` → options, and the durations each mode uses.
 */
import { BenchSettings, PAYLOADS, SETUP_NAMES, SetupName } from './results';
import { ENVOY_CONCURRENCY } from '../test/e2e/support/processes';
import { LARGE_RESPONSE_BYTES, SMALL_RESPONSE_BODY } from './nginx';
import { BENCH_KEEPALIVE_POOL } from './sidecar';
import { REQUEST_BODY_BYTES } from './request-body';

export const DEFAULT_SOAK_MINUTES = 10;
/** Fraction of envoy-native's maximum (64 connections) used as the "moderate" rate. */
export const MODERATE_RATE_FRACTION = 0.5;
/** Default run: the throughput phase gets about this long, whatever the number of setups. */
const THROUGHPUT_BUDGET_S = 420;

export interface BenchOptions {
  /** render: no load, rewrite RESULTS.md and the chart from the newest full results JSON. */
  readonly mode: 'full' | 'quick' | 'soak' | 'render';
  /** Setups asked for with --only (undefined: every available one). */
  readonly only: readonly SetupName[] | undefined;
  readonly soakMinutes: number;
  /** Overrides the moderate rate (requests/s) of soak and latency runs. */
  readonly rate: number | undefined;
  readonly extAuthzConfig: string | undefined;
  readonly nginxConfig: string | undefined;
  readonly keepTemp: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  (no option)            full run, all setups interleaved (about 10-15 minutes); rewrites
                         bench/RESULTS.md and bench/results/chart.svg
  --quick                short smoke run (about a minute); results JSON only, RESULTS.md untouched
  --soak                 ${DEFAULT_SOAK_MINUTES} minutes at a steady moderate rate through envoy-ext_proc:
                         sidecar RSS every minute, growth %, errors
  --soak-minutes <n>     soak length (default ${DEFAULT_SOAK_MINUTES}; shorter soaks are not used for the target)
  --render               no load: rewrite RESULTS.md and chart.svg from the newest full results JSON
                         (after a change to the report's layout)
  --only <a,b,...>       only these setups: ${SETUP_NAMES.join(', ')}
                         (RESULTS.md is only rewritten by a full run of every setup)
  --rate <req/s>         fixed rate for latency and soak runs instead of 50% of envoy-native's max
  --ext-authz-config <f> Envoy config for envoy-ext_authz (default envoy/envoy-ext-authz.yaml, if present)
  --nginx-config <f>     nginx config for nginx-http (default nginx/aws-lambda.conf, if present)
  --keep-temp            keep the temp directory (rendered configs, logs)
  --help                 this text
`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  let mode: BenchOptions['mode'] = 'full';
  let only: SetupName[] | undefined;
  let soakMinutes = DEFAULT_SOAK_MINUTES;
  let rate: number | undefined;
  let extAuthzConfig: string | undefined;
  let nginxConfig: string | undefined;
  let keepTemp = false;
  let help = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--quick':
      case '--soak':
      case '--render': {
        const wanted = arg === '--quick' ? 'quick' : arg === '--soak' ? 'soak' : 'render';
        if (mode !== 'full' && mode !== wanted) throw new Error('--quick, --soak and --render cannot be combined');
        mode = wanted;
        break;
      }
      case '--only': {
        const names = value(i++, arg).split(',').map((s) => s.trim()).filter((s) => s !== '');
        const unknown = names.filter((n) => !(SETUP_NAMES as readonly string[]).includes(n));
        if (unknown.length > 0 || names.length === 0) throw new Error(`--only: unknown setup "${unknown.join(',')}" (known: ${SETUP_NAMES.join(', ')})`);
        only = names as SetupName[];
        break;
      }
      case '--soak-minutes':
        soakMinutes = Number(value(i++, arg));
        if (!Number.isInteger(soakMinutes) || soakMinutes < 1 || soakMinutes > 120) throw new Error('--soak-minutes: a whole number from 1 to 120');
        break;
      case '--rate':
        rate = Number(value(i++, arg));
        if (!Number.isFinite(rate) || rate <= 0) throw new Error('--rate: requests per second, a positive number');
        break;
      case '--ext-authz-config':
        extAuthzConfig = value(i++, arg);
        break;
      case '--nginx-config':
        nginxConfig = value(i++, arg);
        break;
      case '--keep-temp':
        keepTemp = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new Error(`unknown argument "${arg}"`);
    }
  }
  return { mode, only, soakMinutes, rate, extAuthzConfig, nginxConfig, keepTemp, help };
}

/** Durations and counts for a run over `setupCount` setups. */
export function settingsFor(quick: boolean, setupCount: number): BenchSettings {
  const common = {
    quick,
    wrkThreads: 2,
    wrkTimeoutS: 10,
    rateConnections: 64,
    h2Connections: 16,
    h2Streams: 4,
    requestBodyBytes: REQUEST_BODY_BYTES,
    responseBytes: { small: Buffer.byteLength(SMALL_RESPONSE_BODY), large: LARGE_RESPONSE_BYTES },
    envoyConcurrency: ENVOY_CONCURRENCY,
    keepalivePool: BENCH_KEEPALIVE_POOL,
  };
  if (quick) {
    // A smoke check of every phase in about a minute: 64 connections only, small payloads for the
    // fixed-rate and HTTP/2 phases, 1-2 s runs. Its numbers are not for comparing.
    return {
      ...common, connections: [64], ratePayloads: ['small'], h2Payloads: ['small'],
      rounds: 1, rateRounds: 1, h2Rounds: 1, warmupS: 1, durationS: 2, rateDurationS: 2, rateWarmupS: 1, c1000DurationS: 3, h2DurationS: 2,
    };
  }
  const warmupS = 2;
  const durationS = 8;
  const connections = [16, 64];
  const cells = setupCount * PAYLOADS.length * connections.length;
  const rounds = Math.max(2, Math.min(3, Math.floor(THROUGHPUT_BUDGET_S / (cells * (warmupS + durationS)))));
  return {
    ...common,
    connections,
    ratePayloads: PAYLOADS,
    h2Payloads: PAYLOADS,
    rounds,
    rateRounds: setupCount > 3 ? 1 : 2,
    h2Rounds: 2,
    warmupS,
    durationS,
    rateDurationS: 10,
    rateWarmupS: 2,
    c1000DurationS: 15,
    h2DurationS: 8,
  };
}

/** Rough wall time of a run, for the banner. */
export function estimateSeconds(s: BenchSettings, setupCount: number, h2Setups: number): number {
  const overheadS = 0.5;
  const throughput = s.rounds * setupCount * PAYLOADS.length * s.connections.length * (s.warmupS + s.durationS + 2 * overheadS);
  const rate = s.rateRounds * setupCount * s.ratePayloads.length * (s.rateWarmupS + s.rateDurationS + overheadS);
  const c1000 = s.warmupS + s.c1000DurationS + 2 * overheadS;
  const h2 = s.h2Rounds * h2Setups * s.h2Payloads.length * (s.warmupS + s.h2DurationS + overheadS);
  return Math.round(throughput + rate + c1000 + h2 + 15);
}

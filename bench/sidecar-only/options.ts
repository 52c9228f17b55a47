import { PAYLOADS, type PayloadName } from '../results';
import { LOADS, type LoadId } from './results';

/**
 * `npm run bench:sidecar -- [--quick] [--rounds n] [--duration s] [--node a,b] [--checkout dir,dir] [--sidecar-args "..."]`.
 */
export const DEFAULT_ROUNDS = 3;
export const DEFAULT_DURATION_S = 10;
const QUICK_DURATION_S = 2;
const MAX_ROUNDS = 20;
const MAX_DURATION_S = 600;

export interface SidecarBenchOptions {
  readonly quick: boolean;
  readonly rounds: number;
  readonly durationS: number;
  /** Node binaries to run the sidecar on (default: the one running the bench). */
  readonly nodes: readonly string[];
  /**
   * Checkouts whose built dist/cli.js to run (undefined: this repository only): an earlier commit's
   * worktree gives before/after numbers from one interleaved run.
   */
  readonly checkouts: readonly string[] | undefined;
  /** One entry per --sidecar-args: each is a variant of extra sidecar flags ([] = none). */
  readonly sidecarArgs: ReadonlyArray<readonly string[]>;
  /** Pin the sidecar and the load tool to different CPUs when the machine allows (--no-pin: never). */
  readonly pin: boolean;
  /** Loads and payloads to run (default: all); a subset leaves SIDECAR-RESULTS.md as it was. */
  readonly loads: readonly LoadId[];
  readonly payloads: readonly PayloadName[];
  /** Run each sidecar under `node --cpu-prof`, its profile in <dir>/<variant number>/ (SIDECAR-RESULTS.md left as it was). */
  readonly cpuProfDir: string | undefined;
  readonly keepTemp: boolean;
  readonly help: boolean;
}

/**
 * Sidecar flags the bench sets itself or relies on: its routes file and listeners, the info-level
 * "listening" line it reads the ports from, and the metrics every run is checked against.
 */
const RESERVED_SIDECAR_FLAGS = ['--config', '--store', '--grpc-listen', '--http-listen', '--log-level', '--metrics'] as const;

export const USAGE = `Usage: npm run bench:sidecar -- [options]

  (no option)              ${DEFAULT_ROUNDS} rounds x ${DEFAULT_DURATION_S} s per load, interleaved; rewrites bench/SIDECAR-RESULTS.md
  --quick                  1 round x ${QUICK_DURATION_S} s: a smoke check; results JSON only
  --rounds <n>             rounds (1-${MAX_ROUNDS}); the median over rounds is reported
  --duration <s>           seconds per measured run (1-${MAX_DURATION_S})
  --node <path[,path...]>  run the sidecar on these node binaries, interleaved (default: this node)
  --checkout <dir[,dir...]> run the sidecar built in these checkouts (their dist/cli.js), interleaved, e.g. a
                           \`git worktree\` of an earlier commit for before/after numbers (default: this one)
  --sidecar-args "<flags>" extra sidecar flags, e.g. "--max-inflight-requests 2000"; give it several times to compare
                           variants (an empty string is the plain sidecar); not ${RESERVED_SIDECAR_FLAGS.join(', ')}
  --no-pin                 do not pin the sidecar (CPU 0) and the load tool and function (CPU 1) apart:
                           on a machine shared with other work, pinning keeps the sidecar off a free core
  --load <id[,id...]>      only these loads: ${LOADS.map((l) => `"${l.id}"`).join(', ')}
  --payload <small|large>  only this payload
  --cpu-prof <dir>         run each sidecar under node --cpu-prof (profile in <dir>/<variant>/) and print where
                           its CPU went, by component (bench/profile/summary.ts); best with one --load and --payload
  --keep-temp              keep the temp directory (routes file, gRPC bodies, nginx config and logs)
  --help                   this text
`;

/** Splits a flag string on whitespace; quotes are not interpreted (no sidecar flag value needs a space). */
function splitFlags(text: string): string[] {
  const flags = text.split(/\s+/).filter((s) => s !== '');
  const reserved = flags.find((f) => RESERVED_SIDECAR_FLAGS.some((r) => f === r || f.startsWith(`${r}=`)));
  if (reserved !== undefined) {
    throw new Error(`--sidecar-args: ${reserved} is set by the bench (${RESERVED_SIDECAR_FLAGS.join(', ')}: the routes, the listeners and their "listening" log line, the /metrics every run is checked against)`);
  }
  return flags;
}

export function parseSidecarBenchOptions(argv: readonly string[]): SidecarBenchOptions {
  let quick = false;
  let rounds: number | undefined;
  let durationS: number | undefined;
  let nodes: string[] = [process.execPath];
  let checkouts: string[] | undefined;
  const sidecarArgs: string[][] = [];
  let pin = true;
  let loads: LoadId[] = LOADS.map((l) => l.id);
  let payloads: PayloadName[] = [...PAYLOADS];
  let cpuProfDir: string | undefined;
  let keepTemp = false;
  let help = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || (v.startsWith('--') && flag !== '--sidecar-args')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const wholeNumber = (text: string, flag: string, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag}: a whole number from 1 to ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--rounds':
        rounds = wholeNumber(value(i++, arg), arg, MAX_ROUNDS);
        break;
      case '--duration':
        durationS = wholeNumber(value(i++, arg), arg, MAX_DURATION_S);
        break;
      case '--node':
        nodes = value(i++, arg).split(',').map((s) => s.trim()).filter((s) => s !== '');
        if (nodes.length === 0) throw new Error('--node: one or more node binaries, comma-separated');
        break;
      case '--checkout':
        checkouts = value(i++, arg).split(',').map((s) => s.trim()).filter((s) => s !== '');
        if (checkouts.length === 0) throw new Error('--checkout: one or more checkout folders, comma-separated');
        break;
      case '--sidecar-args':
        sidecarArgs.push(splitFlags(value(i++, arg)));
        break;
      case '--no-pin':
        pin = false;
        break;
      case '--load': {
        const ids = value(i++, arg).split(',').map((s) => s.trim()).filter((s) => s !== '');
        const unknown = ids.find((id) => !LOADS.some((l) => l.id === id));
        if (ids.length === 0 || unknown !== undefined) throw new Error(`--load: one or more of ${LOADS.map((l) => `"${l.id}"`).join(', ')}, comma-separated${unknown === undefined ? '' : ` (not "${unknown}")`}`);
        loads = LOADS.map((l) => l.id).filter((id) => ids.includes(id));
        break;
      }
      case '--payload': {
        const payload = value(i++, arg);
        if (!(PAYLOADS as readonly string[]).includes(payload)) throw new Error(`--payload: ${PAYLOADS.join(' or ')}`);
        payloads = [payload as PayloadName];
        break;
      }
      case '--cpu-prof':
        cpuProfDir = value(i++, arg);
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
  return {
    quick,
    rounds: rounds ?? (quick ? 1 : DEFAULT_ROUNDS),
    durationS: durationS ?? (quick ? QUICK_DURATION_S : DEFAULT_DURATION_S),
    nodes,
    checkouts,
    sidecarArgs: sidecarArgs.length === 0 ? [[]] : sidecarArgs,
    pin,
    loads,
    payloads,
    cpuProfDir,
    keepTemp,
    help,
  };
}

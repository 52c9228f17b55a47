/**
 * `npm run bench:micro -- [--filter <name>] [--rounds <n>]`: ns/op of the sidecar's hot helpers
 * (bench/micro/cases.ts), median of rounds after a warm-up. See bench/README.md "Micro-benchmarks".
 */
import { linkBuildProtos } from '../build-protos';
import { microCases } from './cases';
import { DEFAULT_MICRO_ROUNDS, microTable, runCase, type MicroResult } from './runner';

const USAGE = `Usage: npm run bench:micro -- [--filter <text>] [--rounds <n>]

  --filter <text>  only the cases whose name contains <text>
  --rounds <n>     timed rounds per case after the warm-up (default ${DEFAULT_MICRO_ROUNDS}); the median is shown
  --help           this text
`;
const MAX_ROUNDS = 100;

function parse(argv: readonly string[]): { filter: string | undefined; rounds: number; help: boolean } {
  let filter: string | undefined;
  let rounds = DEFAULT_MICRO_ROUNDS;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv[i + 1];
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--filter' && next !== undefined) filter = argv[++i];
    else if (arg === '--rounds' && next !== undefined) {
      rounds = Number(argv[++i]);
      if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw new Error(`--rounds: a whole number from 1 to ${MAX_ROUNDS}`);
    } else throw new Error(`unknown or incomplete argument "${arg}"`);
  }
  return { filter, rounds, help };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`npm run bench:micro: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  linkBuildProtos();
  const fixture = microCases();
  const cases = fixture.cases.filter((c) => opts.filter === undefined || c.name.includes(opts.filter));
  if (cases.length === 0) {
    process.stderr.write(`npm run bench:micro: no case matches "${opts.filter}" (cases: ${fixture.cases.map((c) => c.name).join(', ')})\n`);
    await fixture.close();
    return 2;
  }
  process.stdout.write(`bench:micro on node ${process.version}: ${cases.length} case(s), ${opts.rounds} rounds each after a warm-up\n`);
  const results: MicroResult[] = [];
  for (const c of cases) {
    const r = await runCase(c, opts.rounds);
    results.push(r);
    process.stdout.write(`  ${r.name.padEnd(22)} ${String(r.nsPerOp).padStart(9)} ns/op  spread ${r.spreadPercent}%\n`);
  }
  await fixture.close();
  process.stdout.write(`\n${microTable(results)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm run bench:micro: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

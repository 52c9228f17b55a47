// bench:sidecar's variants: several --node binaries and --sidecar-args sets are crossed; flags the
// bench sets itself (routes, listeners, the /metrics it checks every run against) are refused.
import { parseSidecarBenchOptions } from '../../../bench/sidecar-only/options';

it('defaults to one variant on this node, 3 rounds of 10 s; --quick to 1 round of 2 s', () => {
  expect(parseSidecarBenchOptions([])).toMatchObject({ nodes: [process.execPath], sidecarArgs: [[]], rounds: 3, durationS: 10, quick: false, pin: true });
  expect(parseSidecarBenchOptions(['--no-pin']).pin).toBe(false);
  expect(parseSidecarBenchOptions(['--quick'])).toMatchObject({ rounds: 1, durationS: 2, quick: true });
});

it('takes comma-separated nodes and one flag set per --sidecar-args, even one starting with --', () => {
  const opts = parseSidecarBenchOptions(['--node', '/a/node, /b/node', '--sidecar-args', '', '--sidecar-args', '--max-inflight-requests 2000', '--rounds', '5']);
  expect(opts.nodes).toEqual(['/a/node', '/b/node']);
  expect(opts.sidecarArgs).toEqual([[], ['--max-inflight-requests', '2000']]);
  expect(opts.rounds).toBe(5);
  expect(opts.checkouts).toBeUndefined();
});

it('takes comma-separated checkouts to compare builds (an earlier commit\'s worktree: before/after in one run)', () => {
  expect(parseSidecarBenchOptions(['--checkout', '/work/base, .']).checkouts).toEqual(['/work/base', '.']);
  expect(() => parseSidecarBenchOptions(['--checkout', ' , '])).toThrow(/--checkout: one or more checkout folders/);
  expect(() => parseSidecarBenchOptions(['--checkout'])).toThrow(/--checkout needs a value/);
});

it('refuses flags the bench sets or checks, and bad numbers', () => {
  expect(() => parseSidecarBenchOptions(['--sidecar-args', '--metrics off'])).toThrow(/--metrics is set by the bench/);
  expect(() => parseSidecarBenchOptions(['--sidecar-args', '--http-listen=127.0.0.1:1'])).toThrow(/--http-listen=127.0.0.1:1 is set by the bench/);
  expect(() => parseSidecarBenchOptions(['--sidecar-args', '--log-level warn'])).toThrow(/--log-level is set by the bench/);
  expect(() => parseSidecarBenchOptions(['--rounds', '0'])).toThrow(/--rounds: a whole number from 1 to 20/);
  expect(() => parseSidecarBenchOptions(['--duration'])).toThrow(/--duration needs a value/);
  expect(() => parseSidecarBenchOptions(['--workers', '2'])).toThrow(/unknown argument "--workers"/);
});

it('runs a subset of loads and payloads, and profiles on request', () => {
  const all = parseSidecarBenchOptions([]);
  expect(all.loads).toEqual(['ext_proc -c1 -m64', 'ext_proc -c4 -m16', 'http -c64']);
  expect(all.payloads).toEqual(['small', 'large']);
  expect(all.cpuProfDir).toBeUndefined();
  const some = parseSidecarBenchOptions(['--load', 'http -c64,ext_proc -c1 -m64', '--payload', 'small', '--cpu-prof', '/tmp/p']);
  // In the table's order, whatever order they were given in.
  expect(some.loads).toEqual(['ext_proc -c1 -m64', 'http -c64']);
  expect(some.payloads).toEqual(['small']);
  expect(some.cpuProfDir).toBe('/tmp/p');
  expect(() => parseSidecarBenchOptions(['--load', 'ext_proc'])).toThrow(/--load: one or more of "ext_proc -c1 -m64".*\(not "ext_proc"\)/);
  expect(() => parseSidecarBenchOptions(['--payload', 'huge'])).toThrow(/--payload: small or large/);
});

/**
 * Where results go: bench/results/<timestamp>[-quick|-partial|-soak].json (raw), and for full runs
 * bench/RESULTS.md and bench/results/chart.svg (rendered from the raw JSON alone).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { aggregate, cellKey } from './aggregate';
import { barChartSvg, ChartPanel } from './chart-svg';
import { DEFAULT_SOAK_MINUTES } from './options';
import { REPO_ROOT } from '../test/e2e/support/processes';
import { renderResultsMarkdown } from './report-markdown';
import type { BenchResults, SoakResults } from './results';
import { PAYLOADS } from './results';

export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
export const RESULTS_MD = path.join(REPO_ROOT, 'bench', 'RESULTS.md');
export const CHART_SVG = path.join(RESULTS_DIR, 'chart.svg');

export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

export function writeJson(name: string, value: BenchResults | SoakResults): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, name);
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

function readAll(): Array<{ file: string; value: BenchResults | SoakResults }> {
  if (!fs.existsSync(RESULTS_DIR)) return [];
  const out: Array<{ file: string; value: BenchResults | SoakResults }> = [];
  for (const name of fs.readdirSync(RESULTS_DIR).filter((n) => n.endsWith('.json')).sort()) {
    try {
      out.push({ file: path.join(RESULTS_DIR, name), value: JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, name), 'utf8')) as BenchResults | SoakResults });
    } catch {
      // not ours, or cut short: ignore
    }
  }
  return out;
}

/** The newest soak of full length that finished. */
export function latestSoak(): SoakResults | undefined {
  const soaks = readAll()
    .map((x) => x.value)
    .filter((v): v is SoakResults => v.kind === 'soak' && v.failure === undefined && v.minutesPlanned >= DEFAULT_SOAK_MINUTES && v.growthPercent !== undefined);
  return soaks[soaks.length - 1];
}

/** The newest full run that finished, with its file. */
export function latestFull(): { file: string; value: BenchResults } | undefined {
  const fulls = readAll().filter((x): x is { file: string; value: BenchResults } => x.value.kind === 'full' && x.value.failure === undefined);
  return fulls[fulls.length - 1];
}

export function chartFor(results: BenchResults): string {
  const cells = aggregate(results.runs);
  const setups = results.setups.filter((s) => s.included).map((s) => s.name);
  const panels: ChartPanel[] = PAYLOADS.map((payload) => ({
    title: payload === 'small' ? `small: GET, ${results.settings.responseBytes.small} B response` : `large: 64 KiB POST, 16 KiB response`,
    bars: setups.flatMap((setup) => {
      const c = cells.get(cellKey('throughput', setup, payload, 64));
      return c === undefined ? [] : [{ label: setup, value: c.rps }];
    }),
  }));
  return barChartSvg(
    'requests/s at 64 connections (wrk -t2 -c64, median of rounds)',
    `${results.machine.nproc} cores, ${results.machine.cpuModel}, Envoy --concurrency 1; ${results.startedAt}`,
    panels,
  );
}

/** Rewrites RESULTS.md (and the chart) from a full run's JSON. */
export function writeReport(results: BenchResults, jsonFile: string, soak: SoakResults | undefined): void {
  const relative = path.relative(path.dirname(RESULTS_MD), jsonFile);
  fs.writeFileSync(RESULTS_MD, renderResultsMarkdown(results, soak, relative));
  fs.writeFileSync(CHART_SVG, chartFor(results));
}

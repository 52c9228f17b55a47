/**
 * A flame graph of a `.cpuprofile` (`node --cpu-prof`) as a standalone SVG: each frame's width is
 * the time spent in it and what it called, callers below callees; the same function at the same
 * place in the stack is one box however many profile nodes it had. Idle time is left out. Hover a
 * box for its name, file and share. No dependencies: the bench commits the SVG beside ANALYSIS.md.
 *
 *   node build/bench/profile/flame-svg.js <file.cpuprofile> <out.svg> [title]
 */
import * as fs from 'node:fs';
import type { CpuProfile } from './summary';

export interface FlameFrame {
  readonly name: string;
  readonly url: string;
  /** Time in this frame and below it, in the profile's units (µs). */
  total: number;
  readonly children: FlameFrame[];
}

const FRAME_HEIGHT = 16;
const WIDTH = 1200;
/** Boxes narrower than this (px) are not drawn: they would be unreadable and bloat the file. */
const MIN_BOX_PX = 1;
const CHAR_PX = 6.6;

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/(dist|src|build)\//, '$1/');
}

/** The profile as a tree of merged frames (root = all busy time). */
export function flameTree(profile: CpuProfile): FlameFrame {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const root: FlameFrame = { name: 'all', url: '', total: 0, children: [] };
  // The profile's root node is "(root)"; its children are the stacks' outermost frames.
  const walk = (id: number, into: FlameFrame): number => {
    const node = byId.get(id);
    if (node === undefined) return 0;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') return 0;
    const name = functionName === '' ? '(anonymous)' : functionName;
    let frame = into.children.find((c) => c.name === name && c.url === url);
    if (frame === undefined) {
      frame = { name, url, total: 0, children: [] };
      into.children.push(frame);
    }
    let time = self.get(id) ?? 0;
    for (const child of node.children ?? []) time += walk(child, frame);
    frame.total += time;
    return time;
  };
  const top = profile.nodes.find((n) => n.callFrame.functionName === '(root)') ?? profile.nodes[0];
  for (const child of top?.children ?? []) root.total += walk(child, root);
  root.total += self.get(top?.id ?? -1) ?? 0;
  const prune = (f: FlameFrame): void => {
    for (let i = f.children.length - 1; i >= 0; i--) if (f.children[i].total === 0) f.children.splice(i, 1);
    f.children.sort((a, b) => a.name.localeCompare(b.name));
    f.children.forEach(prune);
  };
  prune(root);
  return root;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A stable warm colour per component, so the same library reads the same across graphs. */
function colour(frame: FlameFrame): string {
  const key = /\/(dist|src)\//.test(frame.url) ? 'ours' : shortUrl(frame.url).split('/')[0] || frame.name;
  let h = 0;
  for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  if (key === 'ours') return 'rgb(90,160,230)';
  if (frame.name === '(garbage collector)') return 'rgb(120,120,120)';
  return `rgb(${205 + (h % 50)},${90 + ((h >> 8) % 120)},${40 + ((h >> 16) % 40)})`;
}

export function flameSvg(root: FlameFrame, title: string): string {
  let depth = 0;
  const boxes: string[] = [];
  const scale = root.total > 0 ? WIDTH / root.total : 0;
  const draw = (f: FlameFrame, x: number, level: number): void => {
    const w = f.total * scale;
    if (w < MIN_BOX_PX) return;
    depth = Math.max(depth, level + 1);
    const share = root.total > 0 ? ((f.total / root.total) * 100).toFixed(2) : '0';
    const label = `${f.name}${f.url === '' ? '' : ` (${shortUrl(f.url)})`}`;
    const fits = Math.floor((w - 4) / CHAR_PX);
    const text = fits >= 3 ? (label.length <= fits ? label : `${label.slice(0, fits - 1)}…`) : '';
    boxes.push(
      `<g><title>${escapeXml(`${label}: ${share}%`)}</title><rect x="${x.toFixed(1)}" y="LEVEL${level}" width="${w.toFixed(1)}" height="${FRAME_HEIGHT - 1}" fill="${level === 0 ? 'rgb(200,200,200)' : colour(f)}"/>` +
        (text === '' ? '' : `<text x="${(x + 3).toFixed(1)}" y="LEVEL${level}T">${escapeXml(text)}</text>`) + '</g>',
    );
    let cx = x;
    for (const c of f.children) {
      draw(c, cx, level + 1);
      cx += c.total * scale;
    }
  };
  draw(root, 0, 0);
  const top = 24;
  const height = top + depth * FRAME_HEIGHT + 8;
  // Callers at the bottom: level 0 on the last row.
  const rowY = (level: number): number => top + (depth - 1 - level) * FRAME_HEIGHT;
  const body = boxes.map((b) => b.replace(/LEVEL(\d+)(T?)"/g, (_m, l: string, t: string) => `${(rowY(Number(l)) + (t === 'T' ? 11.5 : 0)).toFixed(1)}"`));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="monospace" font-size="11">`,
    `<text x="4" y="15" font-size="13">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

if (require.main === module) {
  const [file, out, title] = process.argv.slice(2);
  if (file === undefined || out === undefined) {
    process.stderr.write('usage: node build/bench/profile/flame-svg.js <file.cpuprofile> <out.svg> [title]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  fs.writeFileSync(out, flameSvg(flameTree(profile), title ?? file));
  process.stdout.write(`wrote ${out}\n`);
}

// bench/profile/flame-svg.ts: the merged frame tree and its SVG.
import { flameSvg, flameTree } from '../../../bench/profile/flame-svg';
import { profileOf } from './cpu-profile-fixture';

const undici = 'file:///x/node_modules/undici/lib/client.js';
const invoke = 'file:///x/dist/invoke/invoke.js';

const profile = profileOf([
  { frames: [['invoke', invoke], ['dispatch', undici]], time: 30 },
  // the same stack again, as separate profile nodes: merged into one box
  { frames: [['invoke', invoke], ['dispatch', undici]], time: 10 },
  { frames: [['invoke', invoke]], time: 20 },
  { frames: [['(garbage collector)', '']], time: 40 },
  { frames: [['(idle)', '']], time: 1000 },
]);

it('merges the same function at the same place, sums time upwards, leaves idle out', () => {
  const root = flameTree(profile);
  expect(root.total).toBe(100);
  expect(root.children.map((c) => [c.name, c.total])).toEqual([['(garbage collector)', 40], ['invoke', 60]]);
  const inv = root.children.find((c) => c.name === 'invoke');
  expect(inv?.children.map((c) => [c.name, c.url, c.total])).toEqual([['dispatch', undici, 40]]);
});

it('draws one box per merged frame, widths in proportion, callers below, with hover titles', () => {
  const svg = flameSvg(flameTree(profile), 'small ext_proc <h2>');
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1200"')).toBe(true);
  expect(svg).toContain('small ext_proc &lt;h2&gt;');
  const box = (name: string): { x: number; y: number; w: number } => {
    const m = new RegExp(`<title>${name.replace(/[()]/g, '\\$&')}[^<]*</title><rect x="([\\d.]+)" y="([\\d.]+)" width="([\\d.]+)"`).exec(svg);
    if (m === null) throw new Error(`no box for ${name}`);
    return { x: Number(m[1]), y: Number(m[2]), w: Number(m[3]) };
  };
  expect(box('all').w).toBe(1200);
  expect(box('invoke').w).toBeCloseTo(720, 0);
  expect(box('(garbage collector)').w).toBeCloseTo(480, 0);
  expect(box('dispatch').w).toBeCloseTo(480, 0);
  // dispatch sits on invoke, which sits on the root: higher rows, smaller y
  expect(box('dispatch').y).toBeLessThan(box('invoke').y);
  expect(box('invoke').y).toBeLessThan(box('all').y);
  expect(svg).toContain('<title>dispatch (undici/lib/client.js): 40.00%</title>');
  expect(svg.match(/<rect /g)).toHaveLength(4);
});

/**
 * bench/results/chart.svg: requests/s per setup at 64 connections, one panel per payload, each panel
 * with its own scale (large payloads are far slower; one axis would flatten them). Plain SVG text.
 */

export interface ChartBar {
  readonly label: string;
  readonly value: number;
}

export interface ChartPanel {
  readonly title: string;
  readonly bars: readonly ChartBar[];
}

const PANEL_WIDTH = 420;
const PANEL_HEIGHT = 300;
const MARGIN_TOP = 56;
const MARGIN_BOTTOM = 64;
const MARGIN_LEFT = 56;
const PALETTE = ['#7f8c8d', '#2e86de', '#e67e22', '#27ae60', '#8e44ad'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round axis maximum above `max`: 1, 2 or 5 times a power of ten. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

function formatCount(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}k` : String(Math.round(value));
}

function panelSvg(panel: ChartPanel, offsetX: number, labels: readonly string[]): string {
  const plotWidth = PANEL_WIDTH - MARGIN_LEFT - 16;
  const plotHeight = PANEL_HEIGHT - MARGIN_BOTTOM - 24;
  const top = MARGIN_TOP + 20;
  const axisMax = niceMax(Math.max(...panel.bars.map((b) => b.value), 0));
  const slot = plotWidth / Math.max(1, panel.bars.length);
  const barWidth = Math.min(56, slot * 0.6);
  const parts: string[] = [];
  parts.push(`<text x="${offsetX + PANEL_WIDTH / 2}" y="${top - 16}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (axisMax / 4) * i;
    const y = top + plotHeight - (v / axisMax) * plotHeight;
    parts.push(`<line x1="${offsetX + MARGIN_LEFT}" y1="${y}" x2="${offsetX + MARGIN_LEFT + plotWidth}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${offsetX + MARGIN_LEFT - 6}" y="${y + 4}" text-anchor="end" font-size="11">${formatCount(v)}</text>`);
  }
  panel.bars.forEach((bar, i) => {
    const h = (bar.value / axisMax) * plotHeight;
    const x = offsetX + MARGIN_LEFT + slot * i + (slot - barWidth) / 2;
    const y = top + plotHeight - h;
    const colour = PALETTE[Math.max(0, labels.indexOf(bar.label)) % PALETTE.length];
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${colour}"/>`);
    parts.push(`<text x="${(x + barWidth / 2).toFixed(1)}" y="${(y - 5).toFixed(1)}" text-anchor="middle" font-size="11">${formatCount(bar.value)}</text>`);
    // Slanted: setup names are wider than a bar's slot.
    const lx = (x + barWidth / 2 + 4).toFixed(1);
    const ly = top + plotHeight + 14;
    parts.push(`<text x="${lx}" y="${ly}" text-anchor="end" font-size="11" transform="rotate(-30 ${lx} ${ly})">${escapeXml(bar.label)}</text>`);
  });
  parts.push(`<line x1="${offsetX + MARGIN_LEFT}" y1="${top + plotHeight}" x2="${offsetX + MARGIN_LEFT + plotWidth}" y2="${top + plotHeight}" stroke="#333"/>`);
  return parts.join('\n  ');
}

export function barChartSvg(title: string, subtitle: string, panels: readonly ChartPanel[]): string {
  const width = PANEL_WIDTH * panels.length;
  const height = PANEL_HEIGHT + MARGIN_TOP;
  const labels = [...new Set(panels.flatMap((p) => p.bars.map((b) => b.label)))];
  const body = panels.map((p, i) => panelSvg(p, i * PANEL_WIDTH, labels)).join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="${width / 2}" y="18" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>
  <text x="${width / 2}" y="34" text-anchor="middle" font-size="11" fill="#555">${escapeXml(subtitle)}</text>
  ${body}
</svg>
`;
}

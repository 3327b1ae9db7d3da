/** Per-link totals as a horizontal bar chart: a standalone SVG string, or an HTML page around it. */

import { formatBytes } from '@p2pkit/base';
import type { LinkTotals } from '../counters/link-counters.ts';
import type { Topology } from '../topology/model.ts';

/** Chart options. */
export interface ChartOptions {
  title?: string;
  /** Pixel width of the whole chart (default 720). */
  width?: number;
  topology?: Topology;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const UP = '#d9534f';
const DOWN = '#337ab7';

/** Two bars per link (upstream, downstream payload bytes) on a shared linear scale. */
export function renderLinkChartSvg(links: readonly LinkTotals[], options: ChartOptions = {}): string {
  const width = options.width ?? 720;
  const labelWidth = 200;
  const valueWidth = 90;
  const barArea = Math.max(60, width - labelWidth - valueWidth);
  const rowHeight = 34;
  const top = options.title ? 40 : 16;
  const height = top + links.length * rowHeight + 30;
  const max = Math.max(1, ...links.flatMap((l) => [l.upstream.bytes, l.downstream.bytes]));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  ];
  if (options.title) parts.push(`<text x="8" y="22" font-size="15" font-weight="bold">${esc(options.title)}</text>`);
  links.forEach((l, i) => {
    const y = top + i * rowHeight;
    const info = options.topology?.has(l.link) ? options.topology.link(l.link) : undefined;
    const label = info ? `${info.name}${info.role === 'switch-upstream' ? ' (switch upstream)' : ''}` : l.link;
    parts.push(`<text x="8" y="${y + 18}">${esc(label)}</text>`);
    const bars: [number, string, number][] = [
      [l.upstream.bytes, UP, y + 2],
      [l.downstream.bytes, DOWN, y + 16],
    ];
    for (const [bytes, color, by] of bars) {
      const w = Math.round((bytes / max) * barArea);
      parts.push(
        `<rect x="${labelWidth}" y="${by}" width="${w}" height="12" fill="${color}"><title>${esc(formatBytes(bytes))}</title></rect>`,
      );
      parts.push(`<text x="${labelWidth + w + 4}" y="${by + 10}" font-size="10">${esc(formatBytes(bytes))}</text>`);
    }
  });
  const ly = height - 12;
  parts.push(`<rect x="8" y="${ly - 9}" width="10" height="10" fill="${UP}"/><text x="22" y="${ly}">upstream</text>`);
  parts.push(`<rect x="100" y="${ly - 9}" width="10" height="10" fill="${DOWN}"/><text x="114" y="${ly}">downstream</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** A self-contained HTML page with the chart. */
export function renderLinkChartHtml(links: readonly LinkTotals[], options: ChartOptions = {}): string {
  const title = options.title ?? 'p2pkit fabric: bytes per link';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body style="margin:16px">
${renderLinkChartSvg(links, { ...options, title })}
</body></html>
`;
}

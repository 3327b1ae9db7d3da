/**
 * The topology drawn as an SVG tree: root complex, root ports, switches (a dashed box around the
 * upstream port and its downstream ports), endpoints by name. Each physical link is drawn with a
 * width and colour from the payload bytes it carried and labelled with them; internal connections
 * (inside the root complex or a switch) are thin grey lines.
 */
import { formatBytes } from '@p2pkit/base';
import type { LinkTotals } from '../counters/link-counters.ts';
import type { FabricNode, Topology } from '../topology/model.ts';

/** Options of {@link renderTopologySvg}. */
export interface TopologySvgOptions {
  /** Bytes that map to the thickest, darkest link (default: the busiest link given). Share it to compare drawings. */
  maxBytes?: number;
  /** Links to call out (e.g. switch upstream links), drawn with a marker. */
  highlight?: readonly string[];
  title?: string;
}

const COL = 150;
const ROW = 92;
const BOX_W = 128;
const BOX_H = 38;
const KIND_LABEL: Record<FabricNode['kind'], string> = {
  'host-bridge': 'root complex',
  'root-port': 'root port',
  'switch-upstream': 'switch upstream port',
  'switch-downstream': 'downstream port',
  endpoint: 'endpoint',
};

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Colour ramp from pale to dark orange for 0..1 (0 = idle grey). */
export function heatColour(fraction: number): string {
  if (fraction <= 0) return '#c8c8c8';
  const f = Math.min(1, Math.max(0, fraction));
  const l = 78 - f * 46;
  return `hsl(${Math.round(32 - f * 20)}, 90%, ${l.toFixed(0)}%)`;
}

function endpointSubtitle(n: FabricNode): string {
  if (n.label) return n.label;
  if (n.device?.kind === 'qemu-nvme') return 'QEMU nvme';
  if (n.device?.kind === 'vfio-user') return 'p2pkit (vfio-user)';
  return KIND_LABEL[n.kind];
}

/** Draws `topology` with per-link byte counts (links absent from `links` are idle). */
export function renderTopologySvg(topology: Topology, links: readonly LinkTotals[], options: TopologySvgOptions = {}): string {
  const nodes = topology.allNodes();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map<string, number>();
  const x = new Map<string, number>();
  let nextLeaf = 0;
  // Tidy tree: leaves get consecutive columns, parents sit over the middle of their children.
  const place = (id: string, d: number): void => {
    depth.set(id, d);
    const n = byId.get(id) as FabricNode;
    if (n.children.length === 0) x.set(id, nextLeaf++);
    else {
      for (const c of n.children) place(c, d + 1);
      const xs = n.children.map((c) => x.get(c) as number);
      x.set(id, (Math.min(...xs) + Math.max(...xs)) / 2);
    }
  };
  place(topology.hostBridgeId, 0);
  const maxDepth = Math.max(...depth.values());
  const top = options.title ? 36 : 12;
  const width = Math.max(1, nextLeaf) * COL + 90; // room for the last link's label
  const height = top + maxDepth * ROW + BOX_H + 12; // down to the bottom row's boxes
  const cx = (id: string) => 10 + (x.get(id) as number) * COL + COL / 2;
  const cy = (id: string) => top + (depth.get(id) as number) * ROW + BOX_H / 2;
  const totals = new Map(links.map((l) => [l.link, l]));
  const max = options.maxBytes ?? Math.max(1, ...links.map((l) => l.upstream.bytes + l.downstream.bytes));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
  ];
  if (options.title) parts.push(`<text x="10" y="22" font-size="15" font-weight="600">${esc(options.title)}</text>`);
  for (const n of nodes.filter((m) => m.kind === 'switch-upstream')) {
    const members = [n.id, ...n.children];
    const xs = members.map(cx);
    const x0 = Math.min(...xs) - BOX_W / 2 - 8;
    const y0 = cy(n.id) - BOX_H / 2 - 8;
    const w = Math.max(...xs) - Math.min(...xs) + BOX_W + 16;
    parts.push(
      `<rect class="switch" x="${x0}" y="${y0}" width="${w}" height="${ROW + BOX_H + 16}" rx="10" fill="#f4f7fb" stroke="#8aa" stroke-dasharray="5 4"/>`,
    );
    parts.push(`<text x="${x0 + 8}" y="${y0 + 14}" font-size="11" fill="#567">switch ${esc(n.id)}</text>`);
  }
  for (const n of nodes) {
    if (n.parent === undefined) continue;
    const [x1, y1, x2, y2] = [cx(n.parent), cy(n.parent) + BOX_H / 2, cx(n.id), cy(n.id) - BOX_H / 2];
    if (!n.uplink) {
      parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#bbb" stroke-width="1.5"/>`);
      continue;
    }
    const t = totals.get(n.uplink);
    const up = t?.upstream.bytes ?? 0;
    const down = t?.downstream.bytes ?? 0;
    const f = (up + down) / max;
    const w = up + down > 0 ? 3 + Math.sqrt(Math.min(1, f)) * 13 : 2;
    const mark = options.highlight?.includes(n.uplink);
    parts.push(
      `<line class="link" data-link="${esc(n.uplink)}" data-bytes="${up + down}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${heatColour(f)}" stroke-width="${w.toFixed(1)}" stroke-linecap="round"><title>${esc(`${n.uplink}: ↑ ${formatBytes(up)}, ↓ ${formatBytes(down)}`)}</title></line>`,
    );
    const lx = (x1 + x2) / 2 + 10;
    const ly = (y1 + y2) / 2;
    parts.push(
      `<text x="${lx}" y="${ly - 2}" font-size="11"${mark ? ' font-weight="700"' : ''}>${esc(`${mark ? '★ ' : ''}${n.uplink}`)}</text>`,
      `<text x="${lx}" y="${ly + 11}" font-size="10" fill="#444">↑ ${esc(formatBytes(up))} ↓ ${esc(formatBytes(down))}</text>`,
    );
  }
  for (const n of nodes) {
    const [x0, y0] = [cx(n.id) - BOX_W / 2, cy(n.id) - BOX_H / 2];
    const fill = n.kind === 'endpoint' ? '#e8f1ff' : n.kind === 'host-bridge' ? '#eee' : '#fff';
    parts.push(
      `<g class="node" data-node="${esc(n.id)}"><rect x="${x0}" y="${y0}" width="${BOX_W}" height="${BOX_H}" rx="6" fill="${fill}" stroke="#567"/>`,
      `<text x="${cx(n.id)}" y="${y0 + 16}" text-anchor="middle" font-weight="600">${esc(n.kind === 'host-bridge' ? 'root complex' : n.id)}</text>`,
      `<text x="${cx(n.id)}" y="${y0 + 30}" text-anchor="middle" font-size="10" fill="#555">${esc(n.kind === 'endpoint' ? endpointSubtitle(n) : n.kind === 'host-bridge' ? `${n.id} · host memory` : KIND_LABEL[n.kind])}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

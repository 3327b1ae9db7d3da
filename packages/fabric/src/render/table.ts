/** Per-link totals as a plain-text table (monospace, for terminals and logs). */

import { formatBytes } from '@p2pkit/base';
import type { EndpointTotals, LinkTotals } from '../counters/link-counters.ts';
import { describeLink } from '../topology/link.ts';
import type { Topology } from '../topology/model.ts';

function table(head: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * One row per link: name, trained link, bytes and TLPs each way. With a topology, switch upstream
 * links are marked `*` (the links p2p traffic should leave alone).
 */
export function renderLinkTable(links: readonly LinkTotals[], topology?: Topology): string {
  const rows = links.map((l) => {
    const info = topology?.has(l.link) ? topology.link(l.link) : undefined;
    const name = info ? `${info.name}${info.role === 'switch-upstream' ? ' *' : ''}` : l.link;
    return [
      name,
      info ? describeLink(info.params) : '',
      formatBytes(l.upstream.bytes),
      String(l.upstream.tlps),
      formatBytes(l.downstream.bytes),
      String(l.downstream.tlps),
    ];
  });
  const out = table(['link', 'trained', 'up bytes', 'up TLPs', 'down bytes', 'down TLPs'], rows, new Set([2, 3, 4, 5]));
  return topology?.switchUpstreamLinks().length ? `${out}\n* switch upstream link` : out;
}

/** One row per endpoint: what it initiated and what peers did to its BARs. */
export function renderEndpointTable(endpoints: readonly EndpointTotals[]): string {
  const rows = endpoints.map((e) => [
    e.endpoint,
    String(e.transactions),
    formatBytes(e.bytesRead),
    formatBytes(e.bytesWritten),
    formatBytes(e.byKind['guest-ram']),
    formatBytes(e.byKind['peer-local'] + e.byKind['peer-via-host']),
    String(e.refused),
    formatBytes(e.servedReadBytes + e.servedWriteBytes),
  ]);
  return table(['endpoint', 'xfers', 'read', 'written', 'to RAM', 'to peers', 'refused', 'served'], rows, new Set([1, 2, 3, 4, 5, 6, 7]));
}

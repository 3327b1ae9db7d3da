/** `p2pkit trace --html`: one trace as a page — topology with per-link bytes, the tables, bandwidth over time. */
import { formatBytes } from '@p2pkit/base';
import { type CounterSnapshot, describeLink, type LinkTimeline, renderTopologySvg, Topology, type TraceHeader } from '@p2pkit/fabric';
import { bandwidthChart } from './bandwidth-chart.ts';
import { esc, htmlTable, page } from './html.ts';

/** What the page shows (all plain data). */
export interface TraceReportData {
  /** The trace file, as the user named it. */
  file: string;
  header: TraceHeader;
  records: number;
  totals: CounterSnapshot;
  timeline: LinkTimeline;
  /** The window shown, e.g. `10 ms – 250 ms`, when not the whole trace. */
  window?: string;
  /** A note such as an ignored truncated tail. */
  note?: string;
}

/** The page as one self-contained HTML document. */
export function renderTraceReport(d: TraceReportData): string {
  const topology = new Topology(d.header.topology);
  const linkRows = d.totals.links.map((l) => {
    const info = topology.has(l.link) ? topology.link(l.link) : undefined;
    return [
      `${info?.role === 'switch-upstream' ? '★ ' : ''}${info?.name ?? l.link}`,
      info ? describeLink(info.params) : '',
      formatBytes(l.upstream.bytes),
      String(l.upstream.tlps),
      formatBytes(l.downstream.bytes),
      String(l.downstream.tlps),
    ];
  });
  const endpointRows = d.totals.endpoints.map((e) => [
    e.endpoint,
    String(e.transactions),
    formatBytes(e.bytesRead),
    formatBytes(e.bytesWritten),
    formatBytes(e.byKind['guest-ram']),
    formatBytes(e.byKind['peer-local'] + e.byKind['peer-via-host']),
    String(e.refused),
    formatBytes(e.servedReadBytes + e.servedWriteBytes),
  ]);
  const body = `
<h1>p2pkit trace — bytes per link</h1>
<p class="sub"><code>${esc(d.file)}</code>: ${d.records} transactions recorded ${esc(new Date(d.header.startedAt).toISOString())}${d.window ? `, window ${esc(d.window)}` : ''}.${d.note ? ` ${esc(d.note)}` : ''}</p>
<section class="panel">
${renderTopologySvg(topology, d.totals.links, { highlight: topology.switchUpstreamLinks().map((l) => l.id) })}
<h3>Links</h3>
${htmlTable(['link', 'trained', '↑ bytes', '↑ TLPs', '↓ bytes', '↓ TLPs'], linkRows, new Set([2, 3, 4, 5]))}
<h3>Endpoints</h3>
${htmlTable(['endpoint', 'xfers', 'read', 'written', 'to RAM', 'to peers', 'refused', 'served'], endpointRows, new Set([1, 2, 3, 4, 5, 6, 7]))}
<h3>Bandwidth over time</h3>
${bandwidthChart(d.timeline, { topology })}
<p class="legend">★ switch upstream link. Link thickness and colour: payload bytes (both directions). ↑ toward the root complex, ↓ away. Bytes are payload; KiB = 1024 bytes; MB/s = 10⁶ bytes/s.</p>
</section>`;
  return page(`p2pkit trace ${d.file}`, body);
}

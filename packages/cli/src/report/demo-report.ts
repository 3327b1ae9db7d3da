/**
 * The demo's one-page report: the upstream-port share of the payload as the headline, the
 * p2p and host-memory copies side by side (topology drawing with links sized by bytes, per-link
 * table, bandwidth over time), throughput, verification, versions, legend and units.
 * Takes plain data, so it renders without a guest (tests use a recorded run).
 */
import { formatBytes } from '@p2pkit/base';
import { heatColour, type LinkTimeline, renderTopologySvg, Topology, type TopologyDescription } from '@p2pkit/fabric';
import type { CopyFigures, DemoFigures } from '../demo/figures.ts';
import { percent } from '../demo/figures.ts';
import { bandwidthChart, peakMBps } from './bandwidth-chart.ts';
import { esc, htmlTable, page } from './html.ts';

/** What the report needs: the figures, the topology both copies ran on, and each copy's timeline. */
export interface DemoReportData {
  figures: DemoFigures;
  topology: TopologyDescription;
  timelines: { p2p: LinkTimeline; host: LinkTimeline };
}

const mb = (n: number) => `${n.toFixed(1)} MB/s`;
const tick = (ok: boolean) => `<span class="${ok ? 'ok' : 'bad'}">${ok ? '✓ data verified' : '✗ data MISMATCH'}</span>`;

function card(k: string, v: string): string {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`;
}

function copyPanel(
  c: CopyFigures,
  topology: Topology,
  timeline: LinkTimeline,
  shared: { maxBytes: number; yMax: number },
  upstream: string[],
): string {
  const totals = c.links.map((l) => ({
    link: l.link,
    upstream: { bytes: l.upstreamBytes, tlps: l.upstreamTlps, writeTlps: 0, readRequestTlps: 0, completionTlps: 0, wireBytes: 0 },
    downstream: { bytes: l.downstreamBytes, tlps: l.downstreamTlps, writeTlps: 0, readRequestTlps: 0, completionTlps: 0, wireBytes: 0 },
  }));
  const rows = c.links.map((l) => [
    `${l.role === 'switch-upstream' ? '★ ' : ''}${l.name}`,
    formatBytes(l.upstreamBytes),
    formatBytes(l.downstreamBytes),
    percent((l.upstreamBytes + l.downstreamBytes) / c.bytes),
  ]);
  return `<section class="panel ${c.buffer}" data-copy="${c.buffer}">
<h2>${c.buffer === 'p2p' ? 'Peer-to-peer copy' : 'Host-memory copy'}</h2>
<p class="sub">${esc(c.description)} — ${esc(formatBytes(c.bytes))} in ${c.seconds.toFixed(2)} s, <b>${esc(mb(c.throughputMBps))}</b>, ${tick(c.verified)}.
Switch upstream port: <b>${esc(formatBytes(c.upstreamBytes))}</b> (${esc(percent(c.upstreamShare))} of the payload).</p>
<div class="row">${renderTopologySvg(topology, totals, { maxBytes: shared.maxBytes, highlight: upstream })}
<div><h3>Payload per link</h3>
${htmlTable(['link', '↑ upstream', '↓ downstream', 'of payload'], rows, new Set([1, 2, 3]))}</div></div>
<h3>Bandwidth over time</h3>
${bandwidthChart(timeline, { yMaxMBps: shared.yMax, topology })}
</section>`;
}

/** The report as one self-contained HTML document. */
export function renderDemoReport(data: DemoReportData): string {
  const f = data.figures;
  const topology = new Topology(data.topology);
  const ratio = f.p2p.upstreamBytes > 0 ? f.host.upstreamBytes / f.p2p.upstreamBytes : Number.POSITIVE_INFINITY;
  const shared = {
    maxBytes: Math.max(1, ...[...f.p2p.links, ...f.host.links].map((l) => l.upstreamBytes + l.downstreamBytes)),
    yMax: Math.max(peakMBps(data.timelines.p2p), peakMBps(data.timelines.host)),
  };
  const up = f.upstreamLinks.join(', ');
  const provider = f.provider === 'qemu' ? "QEMU nvme's CMB" : "p2pkit NVMe A's CMB";
  const body = `
<h1>p2pkit demo — where the bytes went</h1>
<p class="sub">${esc(formatBytes(f.payloadBytes))} copied from NVMe B to NVMe B twice in a stock Linux guest — once through ${esc(provider)} (${esc(formatBytes(f.cmbBytes))}, published as p2pmem), once through host memory — in ${esc(formatBytes(f.chunkBytes))} chunks. ${esc(f.startedAt)}.</p>
<section class="headline" id="headline">
  <div class="big" data-share="${f.p2p.upstreamShare}">${esc(percent(f.p2p.upstreamShare))}</div>
  <div><p><b>of the payload crossed the switch upstream port (${esc(up)}) in the peer-to-peer copy</b>: ${esc(formatBytes(f.p2p.upstreamBytes))} of ${esc(formatBytes(f.p2p.bytes))} (completions and doorbells, no data).</p>
  <p>Through host memory the same copy put <b>${esc(formatBytes(f.host.upstreamBytes))}</b> (${esc(percent(f.host.upstreamShare))}) on that port${Number.isFinite(ratio) ? ` — ${esc(Math.round(ratio).toLocaleString('en-US'))}× more` : ''}.</p></div>
  <div class="big host">${esc(percent(f.host.upstreamShare))}<div class="legend">host copy</div></div>
</section>
<section class="cards">
${card('p2p throughput', esc(mb(f.p2p.throughputMBps)))}
${card('host-memory throughput', esc(mb(f.host.throughputMBps)))}
${card('data verification', f.p2p.verified && f.host.verified ? '<span class="ok">✓ both copies match</span>' : `p2p ${tick(f.p2p.verified)}, host ${tick(f.host.verified)}`)}
${card('QEMU', esc(f.versions.qemu))}
${card('guest kernel', esc(f.versions.kernel))}
${card('guest boot', `${f.guest.bootSeconds.toFixed(1)} s`)}
</section>
<div class="pair">
${copyPanel(f.p2p, topology, data.timelines.p2p, shared, f.upstreamLinks)}
${copyPanel(f.host, topology, data.timelines.host, shared, f.upstreamLinks)}
</div>
<section class="panel legend" id="legend" style="margin-top:16px">
<h3>Legend and units</h3>
<p>Lines between boxes are PCIe links; thickness and colour give the payload bytes the link carried in both directions (same scale in both drawings):
<span class="ramp" style="background:linear-gradient(90deg, ${heatColour(0.01)}, ${heatColour(0.5)}, ${heatColour(1)})"></span> up to ${esc(formatBytes(shared.maxBytes))}; grey = idle.
Grey thin lines are connections inside the root complex or a switch (no link). ★ marks the switch upstream link. ↑ is toward the root complex, ↓ away from it.
Bytes are payload (write data and read completions), KiB/MiB = 1024/1024² bytes; throughput MB/s = 10⁶ bytes/s as measured in the guest; the guest compares source and destination after each copy.
Traffic is counted by p2pkit's fabric model for the p2pkit devices' DMA${f.provider === 'qemu' ? "; QEMU nvme's own DMA is not modelled" : ''}.</p>
<p>QEMU ${esc(f.versions.qemu)} (${esc(f.versions.qemuPackage)}), guest kernel ${esc(f.versions.kernel)} (${esc(f.versions.kernelPackage)}), Node ${esc(f.versions.node)}; run took ${f.durationSeconds.toFixed(0)} s.
Traces: <code>${esc(f.p2p.trace)}</code>, <code>${esc(f.host.trace)}</code> (<code>p2pkit trace FILE</code>); Perfetto: <code>${esc(f.p2p.perfetto)}</code>, <code>${esc(f.host.perfetto)}</code>.</p>
</section>`;
  return page(`p2pkit demo: ${percent(f.p2p.upstreamShare)} of the payload on the switch upstream port`, body);
}

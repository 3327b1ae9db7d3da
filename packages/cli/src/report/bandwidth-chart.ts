/** Per-link bandwidth over time (from a trace's timeline) as a uPlot line chart element. */
import type { LinkTimeline, Topology } from '@p2pkit/fabric';
import { esc } from './html.ts';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/** Options of {@link bandwidthChart}. */
export interface BandwidthChartOptions {
  /** Shared y-axis top in MB/s (to compare two charts); default: this chart's peak. */
  yMaxMBps?: number;
  /** Names links `rp0 → sw0` instead of `rp0`. */
  topology?: Topology;
}

/** The highest bucket of any series, in MB/s. */
export function peakMBps(timeline: LinkTimeline): number {
  return Math.max(0, ...timeline.series.flatMap((s) => s.bytesPerSecond)) / 1e6;
}

/**
 * A `.bw-chart` element: one line per link direction that carried payload (idle ones are listed
 * below the chart instead), MB/s per bucket against milliseconds since recording started.
 */
export function bandwidthChart(timeline: LinkTimeline, options: BandwidthChartOptions = {}): string {
  const active = timeline.series.filter((s) => s.total > 0);
  const idle = timeline.series.filter((s) => s.total === 0);
  const name = (link: string) => (options.topology?.has(link) ? options.topology.link(link).name : link);
  const links = [...new Set(timeline.series.map((s) => s.link))];
  const data = {
    x: timeline.timesMs.map((t) => Number(t.toFixed(4))),
    yMax: options.yMaxMBps ? Number((options.yMaxMBps * 1.05).toFixed(1)) : null,
    series: active.map((s) => ({
      label: `${name(s.link)} ${s.direction === 'upstream' ? '↑' : '↓'}`,
      // One colour per link; the downstream direction dashed.
      color: PALETTE[links.indexOf(s.link) % PALETTE.length] as string,
      dash: s.direction === 'downstream',
      values: s.bytesPerSecond.map((v) => Number((v / 1e6).toFixed(2))),
    })),
  };
  const idleNote = idle.length
    ? `<div class="legend">No payload: ${esc(idle.map((s) => `${s.link} ${s.direction === 'upstream' ? '↑' : '↓'}`).join(', '))}</div>`
    : '';
  const bucket = timeline.bucketNs >= 1e6 ? `${(timeline.bucketNs / 1e6).toFixed(1)} ms` : `${(timeline.bucketNs / 1e3).toFixed(0)} µs`;
  return `<div class="bw-chart" data-chart="${esc(JSON.stringify(data))}"></div>
<div class="legend">Payload MB/s (10<sup>6</sup> bytes per second) per link direction, ${esc(bucket)} buckets from the trace timestamps; ↑ toward the root complex, ↓ away from it.</div>
${idleNote}`;
}

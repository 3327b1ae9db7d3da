/**
 * Export a trace in the Chrome / Perfetto trace-event JSON format, so it opens in ui.perfetto.dev
 * or chrome://tracing: one track (thread) per link direction with a complete event per transfer
 * piece that crossed it, and a bandwidth counter per link direction.
 */
import { formatBytes } from '@p2pkit/base';
import { Topology } from '../topology/model.ts';
import { traceTimeline } from './timeline.ts';
import type { Trace } from './trace-reader.ts';

/** One trace event (the subset of the format this export writes). */
export interface PerfettoEvent {
  /** `M` metadata, `X` complete, `C` counter. */
  ph: 'M' | 'X' | 'C';
  name: string;
  pid: number;
  tid?: number;
  /** Microseconds since recording started. */
  ts?: number;
  /** Microseconds. */
  dur?: number;
  cat?: string;
  args?: Record<string, string | number>;
}

/** The JSON object format: `{ traceEvents, displayTimeUnit, otherData }`. */
export interface PerfettoTrace {
  traceEvents: PerfettoEvent[];
  displayTimeUnit: 'ns' | 'ms';
  otherData: Record<string, string>;
}

const PID = 1;
const ARROW = { u: '↑ upstream', d: '↓ downstream' } as const;

/**
 * Converts a trace. Event durations are the time the payload would take on the modelled link
 * (bytes ÷ its bandwidth), cut short where the next event on the same track starts, so events on
 * one track never overlap. Counters use `buckets` equal time buckets (default 200).
 */
export function traceToPerfetto(trace: Trace, options: { buckets?: number } = {}): PerfettoTrace {
  const topology = new Topology(trace.header.topology);
  const start = trace.header.startNs;
  const tracks = new Map<string, number>();
  const meta: PerfettoEvent[] = [{ ph: 'M', name: 'process_name', pid: PID, args: { name: 'p2pkit fabric links' } }];
  for (const l of topology.links()) {
    for (const d of ['u', 'd'] as const) {
      const tid = tracks.size + 1;
      tracks.set(`${l.id}:${d}`, tid);
      meta.push({ ph: 'M', name: 'thread_name', pid: PID, tid, args: { name: `${l.name} ${ARROW[d]}` } });
      meta.push({ ph: 'M', name: 'thread_sort_index', pid: PID, tid, args: { sort_index: tid } });
    }
  }
  const perTrack = new Map<number, PerfettoEvent[]>();
  for (const r of trace.records) {
    if (r.e !== undefined) continue;
    const ts = (r.t - start) / 1000;
    const crossings = [...r.l.map((c) => [c, r.d === 'w'] as const), ...r.c.map((c) => [c, true] as const)];
    for (const [[link, d], carriesData] of crossings) {
      const tid = tracks.get(`${link}:${d}`);
      if (tid === undefined) continue;
      const bytes = carriesData ? r.n : 0;
      const bw = topology.has(link) ? topology.link(link).params.bytesPerSecond : 1e9;
      const name =
        r.d === 'w'
          ? `write ${formatBytes(r.n)}`
          : carriesData
            ? `read completion ${formatBytes(r.n)}`
            : `read request ${formatBytes(r.n)}`;
      const args: Record<string, string | number> = { requester: r.r, target: r.te ?? r.k, bytes, address: `0x${r.a.toString(16)}` };
      const list = perTrack.get(tid) ?? [];
      perTrack.set(tid, list);
      list.push({ ph: 'X', name, cat: r.k, pid: PID, tid, ts, dur: (Math.max(bytes, 1) / bw) * 1e6, args });
    }
  }
  const events: PerfettoEvent[] = [];
  for (const list of perTrack.values()) {
    list.sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
    list.forEach((e, i) => {
      const next = list[i + 1]?.ts;
      if (next !== undefined) e.dur = Math.min(e.dur ?? 0, next - (e.ts ?? 0));
    });
    events.push(...list);
  }
  const timeline = traceTimeline(trace, { buckets: options.buckets ?? 200 });
  for (const s of timeline.series) {
    if (s.total === 0) continue;
    const name = `${s.link} ${s.direction === 'upstream' ? '↑' : '↓'} bandwidth`;
    s.bytesPerSecond.forEach((v, i) => {
      events.push({ ph: 'C', name, pid: PID, ts: (timeline.timesMs[i] as number) * 1000, args: { 'MB/s': v / 1e6 } });
    });
  }
  events.sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  return {
    traceEvents: [...meta, ...events],
    displayTimeUnit: 'ns',
    otherData: {
      source: 'p2pkit fabric trace',
      startedAt: new Date(trace.header.startedAt).toISOString(),
      records: String(trace.records.length),
    },
  };
}

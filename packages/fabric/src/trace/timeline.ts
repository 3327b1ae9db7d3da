/**
 * Per-link bandwidth over time from trace timestamps: payload bytes per link direction, summed into
 * equal time buckets. Plain data, for charts (the HTML reports) and exports.
 */
import type { LinkDirection } from '../routing/route.ts';
import { Topology } from '../topology/model.ts';
import type { Trace } from './trace-reader.ts';

/** Payload bytes of one link direction per bucket. */
export interface TimelineSeries {
  link: string;
  direction: LinkDirection;
  /** Bytes per bucket. */
  bytes: number[];
  /** Bytes per bucket divided by the bucket width, in bytes per second. */
  bytesPerSecond: number[];
  /** Sum over all buckets. */
  total: number;
}

/** Bucketed bandwidth of every link direction of a trace's topology. */
export interface LinkTimeline {
  /** Bucket width in nanoseconds. */
  bucketNs: number;
  /** Start of each bucket, milliseconds since recording started (the buckets span first to last record). */
  timesMs: number[];
  /** Two series per link (upstream, downstream), in topology order, idle ones included. */
  series: TimelineSeries[];
}

/** Options of {@link traceTimeline}. */
export interface TimelineOptions {
  /** Number of buckets over the span of the records (default 100); ignored when `bucketNs` is set. */
  buckets?: number;
  bucketNs?: number;
}

/**
 * Buckets a trace's payload bytes per link direction: writes count on the links their request
 * crosses, reads on the links their completions cross (as the live counters do).
 */
export function traceTimeline(trace: Trace, options: TimelineOptions = {}): LinkTimeline {
  // Buckets cover the records only: the idle time before the first one (e.g. a guest job starting) is left out.
  const start = trace.header.startNs;
  const first = trace.records.reduce((m, r) => Math.min(m, r.t - start), Number.POSITIVE_INFINITY);
  const origin = Number.isFinite(first) ? Math.max(0, first) : 0;
  const last = trace.records.reduce((m, r) => Math.max(m, r.t - start), origin);
  const span = last - origin + 1;
  const buckets = options.bucketNs ? Math.max(1, Math.ceil(span / options.bucketNs)) : Math.max(1, options.buckets ?? 100);
  const bucketNs = options.bucketNs ?? Math.max(1, Math.ceil(span / buckets));
  const series = new Map<string, TimelineSeries>();
  const key = (link: string, direction: LinkDirection) => `${link}:${direction}`;
  const get = (link: string, direction: LinkDirection): TimelineSeries => {
    let s = series.get(key(link, direction));
    if (!s) {
      s = { link, direction, bytes: new Array<number>(buckets).fill(0), bytesPerSecond: [], total: 0 };
      series.set(key(link, direction), s);
    }
    return s;
  };
  for (const l of new Topology(trace.header.topology).links()) {
    get(l.id, 'upstream');
    get(l.id, 'downstream');
  }
  for (const r of trace.records) {
    if (r.e !== undefined) continue; // refused: nothing crossed a link
    const b = Math.min(buckets - 1, Math.max(0, Math.floor((r.t - start - origin) / bucketNs)));
    for (const [link, d] of r.d === 'w' ? r.l : r.c) {
      const s = get(link, d === 'u' ? 'upstream' : 'downstream');
      (s.bytes[b] as number) += r.n;
      s.total += r.n;
    }
  }
  for (const s of series.values()) s.bytesPerSecond = s.bytes.map((v) => (v * 1e9) / bucketNs);
  return { bucketNs, timesMs: Array.from({ length: buckets }, (_, i) => (origin + i * bucketNs) / 1e6), series: [...series.values()] };
}

/** A time window of a trace: the records between two offsets from the start of recording. */
import type { Trace } from './trace-reader.ts';

/** Offsets from the start of recording, in nanoseconds; either end may be open. */
export interface TraceWindow {
  fromNs?: number;
  toNs?: number;
}

/** The trace restricted to records with `fromNs ≤ t − start < toNs` (the header is kept as is). */
export function sliceTrace(trace: Trace, window: TraceWindow): Trace {
  const from = window.fromNs ?? Number.NEGATIVE_INFINITY;
  const to = window.toNs ?? Number.POSITIVE_INFINITY;
  if (!(from < to)) throw new RangeError(`empty time window: from ${window.fromNs} ns is not before to ${window.toNs} ns`);
  const start = trace.header.startNs;
  return { ...trace, records: trace.records.filter((r) => r.t - start >= from && r.t - start < to) };
}

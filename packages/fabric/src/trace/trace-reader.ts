/** Reads trace files back and recomputes the counters they imply. */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { FrameDecoder, FrameError } from '../codec/frames.ts';
import { type CounterSnapshot, FabricCounters } from '../counters/link-counters.ts';
import { Topology } from '../topology/model.ts';
import { TRACE_MAGIC, type TraceHeader, type TraceRecord, unpackCrossings, unpackDirection } from './trace-format.ts';

/** A trace read into memory. */
export interface Trace {
  header: TraceHeader;
  records: TraceRecord[];
  /** Bytes of an incomplete last frame that were ignored. */
  truncatedBytes: number;
}

/** Streams a trace: the header first, then every record. */
export async function* readTraceRecords(source: string | Readable): AsyncGenerator<TraceHeader | TraceRecord> {
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const decoder = new FrameDecoder();
  let first = true;
  for await (const chunk of input) {
    for (const value of decoder.push(chunk as Uint8Array)) {
      if (first) {
        const h = value as Partial<TraceHeader>;
        if (h.magic !== TRACE_MAGIC) throw new FrameError('not a p2pkit trace (bad magic)');
        first = false;
      }
      yield value as TraceHeader | TraceRecord;
    }
  }
  if (first) throw new FrameError('empty trace');
}

/** Reads a whole trace. */
export async function readTrace(source: string | Readable): Promise<Trace> {
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const decoder = new FrameDecoder();
  let header: TraceHeader | undefined;
  const records: TraceRecord[] = [];
  for await (const chunk of input) {
    for (const value of decoder.push(chunk as Uint8Array)) {
      if (!header) {
        if ((value as Partial<TraceHeader>).magic !== TRACE_MAGIC) throw new FrameError('not a p2pkit trace (bad magic)');
        header = value as TraceHeader;
      } else records.push(value as TraceRecord);
    }
  }
  if (!header) throw new FrameError('empty trace');
  return { header, records, truncatedBytes: decoder.pending };
}

/** Recomputes per-link and per-endpoint totals from a trace, exactly as the live counters did. */
export function traceTotals(trace: Trace): CounterSnapshot {
  const counters = new FabricCounters(new Topology(trace.header.topology));
  for (const r of trace.records) {
    counters.account({
      kind: r.k,
      requester: r.r,
      direction: unpackDirection(r.d),
      address: r.a,
      length: r.n,
      links: unpackCrossings(r.l),
      completionLinks: unpackCrossings(r.c),
      mps: r.mps,
      mrrs: r.mrrs,
      target: r.te === undefined ? undefined : { endpoint: r.te },
    });
  }
  return counters.snapshot();
}

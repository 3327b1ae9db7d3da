/**
 * Trace file format (version 1): a sequence of length-prefixed msgpack frames (see codec/frames.ts).
 * The first frame is a {@link TraceHeader}; every following frame is a {@link TraceRecord}.
 * A truncated last frame (the process died mid-write) is ignored by the reader.
 */
import type { LinkCrossing, TargetKind, TransferDirection } from '../routing/route.ts';
import type { TopologyDescription } from '../topology/description.ts';

export const TRACE_MAGIC = 'p2pkit-trace';
export const TRACE_VERSION = 1;

/** First frame of a trace. */
export interface TraceHeader {
  magic: typeof TRACE_MAGIC;
  version: number;
  /** Wall-clock start (ms since the epoch). */
  startedAt: number;
  /** Fabric time (ns) when recording started. */
  startNs: number;
  topology: TopologyDescription;
}

/** Compact crossing: link id + `u`/`d`. */
export type PackedCrossing = [link: string, direction: 'u' | 'd'];

/** One transaction piece, short keys to keep the file small (~80 bytes per record). */
export interface TraceRecord {
  /** Fabric time in ns. */
  t: number;
  /** Requester endpoint id. */
  r: string;
  /** Target kind. */
  k: TargetKind;
  /** 'r' read, 'w' write. */
  d: 'r' | 'w';
  /** Bus address. */
  a: bigint;
  /** Bytes. */
  n: number;
  /** Target endpoint, BAR, offset (BAR hits only). */
  te?: string;
  tb?: number;
  to?: bigint;
  /** Request links. */
  l: PackedCrossing[];
  /** Completion links (reads). */
  c: PackedCrossing[];
  /** MPS and MRRS used for TLP splitting. */
  mps: number;
  mrrs: number;
  /** errno for refused pieces. */
  e?: number;
}

export function packCrossings(links: readonly LinkCrossing[]): PackedCrossing[] {
  return links.map((l) => [l.link, l.direction === 'upstream' ? 'u' : 'd']);
}

export function unpackCrossings(links: readonly PackedCrossing[]): LinkCrossing[] {
  return links.map(([link, d]) => ({ link, direction: d === 'u' ? 'upstream' : 'downstream' }));
}

export function packDirection(d: TransferDirection): 'r' | 'w' {
  return d === 'read' ? 'r' : 'w';
}

export function unpackDirection(d: 'r' | 'w'): TransferDirection {
  return d === 'r' ? 'read' : 'write';
}

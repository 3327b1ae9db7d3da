/** Reads trace files back and recomputes the counters they imply. */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { decodePayload, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../codec/frames.ts';
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

/**
 * A file that cannot be read as a trace: missing, empty, not a trace, truncated inside its header,
 * or corrupt. The message is one line and starts with the file name; `problem` is the rest.
 */
export class TraceFileError extends Error {
  override name = 'TraceFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** A header frame is a few KiB (the topology); anything past this is not a trace. */
const MAX_HEADER_BYTES = 1 << 20;

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

async function readAll(source: string | Readable, name: string): Promise<Buffer> {
  if (typeof source !== 'string') {
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(Buffer.from(c as Uint8Array));
    return Buffer.concat(chunks);
  }
  try {
    const s = await stat(source);
    if (s.isDirectory()) throw new TraceFileError(name, 'is a directory, not a trace file');
    return await readFile(source);
  } catch (e) {
    if (e instanceof TraceFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TraceFileError(name, 'no such file');
    if (code === 'EACCES') throw new TraceFileError(name, 'permission denied');
    throw new TraceFileError(name, `cannot read: ${(e as Error).message}`);
  }
}

function isRecord(v: unknown): v is TraceRecord {
  const r = v as Partial<TraceRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.t === 'number' &&
    typeof r.n === 'number' &&
    typeof r.r === 'string' &&
    (r.d === 'r' || r.d === 'w') &&
    Array.isArray(r.l) &&
    Array.isArray(r.c)
  );
}

/**
 * Reads a whole trace (a file path or a stream). A truncated last record (the recording process
 * died mid-write) is skipped and counted in `truncatedBytes`; every other problem throws a
 * {@link TraceFileError} naming the file.
 */
export async function readTrace(source: string | Readable, name = typeof source === 'string' ? source : 'trace stream'): Promise<Trace> {
  const bytes = await readAll(source, name);
  if (bytes.length === 0) throw new TraceFileError(name, 'empty file (0 bytes), not a trace');
  const notTrace = new TraceFileError(name, `not a p2pkit trace (no '${TRACE_MAGIC}' header)`);
  if (bytes.length < 4) throw notTrace;
  const headerLength = bytes.readUInt32LE(0);
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw notTrace;
  if (bytes.length < 4 + headerLength) {
    // A cut-off header still shows the magic string near its start; otherwise it is something else.
    if (!bytes.subarray(4).includes(TRACE_MAGIC)) throw notTrace;
    throw new TraceFileError(name, `truncated: the header needs ${4 + headerLength} bytes, the file has ${bytes.length}`);
  }
  let header: TraceHeader;
  try {
    header = decodePayload(bytes.subarray(4, 4 + headerLength)) as TraceHeader;
  } catch {
    throw notTrace;
  }
  if (header?.magic !== TRACE_MAGIC) throw notTrace;
  if (!header.topology || typeof header.startNs !== 'number') throw new TraceFileError(name, 'corrupt header (no topology or start time)');

  const records: TraceRecord[] = [];
  let at = 4 + headerLength;
  while (at + 4 <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    const where = `record ${records.length + 1} at byte ${at}`;
    if (length === 0 || length > MAX_FRAME_BYTES) throw new TraceFileError(name, `corrupt: ${where} claims ${length} bytes`);
    if (at + 4 + length > bytes.length) break; // truncated tail
    let value: unknown;
    try {
      value = decodePayload(bytes.subarray(at + 4, at + 4 + length));
    } catch (e) {
      throw new TraceFileError(name, `corrupt: ${where} does not decode (${(e as Error).message.split('\n')[0]})`);
    }
    if (!isRecord(value)) throw new TraceFileError(name, `corrupt: ${where} is not a transaction record`);
    records.push(value);
    at += 4 + length;
  }
  return { header, records, truncatedBytes: bytes.length - at };
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

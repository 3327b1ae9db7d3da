/**
 * Streams transaction records to a file (or any Writable) as length-prefixed msgpack frames.
 * Records are buffered and flushed in batches; back-pressure is respected by the stream itself.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { encodeFrame } from '../codec/frames.ts';
import type { TransactionEvent } from '../observe/events.ts';
import { packCrossings, packDirection, TRACE_MAGIC, TRACE_VERSION, type TraceHeader, type TraceRecord } from './trace-format.ts';

/** Converts an event into its record. */
export function toTraceRecord(e: TransactionEvent): TraceRecord {
  const r: TraceRecord = {
    t: e.timeNs,
    r: e.requester,
    k: e.kind,
    d: packDirection(e.direction),
    a: e.address,
    n: e.length,
    l: packCrossings(e.links),
    c: packCrossings(e.completionLinks),
    mps: e.mps,
    mrrs: e.mrrs,
  };
  if (e.target) {
    r.te = e.target.endpoint;
    r.tb = e.target.bar;
    r.to = e.target.offset;
  }
  if (e.errno !== undefined) r.e = e.errno;
  return r;
}

/** Options of {@link TraceWriter.open}. */
export interface TraceWriterOptions {
  /** Batch size before a write is issued (default 64 KiB; smaller batches go out on the next tick). */
  flushBytes?: number;
  /** Called once when `close()` starts (the fabric uses it to stop feeding the writer). */
  onClose?: () => void;
}

/**
 * Writes one trace. Close it to flush. Records are encoded synchronously and written in batches;
 * if the destination is slower than the traffic, batches queue in the stream's memory.
 */
export class TraceWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private closed = false;
  private scheduled = false;
  private failure: Error | undefined;
  private onClose: (() => void) | undefined;
  /** Records written so far. */
  records = 0;

  private constructor(
    private readonly out: Writable,
    private readonly ownsStream: boolean,
    private readonly flushBytes: number,
  ) {
    out.on('error', (err: Error) => {
      this.failure ??= err;
    });
  }

  /** Opens a trace on a file path (created or truncated) or on a stream. */
  static open(target: string | Writable, header: Omit<TraceHeader, 'magic' | 'version'>, options: TraceWriterOptions = {}): TraceWriter {
    const owns = typeof target === 'string';
    const out = typeof target === 'string' ? createWriteStream(target) : target;
    const w = new TraceWriter(out, owns, options.flushBytes ?? 64 * 1024);
    w.onClose = options.onClose;
    w.push(encodeFrame({ magic: TRACE_MAGIC, version: TRACE_VERSION, ...header } satisfies TraceHeader));
    return w;
  }

  /** Appends one event. */
  write(e: TransactionEvent): void {
    if (this.closed) return;
    this.push(encodeFrame(toTraceRecord(e)));
    this.records++;
  }

  private push(frame: Uint8Array): void {
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= this.flushBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.out.write(batch);
  }

  /** Flushes and, for file targets, closes the file. Resolves when the data is written. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
    this.flush();
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (this.ownsStream) this.out.end(done);
      else this.out.write(new Uint8Array(0), done);
    });
    if (this.failure) throw this.failure;
  }
}

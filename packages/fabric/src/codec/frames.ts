/**
 * Length-prefixed msgpackr frames: `u32 little-endian payload length` + msgpack payload.
 * Used by trace files and by the remote-endpoint channel. Each frame is self-contained (no shared
 * msgpackr structures), so a reader can start at any frame boundary and a truncated tail is detectable.
 * 64-bit integers decode as `bigint` (bus addresses).
 */
import { Packr } from 'msgpackr';

/** Largest frame accepted (guards against a corrupt length prefix): 256 MiB. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', moreTypes: false });

/** Encodes one value as a frame. */
export function encodeFrame(value: unknown): Uint8Array {
  const body = packr.pack(value);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer, frame.byteOffset, 4).setUint32(0, body.length, true);
  frame.set(body, 4);
  return frame;
}

/** Decodes one frame payload (without its length prefix). */
export function decodePayload(payload: Uint8Array): unknown {
  return packr.unpack(payload);
}

/** Error for a corrupt stream. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Incremental decoder: feed arbitrary chunks, get whole values out. */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  /** Appends bytes; returns every value completed by them, in order. */
  push(chunk: Uint8Array): unknown[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: unknown[] = [];
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
      if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.buffered < 4 + length) break;
      const frame = this.take(4 + length);
      out.push(decodePayload(frame.subarray(4)));
    }
    return out;
  }

  /** Bytes of an incomplete frame still waiting for more data. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    if (first.length >= n) return first.subarray(0, n);
    this.chunks = [concat(this.chunks, this.buffered)];
    return (this.chunks[0] as Uint8Array).subarray(0, n);
  }

  private take(n: number): Uint8Array {
    let first = this.chunks[0] as Uint8Array;
    if (first.length < n) {
      first = concat(this.chunks, this.buffered);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

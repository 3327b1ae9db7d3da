import { DmaError, type DmaSpace, directViewsOf, Errno, loadDword, storeDword } from '@p2pkit/base';
import type { Segment } from './segments.ts';

/** A piece of controller-owned memory the guest reaches at a bus address (CMB, PMR). */
export interface LocalWindow {
  readonly name: 'cmb' | 'pmr';
  readonly memory: Uint8Array;
  /** Current bus address, or undefined while the window does not decode. */
  readonly busAddress: bigint | undefined;
}

export interface MemoryCounters {
  localBytes: number;
  dmaBytes: number;
}

/**
 * The controller's bus-master view: addresses inside its own CMB/PMR are served from their
 * Uint8Arrays (never DMA), everything else goes through the host's DmaSpace (guest RAM, peers).
 */
export class BusMemory {
  constructor(
    private readonly dma: () => DmaSpace | undefined,
    private readonly windows: readonly LocalWindow[],
    private readonly counters: MemoryCounters,
  ) {}

  /** The window containing `address`, if any. */
  windowAt(address: bigint): LocalWindow | undefined {
    for (const w of this.windows) {
      const base = w.busAddress;
      if (base !== undefined && address >= base && address < base + BigInt(w.memory.byteLength)) return w;
    }
    return undefined;
  }

  /** A view of local memory for the range, undefined if not local; throws if it straddles a window end. */
  localView(address: bigint, length: number): Uint8Array | undefined {
    const w = this.windowAt(address);
    if (!w) return undefined;
    const off = Number(address - (w.busAddress as bigint));
    if (off + length > w.memory.byteLength) {
      throw new DmaError(`range crosses the end of the ${w.name}`, address, length, Errno.EFAULT);
    }
    return w.memory.subarray(off, off + length);
  }

  /**
   * Zero-copy views of `segments` (own CMB/PMR bytes, or guest RAM mmapped from a DMA_MAP fd), in
   * order, or undefined when some piece has none (a Bit Bucket, DMA answered by messages only): then
   * copy with read/write. Views are valid only until the next turn of the event loop (a DMA_UNMAP
   * may arrive): use them synchronously.
   */
  views(segments: readonly Segment[], forWrite: boolean): Uint8Array[] | undefined {
    const first = segments[0];
    if (first && this.allGuestMemory(segments)) {
      // The common case (a guest buffer's pages): one call routes and counts them all.
      const views = directViewsOf(this.requireDma(first.address, first.length), segments, forWrite);
      if (views) for (const s of segments) this.counters.dmaBytes += s.length;
      return views;
    }
    const out: Uint8Array[] = [];
    let local = 0;
    let dma = 0;
    for (const s of segments) {
      if (s.bitBucket) return undefined;
      let v = this.localView(s.address, s.length);
      if (v) local += s.length;
      else {
        v = this.requireDma(s.address, s.length).directView(s.address, s.length, forWrite);
        if (!v) return undefined;
        dma += s.length;
      }
      out.push(v);
    }
    this.counters.localBytes += local;
    this.counters.dmaBytes += dma;
    return out;
  }

  /** No Bit Bucket, and no piece starts in the controller's own CMB/PMR. */
  private allGuestMemory(segments: readonly Segment[]): boolean {
    const windows = this.windows.some((w) => w.busAddress !== undefined);
    for (const s of segments) if (s.bitBucket || (windows && this.windowAt(s.address))) return false;
    return true;
  }

  /**
   * The bytes of the range without copying (own CMB/PMR, or guest RAM mapped from a DMA_MAP fd),
   * counted as a transfer; undefined when only a message-based read/write can reach them. The
   * fast path of queue fetches, PRP/SGL lists and completion writes; valid until the next turn of
   * the event loop, like {@link BusMemory.views}.
   */
  bytesAt(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined {
    const local = this.localView(address, length);
    if (local) {
      this.counters.localBytes += length;
      return local;
    }
    const direct = this.requireDma(address, length).directView(address, length, forWrite);
    if (direct) this.counters.dmaBytes += length;
    return direct;
  }

  /**
   * A little-endian dword read without a promise (one 32-bit load: the guest updates shadow
   * doorbells while we read them), or undefined when it needs a DMA message.
   */
  readU32Now(address: bigint): number | undefined {
    const b = this.bytesAt(address, 4, false);
    return b ? loadDword(b, 0) : undefined;
  }

  /** A little-endian dword write without a promise (one 32-bit store); false when it needs a DMA message. */
  writeU32Now(address: bigint, value: number): boolean {
    const b = this.bytesAt(address, 4, true);
    if (!b) return false;
    storeDword(b, 0, value);
    return true;
  }

  /** Reads a copy of the range. */
  async read(address: bigint, length: number): Promise<Uint8Array> {
    const local = this.localView(address, length);
    if (local) {
      this.counters.localBytes += length;
      return local.slice();
    }
    const dma = this.requireDma(address, length);
    this.counters.dmaBytes += length;
    const direct = dma.directView(address, length, false);
    if (direct) return direct.slice();
    return dma.read(address, length);
  }

  /** Copies `length` bytes at `address` into `target` at `targetOffset`. */
  async readInto(address: bigint, target: Uint8Array, targetOffset: number, length: number): Promise<void> {
    const local = this.localView(address, length);
    if (local) {
      this.counters.localBytes += length;
      target.set(local, targetOffset);
      return;
    }
    const dma = this.requireDma(address, length);
    this.counters.dmaBytes += length;
    const direct = dma.directView(address, length, false);
    target.set(direct ?? (await dma.read(address, length)), targetOffset);
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    const local = this.localView(address, data.byteLength);
    if (local) {
      this.counters.localBytes += data.byteLength;
      local.set(data);
      return;
    }
    const dma = this.requireDma(address, data.byteLength);
    this.counters.dmaBytes += data.byteLength;
    const direct = dma.directView(address, data.byteLength, true);
    if (direct) {
      direct.set(data);
      return;
    }
    await dma.write(address, data);
  }

  async readU32(address: bigint): Promise<number> {
    const now = this.readU32Now(address);
    if (now !== undefined) return now;
    const b = await this.read(address, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  async writeU32(address: bigint, value: number): Promise<void> {
    if (this.writeU32Now(address, value)) return;
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    await this.write(address, b);
  }

  private requireDma(address: bigint, length: number): DmaSpace {
    const dma = this.dma();
    if (!dma) throw new DmaError('no DMA space: client not attached', address, length, Errno.EFAULT);
    return dma;
  }
}

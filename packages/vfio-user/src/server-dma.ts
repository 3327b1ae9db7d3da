import { DmaError, type DmaSpace, Errno } from '@p2pkit/base';
import type { DmaWindowTable } from './dma-windows.ts';
import { DmaMapFlags } from './protocol.ts';

/** Sends one DMA_READ/DMA_WRITE request and resolves with the reply payload. */
export type DmaRequester = (command: 'read' | 'write', address: bigint, length: number, data?: Uint8Array) => Promise<Uint8Array>;

/**
 * The device's view of guest memory through one client session: mmapped DMA windows are used in
 * place (zero copy); fd-less windows and addresses outside any window (peer BARs, which QEMU
 * routes through the device's bus-master address space) go as DMA_READ/DMA_WRITE messages.
 */
export class ServerDmaSpace implements DmaSpace {
  readonly #windows: DmaWindowTable;
  readonly #request: DmaRequester;
  readonly #maxTransfer: () => number;
  /** Bytes moved through mapped windows vs through messages (observability). */
  readonly counters = { directBytes: 0, messageBytes: 0, messages: 0 };

  constructor(windows: DmaWindowTable, request: DmaRequester, maxTransfer: () => number) {
    this.#windows = windows;
    this.#request = request;
    this.#maxTransfer = maxTransfer;
  }

  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined {
    return this.#windows.directView(address, length, forWrite);
  }

  async read(address: bigint, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const jobs: Promise<void>[] = [];
    for (const seg of this.#segments(address, length, false)) {
      if (seg.mapped) {
        seg.mapped.region.readInto(seg.mapped.offset, out.subarray(seg.at, seg.at + seg.length));
        this.counters.directBytes += seg.length;
      } else {
        jobs.push(this.#viaMessages('read', seg.address, seg.length).then((d) => out.set(d, seg.at)));
      }
    }
    await Promise.all(jobs);
    return out;
  }

  async write(address: bigint, data: Uint8Array): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    for (const seg of this.#segments(address, data.length, true)) {
      const part = data.subarray(seg.at, seg.at + seg.length);
      if (seg.mapped) {
        seg.mapped.region.write(seg.mapped.offset, part);
        this.counters.directBytes += seg.length;
      } else {
        jobs.push(this.#viaMessages('write', seg.address, seg.length, part));
      }
    }
    await Promise.all(jobs);
  }

  /**
   * Split a range at window boundaries; each piece is either in a mapped window (copied in place,
   * piecewise across the mapping's view chunks) or needs messages.
   */
  *#segments(address: bigint, length: number, forWrite: boolean) {
    let at = 0;
    while (at < length) {
      const a = address + BigInt(at);
      const w = this.#windows.find(a, 1);
      let n: number;
      if (w) {
        n = Math.min(length - at, Number(w.address + w.size - a));
        if (forWrite && !(w.flags & DmaMapFlags.WRITE)) {
          throw new DmaError(`DMA write to read-only window at 0x${a.toString(16)}`, a, n, Errno.EPERM);
        }
      } else {
        n = this.#gapLength(a, length - at);
      }
      const mapped = w?.region ? { region: w.region, offset: Number(a - w.address) } : undefined;
      yield { at, address: a, length: n, mapped };
      at += n;
    }
  }

  /** Length until the next window starts (or the whole rest). */
  #gapLength(address: bigint, rest: number): number {
    const next = this.#windows.list().find((w) => w.address > address);
    return next ? Math.min(rest, Number(next.address - address)) : rest;
  }

  async #viaMessages(kind: 'read' | 'write', address: bigint, length: number, data?: Uint8Array): Promise<Uint8Array> {
    const max = this.#maxTransfer();
    const parts: Promise<Uint8Array>[] = [];
    for (let off = 0; off < length; off += max) {
      const n = Math.min(max, length - off);
      this.counters.messages++;
      this.counters.messageBytes += n;
      parts.push(this.#request(kind, address + BigInt(off), n, data?.subarray(off, off + n)));
    }
    const results = await Promise.all(parts);
    if (kind === 'write') return new Uint8Array(0);
    const out = new Uint8Array(length);
    for (const [i, r] of results.entries()) out.set(r, i * max);
    return out;
  }
}

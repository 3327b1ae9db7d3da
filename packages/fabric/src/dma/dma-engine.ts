/**
 * The DmaSpace an endpoint sees through the fabric. Each transfer is routed first (refused as a whole
 * before any byte moves if any piece is unmapped or disabled), then each piece is served:
 *
 * | route          | served by                                                           |
 * |----------------|---------------------------------------------------------------------|
 * | guest-ram      | `base.directView` (mmapped DMA_MAP window) or else `base.read/write` |
 * | peer-local     | the peer's `BarBacking` (`bytes` fast path, else its callbacks)      |
 * | peer-via-host  | `base.read/write` (QEMU routes the DMA_READ/DMA_WRITE message)       |
 *
 * A transfer spanning several targets (e.g. the end of guest RAM and a BAR) is split at the boundary
 * and each piece is routed and counted on its own.
 */
import { DmaError, type DmaRange, type DmaSpace, directViewsOf, Errno, eachDirectView, hex } from '@p2pkit/base';
import type { BarBacking } from '../routing/address-map.ts';

import { describeCrossings, isRefused, type RouteDecision, type TransferDirection } from '../routing/route.ts';
import { checkRange, MAX_TRANSFER_BYTES, sgTotal } from './scatter-gather.ts';

/** What the engine needs from its fabric. `Fabric` implements it. */
export interface DmaRouting {
  routeAll(requester: string, address: bigint, length: number, direction: TransferDirection): RouteDecision[];
  barBacking(endpoint: string, bar: number): BarBacking | undefined;
  /** Counts, emits and traces one piece. */
  record(decision: RouteDecision, via: 'view' | 'copy' | 'refused'): void;
  /**
   * One decision for several ranges when every one of them is guest RAM for `requester` (the
   * scattered pages of one buffer), else undefined: its `address` and `length` are the first
   * range's start and the ranges' total. Does not count anything.
   */
  routeGuestRam(requester: string, ranges: readonly DmaRange[], direction: TransferDirection): RouteDecision | undefined;
  /** Counts, emits and traces each range of `ranges` as one piece routed like `decision` (from routeGuestRam). */
  recordRanges(decision: RouteDecision, ranges: readonly DmaRange[], via: 'view' | 'copy'): void;
}

/** Options of a fabric DmaSpace. */
export interface DmaSpaceOptions {
  /** Chunk size of `copy` when it cannot copy in one go (default 1 MiB, QEMU's max_data_xfer_size). */
  copyChunkSize?: number;
}

/** A `DmaSpace` for one requester, plus scatter-gather and copy. */
export class FabricDmaSpace implements DmaSpace {
  private readonly chunk: number;

  constructor(
    /** The endpoint whose bus-master traffic this is. */
    readonly requester: string,
    private readonly base: DmaSpace,
    private readonly fabric: DmaRouting,
    options: DmaSpaceOptions = {},
  ) {
    this.chunk = options.copyChunkSize ?? 1 << 20;
    if (!Number.isSafeInteger(this.chunk) || this.chunk <= 0)
      throw new RangeError(`copyChunkSize ${this.chunk} must be a positive integer`);
  }

  /** Reads `length` bytes at `address`, or gathers a scatter-gather list into one buffer. */
  read(address: bigint, length: number): Promise<Uint8Array>;
  read(sg: readonly DmaRange[]): Promise<Uint8Array>;
  async read(a: bigint | readonly DmaRange[], length?: number): Promise<Uint8Array> {
    const sg = typeof a === 'bigint' ? [{ address: a, length: length as number }] : a;
    const total = sgTotal(sg);
    const plans = sg.map((e) => this.plan(e.address, e.length, 'read'));
    const [only] = plans;
    if (plans.length === 1 && only && only.length === 1) return this.readPiece(only[0] as RouteDecision);
    const out = new Uint8Array(total);
    let at = 0;
    for (const pieces of plans) {
      for (const d of pieces) {
        out.set(await this.readPiece(d), at);
        at += d.length;
      }
    }
    return out;
  }

  /** Writes `data` at `address`, or scatters it over a list (whose total length must equal `data.length`). */
  write(address: bigint, data: Uint8Array): Promise<void>;
  write(sg: readonly DmaRange[], data: Uint8Array): Promise<void>;
  async write(a: bigint | readonly DmaRange[], data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array))
      throw new DmaError('DMA write data must be a Uint8Array', typeof a === 'bigint' ? a : 0n, 0, Errno.EINVAL);
    const sg = typeof a === 'bigint' ? [{ address: a, length: data.length }] : a;
    const total = sgTotal(sg);
    if (total !== data.length)
      throw new DmaError(
        `scatter-gather list covers ${total} bytes but ${data.length} were given`,
        sg[0]?.address ?? 0n,
        data.length,
        Errno.EINVAL,
      );
    const plans = sg.map((e) => this.plan(e.address, e.length, 'write'));
    let at = 0;
    for (const pieces of plans) {
      for (const d of pieces) {
        await this.writePiece(d, data.subarray(at, at + d.length));
        at += d.length;
      }
    }
  }

  /**
   * Zero-copy view when the whole range is one guest-RAM window or one locally served BAR with plain
   * memory; `undefined` otherwise (including refused ranges: `read`/`write` then report the error).
   * Returning a view counts as a transfer of `length` bytes in the `forWrite` direction.
   */
  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined {
    if (typeof address !== 'bigint' || !Number.isSafeInteger(length) || length <= 0 || length > MAX_TRANSFER_BYTES) return undefined;
    const pieces = this.fabric.routeAll(this.requester, address, length, forWrite ? 'write' : 'read');
    const d = pieces[0];
    if (pieces.length !== 1 || !d || d.length !== length) return undefined;
    const view = this.viewOf(d, forWrite);
    if (view) this.fabric.record(d, 'view');
    return view;
  }

  /**
   * Zero-copy views of several ranges (see {@link DmaSpace.directViews}): when they are all guest
   * RAM they are routed and counted together — the same counters, events and traces as one
   * `directView` per range, without the per-range route; anything else goes range by range.
   */
  directViews(ranges: readonly DmaRange[], forWrite: boolean): Uint8Array[] | undefined {
    const route = ranges.every((r) => r.length <= MAX_TRANSFER_BYTES)
      ? this.fabric.routeGuestRam(this.requester, ranges, forWrite ? 'write' : 'read')
      : undefined;
    if (!route) return eachDirectView(this, ranges, forWrite);
    const views = directViewsOf(this.base, ranges, forWrite);
    if (views) this.fabric.recordRanges(route, ranges, 'view');
    return views;
  }

  /**
   * Device-initiated copy of `length` bytes from bus address `src` to `dst` (a read by this
   * requester followed by a write). Both ranges are checked before anything moves. Overlapping
   * ranges in the same target behave like `memmove` when done in one piece, and are copied
   * chunk by chunk front to back otherwise.
   */
  async copy(src: bigint, dst: bigint, length: number): Promise<void> {
    checkRange(src, length);
    checkRange(dst, length);
    const reads = this.plan(src, length, 'read');
    const writes = this.plan(dst, length, 'write');
    const [r] = reads;
    const [w] = writes;
    if (reads.length === 1 && writes.length === 1 && r && w) {
      const from = this.viewOf(r, false);
      const to = from && this.viewOf(w, true);
      if (from && to) {
        to.set(from);
        this.fabric.record(r, 'view');
        this.fabric.record(w, 'view');
        return;
      }
    }
    for (let done = 0; done < length; ) {
      const n = Math.min(this.chunk, length - done);
      const data = await this.read(src + BigInt(done), n);
      await this.write(dst + BigInt(done), data);
      done += n;
    }
  }

  /** Routes a range and refuses it as a whole if any piece is refused. */
  private plan(address: bigint, length: number, direction: TransferDirection): RouteDecision[] {
    checkRange(address, length);
    if (length === 0) return [];
    const pieces = this.fabric.routeAll(this.requester, address, length, direction);
    const bad = pieces.find(isRefused);
    if (bad) {
      this.fabric.record(bad, 'refused');
      throw new DmaError(
        `${this.requester}: DMA ${direction} of ${length} bytes at ${hex(address)} refused: ${bad.reason}`,
        address,
        length,
        bad.errno ?? Errno.EFAULT,
      );
    }
    return pieces;
  }

  private viewOf(d: RouteDecision, forWrite: boolean): Uint8Array | undefined {
    if (d.kind === 'guest-ram') return this.base.directView(d.address, d.length, forWrite);
    if (d.kind === 'peer-local' && d.target) {
      const bytes = this.fabric.barBacking(d.target.endpoint, d.target.bar)?.bytes;
      const off = Number(d.target.offset);
      if (bytes && off + d.length <= bytes.length) return bytes.subarray(off, off + d.length);
    }
    return undefined;
  }

  private localBacking(d: RouteDecision): BarBacking {
    const target = d.target as NonNullable<RouteDecision['target']>;
    const backing = this.fabric.barBacking(target.endpoint, target.bar);
    if (!backing) throw new DmaError(`${target.endpoint} BAR${target.bar} has no local backing`, d.address, d.length, Errno.EIO);
    return backing;
  }

  private async readPiece(d: RouteDecision): Promise<Uint8Array> {
    let data: Uint8Array;
    const view = this.viewOf(d, false);
    if (view) data = view.slice();
    else if (d.kind === 'peer-local')
      data = await this.localBacking(d).read((d.target as NonNullable<RouteDecision['target']>).offset, d.length);
    else data = await this.base.read(d.address, d.length);
    if (data.length !== d.length) {
      throw new DmaError(
        `${this.requester}: read at ${hex(d.address)} returned ${data.length} of ${d.length} bytes (${describeCrossings(d.links)})`,
        d.address,
        d.length,
        Errno.EIO,
      );
    }
    this.fabric.record(d, 'copy');
    return data;
  }

  private async writePiece(d: RouteDecision, data: Uint8Array): Promise<void> {
    const view = this.viewOf(d, true);
    if (view) view.set(data);
    else if (d.kind === 'peer-local') await this.localBacking(d).write((d.target as NonNullable<RouteDecision['target']>).offset, data);
    else await this.base.write(d.address, data);
    this.fabric.record(d, 'copy');
  }
}

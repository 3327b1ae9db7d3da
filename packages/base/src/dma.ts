/**
 * Guest-visible memory as a device sees it: its bus-master address space. The vfio-user server
 * implements it over DMA_MAP windows and DMA_READ/DMA_WRITE messages; the fabric implements it over
 * the modelled PCIe topology; tests implement it over plain buffers.
 */

/**
 * A device's bus-master address space. Never awaited inside a region callback (a reply must not
 * wait for a DMA answer; see docs/architecture.md, "No deadlock, by construction").
 */
export interface DmaSpace {
  /** Read `length` bytes at bus address `address`. Rejects with a {@link DmaError} for unmapped/forbidden ranges. */
  read(address: bigint, length: number): Promise<Uint8Array>;
  /** Write `data` at bus address `address`. Rejects with a {@link DmaError}. */
  write(address: bigint, data: Uint8Array): Promise<void>;
  /**
   * Zero-copy access when the whole range lies in one mapped guest-RAM window with the needed
   * permission; `undefined` otherwise (then use read/write). The view is valid only until the next
   * turn of the event loop (a DMA_UNMAP may arrive); never keep it.
   */
  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined;
  /**
   * {@link DmaSpace.directView} of several ranges at once (e.g. the scattered pages of one
   * command's buffer): their views in order, or `undefined` when some range has none. Counted as
   * one transfer per range, like `directView`. Optional: {@link directViewsOf} falls back to one
   * `directView` per range; a space implements it when per-call work (routing, gating) can be
   * shared by the ranges.
   */
  directViews?(ranges: readonly DmaRange[], forWrite: boolean): Uint8Array[] | undefined;
}

/** A range of bus addresses: where a piece of a transfer starts, and its length in bytes. */
export interface DmaRange {
  readonly address: bigint;
  readonly length: number;
}

/** `space.directViews(ranges)` when the space has it, else {@link eachDirectView}. */
export function directViewsOf(space: DmaSpace, ranges: readonly DmaRange[], forWrite: boolean): Uint8Array[] | undefined {
  return space.directViews ? space.directViews(ranges, forWrite) : eachDirectView(space, ranges, forWrite);
}

/** One `space.directView` per range, in order; undefined as soon as one range has none. */
export function eachDirectView(
  space: Pick<DmaSpace, 'directView'>,
  ranges: readonly DmaRange[],
  forWrite: boolean,
): Uint8Array[] | undefined {
  const views: Uint8Array[] = [];
  for (const r of ranges) {
    const v = space.directView(r.address, r.length, forWrite);
    if (!v) return undefined;
    views.push(v);
  }
  return views;
}

/** Failure of a device-initiated transfer. `errno` is a Linux {@link Errno} value (EFAULT, EPERM, ...). */
export class DmaError extends Error {
  constructor(
    message: string,
    readonly address: bigint,
    readonly length: number,
    readonly errno: number,
  ) {
    super(message);
    this.name = 'DmaError';
  }
}

/** One contiguous piece of a command's data buffer in bus address space. */
export interface Segment {
  address: bigint;
  length: number;
  /** SGL Bit Bucket: controller→host data for this piece is discarded (NVMe 2.0 §4.3.2). */
  bitBucket?: boolean;
}

/** A data pointer walk either yields segments or fails with a status. */
export type SegmentWalk = { ok: true; segments: Segment[] } | { ok: false; status: number; message: string };

/** Appends, merging with the previous segment when physically contiguous. */
export function pushSegment(list: Segment[], seg: Segment): void {
  if (seg.length === 0) return;
  const last = list[list.length - 1];
  if (last && !last.bitBucket && !seg.bitBucket && last.address + BigInt(last.length) === seg.address) {
    last.length += seg.length;
    return;
  }
  list.push(seg.bitBucket ? { address: seg.address, length: seg.length, bitBucket: true } : { address: seg.address, length: seg.length });
}

/** A list a data pointer walk needs next (PRP list page, SGL segment): `length` bytes at `address`. */
export interface ListRead {
  address: bigint;
  length: number;
}

/**
 * A data pointer walk as steps: it yields each list it needs and is resumed with the list's bytes,
 * so one walk runs synchronously over mapped memory and asynchronously over DMA messages.
 */
export type WalkSteps = Generator<ListRead, SegmentWalk, Uint8Array>;

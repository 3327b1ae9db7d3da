/** Completion queue entry as posted (NVMe 2.0 base §4.2.4). */
export interface Completion {
  dw0: number;
  dw1: number;
  sqid: number;
  cid: number;
  /** 15-bit status field (SC, SCT, CRD, M, DNR) without the phase tag. */
  status: number;
}

/** Submission queue state. `tail` follows the host's doorbell (MMIO or shadow). */
export class SubmissionQueue {
  head = 0;
  tail = 0;
  /** Commands fetched and not yet completed. */
  inflight = 0;
  /** Resolvers waiting for inflight to reach 0 (queue deletion). */
  drainWaiters: (() => void)[] = [];
  /** Worker bookkeeping: a drain loop is active / must run again. */
  running = false;
  rerun = false;
  deleted = false;

  constructor(
    readonly id: number,
    readonly base: bigint,
    readonly size: number,
    readonly cqid: number,
    readonly priority: number,
    /** The queue lives in the controller's CMB. */
    readonly inCmb: boolean,
  ) {}

  get empty(): boolean {
    return this.head === this.tail;
  }

  entryAddress(index: number): bigint {
    return this.base + BigInt(index * 64);
  }
}

/** Completion queue state. `head` follows the host's doorbell, `tail` and `phase` are ours. */
export class CompletionQueue {
  head = 0;
  tail = 0;
  phase = 1;
  /** SQs that post to this CQ (deletion order, §5.6). */
  readonly sqids = new Set<number>();
  /** Completions that found the queue full (§3.3.1.2): posted when the host frees slots. */
  readonly overflow: Completion[] = [];
  /** Serialises CQE writes so entries become visible in order. */
  chain: Promise<void> = Promise.resolve();
  /**
   * Head before the controller last advanced it from the shadow doorbell buffer. A posted MMIO
   * head doorbell written before that shadow update can still arrive afterwards; a value in
   * (shadowHeadFrom, head] is such a stale write, not a driver error.
   */
  shadowHeadFrom: number | undefined;

  constructor(
    readonly id: number,
    readonly base: bigint,
    readonly size: number,
    readonly vector: number,
    readonly interruptsEnabled: boolean,
    readonly inCmb: boolean,
  ) {}

  get full(): boolean {
    return (this.tail + 1) % this.size === this.head;
  }

  get pending(): boolean {
    return this.head !== this.tail;
  }

  entryAddress(index: number): bigint {
    return this.base + BigInt(index * 16);
  }

  /** Takes the next slot and returns its index and phase tag. */
  reserve(): { index: number; phase: number } {
    const slot = { index: this.tail, phase: this.phase };
    this.tail = (this.tail + 1) % this.size;
    if (this.tail === 0) this.phase ^= 1;
    return slot;
  }
}

/** Encodes a CQE with phase tag `phase`. */
export function encodeCompletion(c: Completion, sqHead: number, phase: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, c.dw0 >>> 0, true);
  v.setUint32(4, c.dw1 >>> 0, true);
  v.setUint16(8, sqHead, true);
  v.setUint16(10, c.sqid, true);
  v.setUint16(12, c.cid, true);
  v.setUint16(14, ((c.status & 0x7fff) << 1) | (phase & 1), true);
  return b;
}

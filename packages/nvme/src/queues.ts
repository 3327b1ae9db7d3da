import { storeDword } from '@p2pkit/base';
import { SQE_BYTES } from './command.ts';
import { CQE_SIZE_LOG } from './registers.ts';

/** Bytes in a completion queue entry (CC.IOCQES = 4). */
export const CQE_BYTES = 1 << CQE_SIZE_LOG;

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
    return this.base + BigInt(index * SQE_BYTES);
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
    return this.base + BigInt(index * CQE_BYTES);
  }

  /** Takes the next slot and returns its index and phase tag. */
  reserve(): { index: number; phase: number } {
    const slot = { index: this.tail, phase: this.phase };
    this.tail = (this.tail + 1) % this.size;
    if (this.tail === 0) this.phase ^= 1;
    return slot;
  }
}

/** Byte offsets of the completion entry fields (NVMe 2.0 base §4.2.4, Figure 92). */
const CqeField = { dw0: 0, dw1: 4, sqHead: 8, sqid: 10, cid: 12, statusAndPhase: 14 } as const;

/** Encodes a CQE with phase tag `phase`. */
export function encodeCompletion(c: Completion, sqHead: number, phase: number): Uint8Array {
  const b = new Uint8Array(CQE_BYTES);
  writeCompletion(b, c, sqHead, phase);
  return b;
}

/**
 * Writes a CQE into `target` (16 bytes, e.g. the CQ slot itself) one dword store at a time, the
 * dword holding the phase tag last and whole, so a host polling the slot never sees the new phase
 * with stale fields (nor with half of a new status).
 */
export function writeCompletion(target: Uint8Array, c: Completion, sqHead: number, phase: number): void {
  storeDword(target, CqeField.dw0, c.dw0);
  storeDword(target, CqeField.dw1, c.dw1);
  storeDword(target, CqeField.sqHead, (sqHead & 0xffff) | ((c.sqid & 0xffff) << 16));
  storeDword(target, CqeField.cid, (c.cid & 0xffff) | ((((c.status & 0x7fff) << 1) | (phase & 1)) << 16));
}

/** A posted CQE as the host reads it: the completion, the SQ head it reports and its phase tag. */
export interface PostedCompletion extends Completion {
  sqHead: number;
  phase: number;
}

/**
 * Decodes the CQE at byte `at` of `view` (host side: a test driver). One view of a whole CQ ring
 * serves every slot: nothing is allocated but the result.
 */
export function decodeCompletion(view: DataView, at: number): PostedCompletion {
  const statusAndPhase = view.getUint16(at + CqeField.statusAndPhase, true);
  return {
    dw0: view.getUint32(at + CqeField.dw0, true),
    dw1: view.getUint32(at + CqeField.dw1, true),
    sqid: view.getUint16(at + CqeField.sqid, true),
    cid: view.getUint16(at + CqeField.cid, true),
    status: statusAndPhase >>> 1,
    sqHead: view.getUint16(at + CqeField.sqHead, true),
    phase: statusAndPhase & 1,
  };
}

/** The phase tag of the CQE at byte `at` of `bytes`: the one field a poll of an empty CQ reads. */
export function completionPhase(bytes: Uint8Array, at: number): number {
  return (bytes[at + CqeField.statusAndPhase] as number) & 1;
}

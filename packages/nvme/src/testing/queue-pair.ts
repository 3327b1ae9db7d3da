/**
 * The host's side of one submission/completion queue pair: ring memory, SQ tail, CQ head and the
 * phase tag it expects next. Entries are encoded and decoded with the controller's own layouts
 * (`encodeSubmission` in `../command.ts`, `decodeCompletion` in `../queues.ts`).
 */
import { encodeSubmission, SQE_BYTES, type SubmissionFields } from '../command.ts';
import { type Completion, CQE_BYTES, decodeCompletion } from '../queues.ts';
import { DNR } from '../status.ts';

/** A command for {@link QueuePair.push}: every submission entry field but the CID, which the queue assigns. */
export type NvmeCommand = Omit<SubmissionFields, 'cid'>;

/** CPU-visible memory holding a ring or buffer: guest memory, or a device BAR mapping such as the CMB. */
export interface QueueMemory {
  /** Bus address the controller uses. */
  address: bigint;
  /** The same bytes as this process sees them. */
  bytes: Uint8Array;
}

/** A completion queue entry as the host reads it. */
export interface CompletionEntry extends Omit<Completion, 'status'> {
  /** Status Code Type and Status Code, `(SCT << 8) | SC`: compare with `Status.*` (0 is success). */
  status: number;
  /** Do Not Retry. */
  dnr: boolean;
  /** The SQ head the controller reported (SQHD). */
  sqHead: number;
}

/** Ring state of one queue pair (SQ `qid` posting to CQ `qid`). */
export class QueuePair {
  /** Next free SQ slot (the value the SQ tail doorbell receives). */
  sqTail = 0;
  /** SQ head as last reported by a completion. */
  sqHead = 0;
  /** Next CQ slot to read (the value the CQ head doorbell receives). */
  cqHead = 0;
  /** Phase tag of a new entry at {@link QueuePair.cqHead}. */
  phase = 1;
  #nextCid = 1;

  /**
   * @param qid - queue ID (0: admin).
   * @param submissionQueue - SQ ring memory, `submissionEntries` × 64 bytes.
   * @param completionQueue - CQ ring memory, `completionEntries` × 16 bytes.
   */
  constructor(
    readonly qid: number,
    readonly submissionQueue: QueueMemory,
    readonly submissionEntries: number,
    readonly completionQueue: QueueMemory,
    readonly completionEntries: number,
  ) {
    if (submissionQueue.bytes.length < submissionEntries * SQE_BYTES || completionQueue.bytes.length < completionEntries * CQE_BYTES) {
      throw new RangeError(`queue ${qid}: ring memory smaller than its entries`);
    }
  }

  /** Whether the SQ has no free slot (as far as the completions read so far tell). */
  get full(): boolean {
    return (this.sqTail + 1) % this.submissionEntries === this.sqHead;
  }

  /** Writes `command` at the SQ tail with a fresh CID and advances the tail (no doorbell); returns the CID. */
  push(command: NvmeCommand): number {
    if (this.full) throw new Error(`queue ${this.qid}: SQ full (${this.submissionEntries} entries); reap completions first`);
    const cid = this.#nextCid;
    this.#nextCid = (this.#nextCid % 0xfffe) + 1;
    const at = this.sqTail * SQE_BYTES;
    // Encoded in place (the slot is the guest CPU's view of the ring): no intermediate entry.
    encodeSubmission({ ...command, cid }, this.submissionQueue.bytes.subarray(at, at + SQE_BYTES));
    this.sqTail = (this.sqTail + 1) % this.submissionEntries;
    return cid;
  }

  /** The entry at the CQ head if the controller has posted it (its phase tag matches), without consuming it. */
  peek(): CompletionEntry | undefined {
    const at = this.cqHead * CQE_BYTES;
    // The phase tag first (bit 0 of byte 14): an empty CQ decodes nothing.
    if (((this.completionQueue.bytes[at + 14] as number) & 1) !== this.phase) return undefined;
    const { completion, sqHead, phase } = decodeCompletion(this.completionQueue.bytes.subarray(at, at + CQE_BYTES));
    if (phase !== this.phase) return undefined;
    return { ...completion, status: completion.status & 0x7ff, dnr: (completion.status & DNR) !== 0, sqHead };
  }

  /** Consumes the entry at the CQ head (after {@link QueuePair.peek} returned it). */
  advance(entry: CompletionEntry): void {
    this.sqHead = entry.sqHead % this.submissionEntries;
    this.cqHead = (this.cqHead + 1) % this.completionEntries;
    if (this.cqHead === 0) this.phase ^= 1;
  }
}

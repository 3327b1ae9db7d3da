/**
 * The host's side of one submission/completion queue pair: ring memory, SQ tail, CQ head and the
 * phase tag it expects next. Entries are encoded and decoded with the controller's own layouts
 * (`writeSubmission` in `../command.ts`, `decodeCompletion` in `../queues.ts`).
 */
import { SQE_BYTES, type SubmissionFields, writeSubmission } from '../command.ts';
import { type Completion, CQE_BYTES, completionPhase, decodeCompletion } from '../queues.ts';
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
  /** One view per ring, made once: encoding and decoding allocate no per-entry view. */
  readonly #sqView: DataView;
  readonly #cqView: DataView;

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
    this.#sqView = new DataView(submissionQueue.bytes.buffer, submissionQueue.bytes.byteOffset, submissionEntries * SQE_BYTES);
    this.#cqView = new DataView(completionQueue.bytes.buffer, completionQueue.bytes.byteOffset, completionEntries * CQE_BYTES);
  }

  /** Whether the SQ has no free slot (as far as the completions read so far tell). */
  get full(): boolean {
    return (this.sqTail + 1) % this.submissionEntries === this.sqHead;
  }

  /**
   * Writes `command` at the SQ tail with a fresh CID and advances the tail (no doorbell); returns the
   * CID. `flags` (CDW0 bits 15:8) default to `command.flags`.
   */
  push(command: NvmeCommand, flags = command.flags ?? 0): number {
    if (this.full) throw new Error(`queue ${this.qid}: SQ full (${this.submissionEntries} entries); reap completions first`);
    const cid = this.#nextCid;
    this.#nextCid = (this.#nextCid % 0xfffe) + 1;
    // Encoded in place (the slot is the guest CPU's view of the ring): no intermediate entry.
    writeSubmission(this.#sqView, this.sqTail * SQE_BYTES, command, cid, flags);
    this.sqTail = (this.sqTail + 1) % this.submissionEntries;
    return cid;
  }

  /** Whether the controller has posted the entry at the CQ head (its phase tag matches): reads one byte. */
  get ready(): boolean {
    return completionPhase(this.completionQueue.bytes, this.cqHead * CQE_BYTES) === this.phase;
  }

  /** The entry at the CQ head if the controller has posted it (its phase tag matches), without consuming it. */
  peek(): CompletionEntry | undefined {
    // The phase tag first: an empty CQ decodes nothing. The controller stores the dword holding it
    // last and whole, so a matching tag means the other fields are already there.
    if (!this.ready) return undefined;
    const c = decodeCompletion(this.#cqView, this.cqHead * CQE_BYTES);
    return { dw0: c.dw0, dw1: c.dw1, sqid: c.sqid, cid: c.cid, status: c.status & 0x7ff, dnr: (c.status & DNR) !== 0, sqHead: c.sqHead };
  }

  /** Consumes the entry at the CQ head (after {@link QueuePair.peek} returned it). */
  advance(entry: CompletionEntry): void {
    this.sqHead = entry.sqHead % this.submissionEntries;
    this.cqHead = (this.cqHead + 1) % this.completionEntries;
    if (this.cqHead === 0) this.phase ^= 1;
  }
}

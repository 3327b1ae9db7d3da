import { DmaError } from '@p2pkit/vfio-user';
import { SubmissionEntry } from './command.ts';
import { type AsyncEvent, AsyncEventType, ErrorEventInfo } from './events.ts';
import type { InterruptController } from './interrupts.ts';
import type { BusMemory } from './memory.ts';
import { type Completion, type CompletionQueue, encodeCompletion, type SubmissionQueue } from './queues.ts';
import type { ShadowDoorbells } from './shadow-doorbells.ts';
import type { NvmeStats } from './stats.ts';

export interface QueueEngineDeps {
  memory: BusMemory;
  shadow: ShadowDoorbells;
  interrupts: InterruptController;
  stats: NvmeStats;
  maxInflightPerQueue: number;
  schedule(task: () => void): void;
  /** Controller enabled, ready and not shut down. */
  processing(): boolean;
  /** Runs one command to completion (never rejects). */
  execute(sq: SubmissionQueue, entry: SubmissionEntry): Promise<void>;
  raiseEvent(e: AsyncEvent): void;
  guestError(message: string, detail?: Record<string, unknown>): void;
  /** The controller cannot continue (CSTS.CFS). */
  fatal(message: string, detail?: Record<string, unknown>): void;
  /** Every CQ on `vector` is empty again (pin-based interrupts deassert). */
  vectorIdle(vector: number): void;
}

interface Pending {
  completion: Completion;
  sqHead: number;
}

/**
 * Submission/completion queue machinery (NVMe 2.0 base §3.3): doorbells, fetching, in-order CQE
 * posting with phase tags, CQ-full back-pressure, shadow doorbells with EventIdx (§5.8).
 */
export class QueueEngine {
  readonly sqs = new Map<number, SubmissionQueue>();
  readonly cqs = new Map<number, CompletionQueue>();
  private readonly pending = new Map<number, Pending[]>();
  /** Bumped on every reset; async work from an older epoch is discarded. */
  epoch = 0;

  constructor(private readonly d: QueueEngineDeps) {}

  addCq(cq: CompletionQueue): void {
    this.cqs.set(cq.id, cq);
    this.pending.set(cq.id, []);
  }

  addSq(sq: SubmissionQueue): void {
    this.sqs.set(sq.id, sq);
    this.cqs.get(sq.cqid)?.sqids.add(sq.id);
  }

  /** Stops fetching, waits for commands in flight (their completions still post), removes the SQ. */
  async deleteSq(id: number): Promise<void> {
    const sq = this.sqs.get(id);
    if (!sq) return;
    sq.deleted = true;
    if (sq.inflight > 0) await new Promise<void>((resolve) => sq.drainWaiters.push(resolve));
    this.sqs.delete(id);
    this.cqs.get(sq.cqid)?.sqids.delete(id);
  }

  deleteCq(id: number): void {
    this.cqs.delete(id);
    this.pending.delete(id);
  }

  /** Drops every queue (controller reset). In-flight commands finish but post nothing. */
  reset(): void {
    this.epoch++;
    for (const sq of this.sqs.values()) {
      sq.deleted = true;
      for (const w of sq.drainWaiters.splice(0)) w();
    }
    this.sqs.clear();
    this.cqs.clear();
    this.pending.clear();
  }

  /** MMIO doorbell write (synchronous): `index` = (offset - 0x1000) / stride. */
  doorbell(index: number, value: number): void {
    this.d.stats.doorbellWrites++;
    const qid = index >>> 1;
    const isCq = (index & 1) === 1;
    if (!this.d.processing()) {
      this.d.guestError('doorbell write while the controller is not ready', { qid, isCq, value });
      return;
    }
    if (isCq) {
      const cq = this.cqs.get(qid);
      if (!cq) return this.invalidDoorbell(ErrorEventInfo.InvalidDoorbellRegister, 'CQ head doorbell of a missing queue', { qid, value });
      if (!this.validCqHead(cq, value)) {
        if (this.staleShadowedCqHead(cq, value)) return;
        return this.invalidDoorbell(ErrorEventInfo.InvalidDoorbellValue, 'CQ head beyond tail', {
          qid,
          value,
          head: cq.head,
          tail: cq.tail,
        });
      }
      this.setCqHead(cq, value);
      return;
    }
    const sq = this.sqs.get(qid);
    if (!sq || sq.deleted)
      return this.invalidDoorbell(ErrorEventInfo.InvalidDoorbellRegister, 'SQ tail doorbell of a missing queue', { qid, value });
    if (value >= sq.size)
      return this.invalidDoorbell(ErrorEventInfo.InvalidDoorbellValue, 'SQ tail beyond queue size', { qid, value, size: sq.size });
    sq.tail = value;
    this.kick(sq);
  }

  private invalidDoorbell(info: number, message: string, detail: Record<string, unknown>): void {
    this.d.guestError(message, detail);
    this.d.raiseEvent({ type: AsyncEventType.Error, info, logPage: 0x01 });
  }

  /** A posted head doorbell overtaken by a shadow-buffer update (see CompletionQueue.shadowHeadFrom). */
  private staleShadowedCqHead(cq: CompletionQueue, value: number): boolean {
    const from = cq.shadowHeadFrom;
    if (from === undefined || value >= cq.size || !this.d.shadow.applies(cq.id)) return false;
    const span = (cq.head - from + cq.size) % cq.size;
    const at = (value - from + cq.size) % cq.size;
    return at > 0 && at <= span;
  }

  private validCqHead(cq: CompletionQueue, value: number): boolean {
    if (value >= cq.size) return false;
    const used = (cq.tail - cq.head + cq.size) % cq.size;
    return (value - cq.head + cq.size) % cq.size <= used;
  }

  private setCqHead(cq: CompletionQueue, head: number): void {
    cq.head = head;
    cq.shadowHeadFrom = undefined;
    if ((this.pending.get(cq.id)?.length ?? 0) > 0) this.flushCq(cq);
    if (!cq.pending && cq.interruptsEnabled) {
      const busy = [...this.cqs.values()].some((q) => q.vector === cq.vector && q.pending);
      if (!busy) this.d.vectorIdle(cq.vector);
    }
  }

  /** Schedules the SQ's fetch loop (runs after the current MMIO reply). */
  kick(sq: SubmissionQueue): void {
    if (sq.running) {
      sq.rerun = true;
      return;
    }
    sq.running = true;
    const epoch = this.epoch;
    this.d.schedule(() => void this.drain(sq, epoch));
  }

  private stale(sq: SubmissionQueue, epoch: number): boolean {
    return epoch !== this.epoch || sq.deleted || !this.d.processing();
  }

  private async refreshShadowTail(sq: SubmissionQueue): Promise<boolean> {
    const t = await this.d.shadow.readSqTail(sq.id);
    if (t >= sq.size || t === sq.tail) return false;
    sq.tail = t;
    this.d.stats.shadowDoorbellHits++;
    return true;
  }

  private async drain(sq: SubmissionQueue, epoch: number): Promise<void> {
    const limit = sq.id === 0 ? 1 : Math.max(1, this.d.maxInflightPerQueue);
    try {
      for (;;) {
        sq.rerun = false;
        if (this.stale(sq, epoch)) return;
        const shadow = this.d.shadow.applies(sq.id);
        if (shadow) await this.refreshShadowTail(sq);
        while (!sq.empty && sq.inflight < limit && !this.stale(sq, epoch)) {
          // One read for every contiguous entry we may start now (a single DMA message on slow paths).
          const contiguous = sq.tail > sq.head ? sq.tail - sq.head : sq.size - sq.head;
          const n = Math.min(contiguous, limit - sq.inflight);
          const raw = await this.d.memory.read(sq.entryAddress(sq.head), n * 64);
          if (this.stale(sq, epoch)) return;
          for (let i = 0; i < n; i++) {
            sq.head = (sq.head + 1) % sq.size;
            sq.inflight++;
            const entry = new SubmissionEntry(raw.slice(i * 64, (i + 1) * 64), sq.id);
            const run = this.d.execute(sq, entry).finally(() => this.retire(sq));
            if (sq.id === 0) await run;
          }
        }
        if (shadow && !this.stale(sq, epoch)) {
          // EventIdx protocol: publish what we consumed, then re-check for a racing host update.
          await this.d.shadow.writeSqEventIdx(sq.id, sq.tail);
          if (await this.refreshShadowTail(sq)) continue;
        }
        if (!sq.rerun) return;
      }
    } catch (err) {
      if (err instanceof DmaError) {
        this.d.guestError('submission queue entry fetch failed', { sqid: sq.id, address: err.address, errno: err.errno });
        this.d.fatal(`SQ ${sq.id} fetch failed`, { address: err.address });
      } else {
        this.d.fatal(`SQ ${sq.id} worker failed: ${(err as Error).message}`);
      }
    } finally {
      sq.running = false;
    }
  }

  private retire(sq: SubmissionQueue): void {
    sq.inflight--;
    if (sq.inflight === 0) for (const w of sq.drainWaiters.splice(0)) w();
    if (!sq.deleted && !sq.empty) this.kick(sq);
  }

  /** Queues a completion for `sq`'s CQ; entries become visible in order. */
  post(sq: SubmissionQueue, completion: Completion, epoch: number): void {
    if (epoch !== this.epoch) return;
    const cq = this.cqs.get(sq.cqid);
    const list = this.pending.get(sq.cqid);
    if (!cq || !list) return;
    list.push({ completion, sqHead: sq.head });
    this.flushCq(cq);
  }

  private flushCq(cq: CompletionQueue): void {
    const epoch = this.epoch;
    cq.chain = cq.chain
      .then(() => this.writeCompletions(cq, epoch))
      .catch((err: unknown) => {
        if (err instanceof DmaError)
          this.d.guestError('completion queue write failed', { cqid: cq.id, address: err.address, errno: err.errno });
        this.d.fatal(`CQ ${cq.id} post failed: ${(err as Error).message}`);
      });
  }

  private async writeCompletions(cq: CompletionQueue, epoch: number): Promise<void> {
    const list = this.pending.get(cq.id);
    let posted = 0;
    while (list && list.length > 0 && epoch === this.epoch && this.cqs.get(cq.id) === cq) {
      if (cq.full && !(await this.roomAfterShadowHead(cq))) {
        this.d.stats.completionQueueFullStalls++;
        break; // resumes on the next CQ head doorbell
      }
      const p = list.shift() as Pending;
      const slot = cq.reserve();
      await this.d.memory.write(cq.entryAddress(slot.index), encodeCompletion(p.completion, p.sqHead, slot.phase));
      this.d.stats.completionsPosted++;
      posted++;
    }
    if (posted > 0 && cq.interruptsEnabled && epoch === this.epoch) this.d.interrupts.notify(cq.vector);
  }

  /** A full CQ under shadow doorbells: the host may have moved its head without MMIO. */
  private async roomAfterShadowHead(cq: CompletionQueue): Promise<boolean> {
    if (!this.d.shadow.applies(cq.id)) return false;
    const readHead = async () => {
      const h = await this.d.shadow.readCqHead(cq.id);
      if (this.validCqHead(cq, h) && h !== cq.head) {
        cq.shadowHeadFrom = cq.head;
        cq.head = h;
      }
      return !cq.full;
    };
    if (await readHead()) return true;
    // Ask for an MMIO doorbell on the next head update, then close the race.
    await this.d.shadow.writeCqEventIdx(cq.id, cq.head);
    return readHead();
  }

  /** Current SQ/CQ values for seeding shadow doorbells of existing I/O queues. */
  ioQueues(): { sqs: SubmissionQueue[]; cqs: CompletionQueue[] } {
    return { sqs: [...this.sqs.values()].filter((q) => q.id !== 0), cqs: [...this.cqs.values()].filter((q) => q.id !== 0) };
  }
}

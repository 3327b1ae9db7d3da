import { DmaError } from '@p2pkit/base';
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
  /** Adaptive shadow SQ tail polling ('shadow-poll'); undefined: EventIdx-driven MMIO doorbells only. */
  poll?: { minIntervalUs: number; maxIntervalUs: number; idleStopUs: number } | undefined;
  schedule(task: () => void): void;
  /** Controller enabled, ready and not shut down. */
  processing(): boolean;
  /** Runs one command to completion (never rejects). */
  execute(sq: SubmissionQueue, entry: SubmissionEntry): Promise<void>;
  raiseEvent(e: AsyncEvent): void;
  guestError(message: string, detail?: Record<string, unknown>): void;
  /**
   * The controller cannot continue (CSTS.CFS). `cause` 'guest': the host made it impossible (queue
   * memory outside guest RAM, bus mastering off) — logged as a guest error, not as a device bug.
   */
  fatal(message: string, detail?: Record<string, unknown>, cause?: 'guest' | 'device'): void;
  /** Every CQ on `vector` is empty again (pin-based interrupts deassert). */
  vectorIdle(vector: number): void;
}

interface Pending {
  completion: Completion;
  sqHead: number;
}

/** 'shadow-poll' state of one I/O SQ. */
interface PollState {
  /** Polling: SQ EventIdx sits one behind the tail so the driver skips MMIO doorbells. */
  active: boolean;
  delayUs: number;
  /** performance.now() of the last new tail / MMIO doorbell / completion. */
  lastActivity: number;
  /** performance.now() when the pending poll was scheduled. */
  armedAt: number;
  timer: { cancel(): void } | undefined;
  /** Last SQ EventIdx value written while polling (skips rewriting the same value). */
  eventIdx: number | undefined;
}

const now = () => performance.now();

/**
 * Submission/completion queue machinery (NVMe 2.0 base §3.3): doorbells, fetching, in-order CQE
 * posting with phase tags, CQ-full back-pressure, shadow doorbells with EventIdx (§5.8).
 */
export class QueueEngine {
  readonly sqs = new Map<number, SubmissionQueue>();
  readonly cqs = new Map<number, CompletionQueue>();
  private readonly pending = new Map<number, Pending[]>();
  private readonly polls = new Map<SubmissionQueue, PollState>();
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
    this.polls.get(sq)?.timer?.cancel();
    this.polls.delete(sq);
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
    for (const st of this.polls.values()) st.timer?.cancel();
    this.polls.clear();
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
    if (this.d.shadow.applies(qid)) this.noteActivity(sq, true);
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
    this.d.schedule(() => {
      // drain() handles its own failures; this catch keeps a bug there from becoming an unhandled rejection.
      this.drain(sq, epoch).catch((err: unknown) => this.d.fatal(`SQ ${sq.id} worker failed: ${(err as Error)?.message ?? String(err)}`));
    });
  }

  private stale(sq: SubmissionQueue, epoch: number): boolean {
    return epoch !== this.epoch || sq.deleted || !this.d.processing();
  }

  private async refreshShadowTail(sq: SubmissionQueue): Promise<boolean> {
    const t = await this.d.shadow.readSqTail(sq.id);
    if (t >= sq.size || t === sq.tail) return false;
    sq.tail = t;
    this.d.stats.shadowDoorbellHits++;
    this.noteActivity(sq, true);
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
            const run = this.d
              .execute(sq, entry)
              .catch((err: unknown) => this.d.fatal(`command execution failed: ${(err as Error)?.message ?? String(err)}`))
              .finally(() => this.retire(sq));
            if (sq.id === 0) await run;
          }
        }
        if (shadow && !this.stale(sq, epoch)) {
          // EventIdx protocol: publish what we consumed (or, while polling, a value the driver
          // cannot cross), then re-check for a racing host update.
          await this.writeSqEventIdx(sq);
          if (await this.refreshShadowTail(sq)) continue;
        }
        if (!sq.rerun) return;
      }
    } catch (err) {
      if (err instanceof DmaError) {
        // No completion can be posted for an entry never fetched: CSTS.CFS is what the host sees (§3.5.3).
        this.d.guestError('submission queue entry fetch failed', { sqid: sq.id, address: err.address, errno: err.errno });
        this.d.fatal(`SQ ${sq.id} fetch failed`, { address: err.address }, 'guest');
      } else {
        this.d.fatal(`SQ ${sq.id} worker failed: ${(err as Error).message}`);
      }
    } finally {
      sq.running = false;
      const st = this.polls.get(sq);
      if (st) this.armPoll(sq, st);
    }
  }

  // ---- 'shadow-poll' -----------------------------------------------------------------------
  //
  // Linux rings the MMIO doorbell only when EventIdx lies in [old shadow tail, new shadow tail)
  // (nvme_dbbuf_need_event, 16-bit arithmetic). EventIdx = tail means "ring on the next submission";
  // EventIdx = tail - 1 (mod size) cannot be crossed before the controller consumes more entries (the
  // driver's tail never passes our head - 1, and our head is at or behind our tail), so the driver
  // stays silent while we poll. Every SQ EventIdx write happens inside that SQ's drain loop, so the
  // poller and the MMIO path never race on it: a poll only kicks the drain. When the drain finds the
  // queue idle for longer than idleStopUs it writes EventIdx = tail and re-reads the shadow tail
  // (a submission between our last read and that write is seen by the re-read; one after it rings).

  /** MMIO doorbell / new shadow tail (`start`) or completion (keeps an active poll fast). */
  private noteActivity(sq: SubmissionQueue, start: boolean): void {
    const p = this.d.poll;
    if (!p || sq.id === 0) return;
    let st = this.polls.get(sq);
    if (!st) {
      if (!start) return;
      st = { active: false, delayUs: p.minIntervalUs, lastActivity: 0, armedAt: 0, timer: undefined, eventIdx: undefined };
      this.polls.set(sq, st);
    }
    if (!st.active && !start) return;
    st.active = true;
    st.lastActivity = now();
    if (st.delayUs > p.minIntervalUs) {
      st.delayUs = p.minIntervalUs;
      st.timer?.cancel(); // a long backoff timer is pending: poll soon instead
      st.timer = undefined;
    }
    if (!sq.running) this.armPoll(sq, st);
  }

  /** Schedules the next poll of an active SQ (never more than one pending). */
  private armPoll(sq: SubmissionQueue, st: PollState): void {
    const p = this.d.poll;
    if (!p || !st.active || st.timer || this.stale(sq, this.epoch)) return;
    const epoch = this.epoch;
    st.armedAt = now();
    const fire = () => {
      st.timer = undefined;
      if (epoch !== this.epoch || sq.deleted || !st.active) return;
      // Nothing happened since this poll was scheduled: the next one waits twice as long.
      if (st.lastActivity < st.armedAt) st.delayUs = Math.min(p.maxIntervalUs, st.delayUs * 2);
      this.d.stats.shadowPolls++;
      this.kick(sq); // the drain reads the shadow tail, manages EventIdx and re-arms
    };
    if (st.delayUs < 1000) {
      // Not unref'd: an unref'd immediate lets the loop block in the I/O poll phase until some other event.
      const h = setImmediate(fire);
      st.timer = { cancel: () => clearImmediate(h) };
    } else {
      const h = setTimeout(fire, Math.round(st.delayUs / 1000));
      h.unref(); // never keeps the process alive on its own (polling stops after idleStopUs anyway)
      st.timer = { cancel: () => clearTimeout(h) };
    }
  }

  /** Inside the drain loop: EventIdx for the current tail, stopping an idle poll. */
  private async writeSqEventIdx(sq: SubmissionQueue): Promise<void> {
    const st = this.polls.get(sq);
    const p = this.d.poll;
    if (!st || !p) return this.d.shadow.writeSqEventIdx(sq.id, sq.tail);
    if (st.active && (now() - st.lastActivity) * 1000 > p.idleStopUs) {
      st.active = false;
      st.timer?.cancel();
      st.timer = undefined;
      st.delayUs = p.minIntervalUs;
      this.d.stats.shadowPollStops++;
    }
    const value = st.active ? (sq.tail + sq.size - 1) % sq.size : sq.tail;
    if (value === st.eventIdx) return;
    st.eventIdx = value;
    await this.d.shadow.writeSqEventIdx(sq.id, value);
  }

  /** New I/O CQ: while polling, the driver need not ring CQ head doorbells either (full CQs read the shadow head). */
  async cqCreated(cq: CompletionQueue): Promise<void> {
    if (this.d.poll && this.d.shadow.applies(cq.id)) await this.d.shadow.writeCqEventIdx(cq.id, (cq.head + cq.size - 1) % cq.size);
  }

  /** Doorbell Buffer Config seeded the slots of existing queues. */
  async shadowConfigured(): Promise<void> {
    for (const st of this.polls.values()) st.eventIdx = undefined;
    for (const cq of this.cqs.values()) await this.cqCreated(cq);
  }

  private retire(sq: SubmissionQueue): void {
    sq.inflight--;
    if (sq.inflight === 0) for (const w of sq.drainWaiters.splice(0)) w();
    // While polling, every retirement also re-reads the shadow tail (the drain coalesces them): the
    // driver typically submits in reaction to completions, and this finds those submissions long
    // before a timer poll would (Node timers have 1 ms resolution).
    if (!sq.deleted && (!sq.empty || this.polls.get(sq)?.active)) this.kick(sq);
  }

  /** Queues a completion for `sq`'s CQ; entries become visible in order. */
  post(sq: SubmissionQueue, completion: Completion, epoch: number): void {
    if (epoch !== this.epoch) return;
    const cq = this.cqs.get(sq.cqid);
    const list = this.pending.get(sq.cqid);
    if (!cq || !list) return;
    list.push({ completion, sqHead: sq.head });
    this.noteActivity(sq, false);
    this.flushCq(cq);
  }

  private flushCq(cq: CompletionQueue): void {
    const epoch = this.epoch;
    cq.chain = cq.chain
      .then(() => this.writeCompletions(cq, epoch))
      .catch((err: unknown) => {
        if (err instanceof DmaError) {
          this.d.guestError('completion queue write failed', { cqid: cq.id, address: err.address, errno: err.errno });
          this.d.fatal(`CQ ${cq.id} post failed: ${err.message}`, { address: err.address }, 'guest');
        } else {
          this.d.fatal(`CQ ${cq.id} post failed: ${(err as Error)?.message ?? String(err)}`);
        }
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

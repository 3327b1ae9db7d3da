import { DmaError } from '@p2pkit/base';
import { SubmissionEntry } from './command.ts';
import { type AsyncEvent, AsyncEventType, ErrorEventInfo } from './events.ts';
import { HeldCommands } from './held-commands.ts';
import type { InterruptController } from './interrupts.ts';
import type { BusMemory } from './memory.ts';
import { type Completion, type CompletionQueue, CQE_BYTES, encodeCompletion, type SubmissionQueue, writeCompletion } from './queues.ts';
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
  /** Runs one command to completion: undefined when it completed synchronously, else a promise (never rejects). */
  execute(sq: SubmissionQueue, entry: SubmissionEntry): Promise<void> | undefined;
  raiseEvent(e: AsyncEvent): void;
  guestError(message: string, detail?: Record<string, unknown>): void;
  /**
   * The controller cannot continue (CSTS.CFS). `cause` 'guest': the host made it impossible (queue
   * memory outside guest RAM, bus mastering off) — logged as a guest error, not as a device bug.
   */
  fatal(message: string, detail?: Record<string, unknown>, cause?: 'guest' | 'device'): void;
  /** Every CQ on `vector` is empty again (pin-based interrupts deassert). */
  vectorIdle(vector: number): void;
  /**
   * A batch of fetched commands that has run this long posts the completions it has so far (and
   * their interrupt) before starting its next command: a bound on how long a long batch holds its
   * first completions back (NvmeOptions.completionBatchUs).
   */
  completionBatchUs: number;
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
  /** performance.now() when `delayUs` took its value (activity resets it): the backoff follows time. */
  delaySince: number;
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
  /** > 0 while a drain executes a batch of fetched commands: completions wait for the batch's end. */
  private batching = 0;
  /** CQs that received completions during the current batch. */
  private readonly batched = new Set<CompletionQueue>();
  /** CQE writes still in flight on a CQ's async chain (the synchronous path must wait its turn). */
  private readonly chained = new Map<CompletionQueue, number>();
  private readonly held: HeldCommands;

  constructor(private readonly d: QueueEngineDeps) {
    this.held = new HeldCommands(d.stats);
  }

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
    if (id !== 0) this.held.released(this.pending.get(id)?.length ?? 0);
    this.cqs.delete(id);
    this.pending.delete(id);
  }

  /** Drops every queue (controller reset). In-flight commands finish but post nothing. */
  reset(): void {
    this.epoch++;
    this.held.clear();
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

  /** Reads the shadow SQ tail: without a promise when the doorbell buffer is mapped. True when it moved. */
  private refreshShadowTail(sq: SubmissionQueue): boolean | Promise<boolean> {
    const t = this.d.shadow.sqTailNow(sq.id);
    if (t === undefined) return this.d.shadow.readSqTail(sq.id).then((v) => this.takeShadowTail(sq, v));
    return this.takeShadowTail(sq, t);
  }

  private takeShadowTail(sq: SubmissionQueue, t: number): boolean {
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
        if (shadow) {
          const moved = this.refreshShadowTail(sq);
          if (moved instanceof Promise) await moved;
        }
        while (!sq.empty && sq.inflight < limit && !this.stale(sq, epoch)) {
          // One read for every contiguous entry we may start now (a single DMA message on slow paths).
          const contiguous = sq.tail > sq.head ? sq.tail - sq.head : sq.size - sq.head;
          const n = Math.min(contiguous, limit - sq.inflight);
          const address = sq.entryAddress(sq.head);
          const raw = this.d.memory.bytesAt(address, n * 64, false) ?? (await this.d.memory.read(address, n * 64));
          if (this.stale(sq, epoch)) return;
          if (sq.id === 0) {
            await this.runAdmin(sq, new SubmissionEntry(raw.slice(0, 64), sq.id));
            continue;
          }
          this.runBatch(sq, raw, n);
        }
        if (shadow && !this.stale(sq, epoch)) {
          // EventIdx protocol: publish what we consumed (or, while polling, a value the driver
          // cannot cross), then re-check for a racing host update.
          const written = this.writeSqEventIdx(sq);
          if (written) await written;
          const moved = this.refreshShadowTail(sq);
          if (moved instanceof Promise ? await moved : moved) continue;
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

  /** The admin queue runs one command at a time. */
  private async runAdmin(sq: SubmissionQueue, entry: SubmissionEntry): Promise<void> {
    sq.head = (sq.head + 1) % sq.size;
    sq.inflight++;
    try {
      await this.d.execute(sq, entry);
    } finally {
      this.retire(sq);
    }
  }

  /**
   * Starts the `n` I/O commands in `raw` (a copy or a view of the SQ slots). Commands that finish
   * synchronously post their completions at the end of the batch: one CQ write pass and one
   * interrupt per CQ per batch instead of one per command.
   */
  private runBatch(sq: SubmissionQueue, raw: Uint8Array, n: number): void {
    this.batching++;
    this.held.fetched(n);
    const flushAfterMs = this.d.completionBatchUs / 1000;
    let since = now();
    try {
      for (let i = 0; i < n; i++) {
        sq.head = (sq.head + 1) % sq.size;
        sq.inflight++;
        const entry = new SubmissionEntry(raw.slice(i * 64, (i + 1) * 64), sq.id);
        const run = this.d.execute(sq, entry);
        if (run) {
          run
            .catch((err: unknown) => this.d.fatal(`command execution failed: ${(err as Error)?.message ?? String(err)}`))
            .finally(() => this.retire(sq));
        } else this.retire(sq);
        // A long batch hands its completions over as it goes (see completionBatchUs).
        if (this.batched.size > 0 && this.batching === 1 && now() - since >= flushAfterMs) {
          this.flushBatched();
          since = now();
        }
      }
    } finally {
      if (--this.batching === 0) this.flushBatched();
    }
  }

  private flushBatched(): void {
    for (const cq of this.batched) this.flushCq(cq);
    this.batched.clear();
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
      st = { active: false, delayUs: p.minIntervalUs, lastActivity: 0, delaySince: 0, timer: undefined, eventIdx: undefined };
      this.polls.set(sq, st);
    }
    if (!st.active && !start) return;
    st.active = true;
    st.lastActivity = now();
    st.delaySince = st.lastActivity;
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
    const fire = () => {
      st.timer = undefined;
      if (epoch !== this.epoch || sq.deleted || !st.active) return;
      // Nothing happened for the whole current delay: the next poll waits twice as long. Time, not
      // the number of polls, drives the backoff: a delay below Node's 1 ms timer resolution polls on
      // every loop turn until it has passed (an idle turn takes microseconds, a TCG guest's next
      // submission hundreds of them).
      const t = now();
      if ((t - st.delaySince) * 1000 >= st.delayUs) {
        st.delayUs = Math.min(p.maxIntervalUs, st.delayUs * 2);
        st.delaySince = t;
      }
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

  /** Inside the drain loop: EventIdx for the current tail, stopping an idle poll (a promise only when written by DMA message). */
  private writeSqEventIdx(sq: SubmissionQueue): Promise<void> | undefined {
    const st = this.polls.get(sq);
    const p = this.d.poll;
    if (!st || !p) return this.putSqEventIdx(sq, sq.tail);
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
    return this.putSqEventIdx(sq, value);
  }

  private putSqEventIdx(sq: SubmissionQueue, value: number): Promise<void> | undefined {
    return this.d.shadow.writeSqEventIdxNow(sq.id, value) ? undefined : this.d.shadow.writeSqEventIdx(sq.id, value);
  }

  /**
   * New I/O CQ: while polling, the driver need not ring CQ head doorbells either (full CQs read the
   * shadow head). EventIdx = our tail, kept there as completions are posted (see posted): the
   * host's head stops at the tail, so it never crosses it — a fixed value would be crossed once per
   * lap of the ring, costing one MMIO round trip every `size` completions.
   */
  async cqCreated(cq: CompletionQueue): Promise<void> {
    if (this.d.poll && this.d.shadow.applies(cq.id)) await this.d.shadow.writeCqEventIdx(cq.id, cq.tail);
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
    if (this.batching > 0) this.batched.add(cq);
    else this.flushCq(cq);
  }

  private flushCq(cq: CompletionQueue): void {
    // Synchronous when nothing is queued on the CQ's async chain and its slots are mapped.
    if (!this.chained.has(cq)) {
      try {
        if (this.writeCompletionsNow(cq)) return;
      } catch (err) {
        this.postFailed(cq, err);
        return;
      }
    }
    const epoch = this.epoch;
    this.chained.set(cq, (this.chained.get(cq) ?? 0) + 1);
    cq.chain = cq.chain
      .then(() => this.writeCompletions(cq, epoch))
      .catch((err: unknown) => this.postFailed(cq, err))
      .finally(() => {
        const left = (this.chained.get(cq) ?? 1) - 1;
        if (left > 0) this.chained.set(cq, left);
        else this.chained.delete(cq);
      });
  }

  private postFailed(cq: CompletionQueue, err: unknown): void {
    if (err instanceof DmaError) {
      this.d.guestError('completion queue write failed', { cqid: cq.id, address: err.address, errno: err.errno });
      this.d.fatal(`CQ ${cq.id} post failed: ${err.message}`, { address: err.address }, 'guest');
    } else {
      this.d.fatal(`CQ ${cq.id} post failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /**
   * Writes pending completions straight into the mapped CQ slots; one interrupt for all of them.
   * False when some are left for the async path (CQ full: the shadow head may free slots; slots
   * reachable only by DMA messages).
   */
  private writeCompletionsNow(cq: CompletionQueue): boolean {
    const list = this.pending.get(cq.id);
    if (!list || this.cqs.get(cq.id) !== cq) return true;
    let posted = 0;
    let done = true;
    while (list.length > 0) {
      const slot = cq.full ? undefined : this.d.memory.bytesAt(cq.entryAddress(cq.tail), CQE_BYTES, true);
      if (!slot) {
        done = false;
        break;
      }
      const p = list.shift() as Pending;
      writeCompletion(slot, p.completion, p.sqHead, cq.reserve().phase);
      this.d.stats.completionsPosted++;
      posted++;
    }
    if (posted > 0) this.posted(cq, posted);
    return done;
  }

  /**
   * After posting: while polling, CQ EventIdx follows our tail, which the host's head never
   * crosses (it stops at the tail), so consuming completions needs no MMIO CQ head doorbell; a
   * full CQ asks for one instead (roomAfterShadowHead). Then the interrupt.
   */
  private posted(cq: CompletionQueue, posted: number): void {
    if (cq.id !== 0) this.held.released(posted);
    if (this.d.poll && this.d.shadow.applies(cq.id) && !this.d.shadow.writeCqEventIdxNow(cq.id, cq.tail)) {
      void this.d.shadow.writeCqEventIdx(cq.id, cq.tail).catch((err: unknown) => this.postFailed(cq, err));
    }
    if (cq.interruptsEnabled) this.d.interrupts.notify(cq.vector, posted);
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
    if (posted > 0 && epoch === this.epoch) this.posted(cq, posted);
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

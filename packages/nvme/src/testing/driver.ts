/**
 * A minimal NVMe host driver that talks to a controller as Linux does, through a vfio-user client:
 * registers and doorbells are REGION_READ/REGION_WRITE on BAR0, queues and data live in
 * {@link GuestMemory}, which the controller reaches by DMA.
 */
import type { VfioUserClient } from '@p2pkit/vfio-user';
import { RegionIndex } from '@p2pkit/vfio-user';
import { SQE_BYTES } from '../command.ts';
import { FeatureId } from '../features.ts';
import { AdminOpcode, type IoOpcode } from '../opcodes.ts';
import { CQE_BYTES } from '../queues.ts';
import { CQE_SIZE_LOG, Csts, Reg, SQE_SIZE_LOG } from '../registers.ts';
import { Status, statusName } from '../status.ts';
import { PSDT_SGL, prpsFor } from './data-pointers.ts';
import type { GuestMemory } from './guest-memory.ts';
import { type CompletionEntry, type NvmeCommand, type QueueMemory, QueuePair } from './queue-pair.ts';
import { ShadowDoorbellBuffers } from './shadow-doorbell-buffers.ts';
import { waitUntil } from './wait.ts';

/** Options of {@link NvmeTestDriver.createQueuePair}. */
export interface CreateQueuePairOptions {
  /** Interrupt vector of the CQ; default: the queue ID. */
  vector?: number;
  /** CQ interrupts enabled (IEN); default true. */
  interruptsEnabled?: boolean;
  /** CQ entries; default: as many as the SQ. */
  completionEntries?: number;
  /** Where the SQ ring lives, e.g. the CMB through a BAR mapping; default: allocated in guest memory. */
  submissionQueueMemory?: QueueMemory;
}

/** A Read or Write of logical blocks from/to one contiguous guest buffer ({@link NvmeTestDriver.readWrite}). */
export interface ReadWriteRequest {
  opcode: typeof IoOpcode.Read | typeof IoOpcode.Write;
  nsid: number;
  /** Starting LBA. */
  slba: bigint;
  /** Number of logical blocks (1-based; NLB is blocks - 1). */
  blocks: number;
  /** Bus address of the data buffer in guest memory. */
  buffer: bigint;
  /** Buffer length in bytes, normally blocks × LBA size; PRPs describe exactly this much. */
  bytes: number;
  /** Further fields, e.g. `{ cdw12: 1 << 30 }` for FUA (CDW12 replaces NLB: include it). */
  command?: Partial<NvmeCommand>;
}

/** The NVMe host: controller registers, queue setup, command submission and completion reaping. */
export class NvmeTestDriver {
  /** Queue pairs by ID (0 is the admin queue, set up by {@link NvmeTestDriver.enable}). */
  readonly queues = new Map<number, QueuePair>();
  /** Completions reaped while waiting for another CID (e.g. Asynchronous Event Requests). */
  readonly unclaimedCompletions: CompletionEntry[] = [];
  /** Shadow doorbells once {@link NvmeTestDriver.configureShadowDoorbells} (or you) set them; I/O queues then ring through them. */
  shadowDoorbells: ShadowDoorbellBuffers | undefined;
  /** MMIO doorbell writes so far (those shadow doorbells did not save). */
  mmioDoorbellWrites = 0;
  #strideBytes: number | undefined;

  /**
   * @param client - a connected vfio-user client whose DMA map covers `memory`.
   * @param memory - guest memory for queues, lists and data.
   * @param timeoutMs - how long to wait for the controller (ready, completions); default 3000.
   */
  constructor(
    readonly client: VfioUserClient,
    readonly memory: GuestMemory,
    readonly timeoutMs = 3000,
  ) {}

  /** BAR0 read of 1, 2, 4 or 8 bytes at `offset` (a REGION_READ). */
  async read(offset: number, size: 1 | 2 | 4 | 8): Promise<bigint> {
    const bytes = await this.client.regionRead(RegionIndex.BAR0, offset, size);
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i] as number);
    return value;
  }

  /** 32-bit BAR0 register read, e.g. `read32(Reg.CSTS)`. */
  read32(offset: number): Promise<number> {
    return this.client.read32(RegionIndex.BAR0, offset);
  }

  /** 32-bit BAR0 register write (a REGION_WRITE, answered once the controller handled it). */
  write32(offset: number, value: number): Promise<void> {
    return this.client.write32(RegionIndex.BAR0, offset, value);
  }

  /** 64-bit BAR0 register read, e.g. `read64(Reg.CAP)`. */
  async read64(offset: number): Promise<bigint> {
    return (await this.client.regionRead(RegionIndex.BAR0, offset, 8)).readBigUInt64LE(0);
  }

  /** 64-bit BAR0 register write. */
  write64(offset: number, value: bigint): Promise<void> {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt.asUintN(64, value));
    return this.client.regionWrite(RegionIndex.BAR0, offset, bytes);
  }

  /**
   * Linux's nvme_pci_configure_admin_queue + nvme_enable_ctrl: disables the controller if enabled,
   * places an admin queue pair of `adminEntries` in guest memory, sets CC.EN (4 KiB pages, NVM
   * command set, or all I/O command sets when CAP.CSS offers them) and waits for CSTS.RDY. Forgets every queue and shadow doorbell of a previous enable.
   */
  async enable(adminEntries = 32): Promise<void> {
    if ((await this.read32(Reg.CC)) & 1) {
      await this.write32(Reg.CC, 0);
      await waitUntil(async () => ((await this.read32(Reg.CSTS)) & Csts.RDY) === 0, 'CSTS.RDY = 0', this.timeoutMs);
    }
    this.queues.clear();
    this.unclaimedCompletions.length = 0;
    this.shadowDoorbells = undefined;
    const sq = this.#allocQueueMemory(adminEntries * SQE_BYTES);
    const cq = this.#allocQueueMemory(adminEntries * CQE_BYTES);
    await this.write32(Reg.AQA, ((adminEntries - 1) << 16) | (adminEntries - 1));
    await this.write64(Reg.ASQ, sq.address);
    await this.write64(Reg.ACQ, cq.address);
    // CC.CSS: 110b (I/O command sets) when CAP.CSS bit 6 offers it, as Linux does; else 000b (NVM).
    const css = ((await this.read64(Reg.CAP)) >> 43n) & 1n ? 6 : 0;
    await this.write32(Reg.CC, 1 | (css << 4) | (SQE_SIZE_LOG << 16) | (CQE_SIZE_LOG << 20));
    await waitUntil(async () => ((await this.read32(Reg.CSTS)) & Csts.RDY) !== 0, 'CSTS.RDY = 1', this.timeoutMs);
    this.queues.set(0, new QueuePair(0, sq, adminEntries, cq, adminEntries));
  }

  /** What Linux's probe does before I/O: {@link NvmeTestDriver.enable}, Number of Queues (4 SQs + 4 CQs), I/O queue pair 1. */
  async bringUp(ioEntries = 64): Promise<QueuePair> {
    await this.enable();
    const r = await this.setFeatures(FeatureId.NumberOfQueues, (3 << 16) | 3);
    if (r.status !== Status.Success) throw new Error(`Set Features (Number of Queues) failed: ${statusName(r.status)}`);
    return this.createQueuePair(1, ioEntries);
  }

  /** Create I/O Completion Queue + Create I/O Submission Queue (nvme_create_queue); throws on a failed status. */
  async createQueuePair(qid: number, entries: number, options: CreateQueuePairOptions = {}): Promise<QueuePair> {
    const cqEntries = options.completionEntries ?? entries;
    const cq = this.#allocQueueMemory(cqEntries * CQE_BYTES);
    const ien = (options.interruptsEnabled ?? true) ? 2 : 0;
    const cqDone = await this.admin({
      opcode: AdminOpcode.CreateIoCq,
      prp1: cq.address,
      cdw10: ((cqEntries - 1) << 16) | qid,
      cdw11: ((options.vector ?? qid) << 16) | ien | 1,
    });
    if (cqDone.status !== Status.Success) throw new Error(`Create I/O Completion Queue ${qid} failed: ${statusName(cqDone.status)}`);
    const sq = options.submissionQueueMemory ?? this.#allocQueueMemory(entries * SQE_BYTES);
    const sqDone = await this.admin({
      opcode: AdminOpcode.CreateIoSq,
      prp1: sq.address,
      cdw10: ((entries - 1) << 16) | qid,
      cdw11: (qid << 16) | 1,
    });
    if (sqDone.status !== Status.Success) throw new Error(`Create I/O Submission Queue ${qid} failed: ${statusName(sqDone.status)}`);
    const pair = new QueuePair(qid, sq, entries, cq, cqEntries);
    this.queues.set(qid, pair);
    return pair;
  }

  /** Doorbell Buffer Config with two fresh pages (nvme_dbbuf_set); I/O queues then use shadow doorbells. Throws on a failed status. */
  async configureShadowDoorbells(): Promise<ShadowDoorbellBuffers> {
    const doorbells = this.#allocQueueMemory(4096);
    const eventIndexes = this.#allocQueueMemory(4096);
    const r = await this.admin({ opcode: AdminOpcode.DoorbellBufferConfig, prp1: doorbells.address, prp2: eventIndexes.address });
    if (r.status !== Status.Success) throw new Error(`Doorbell Buffer Config failed: ${statusName(r.status)}`);
    this.shadowDoorbells = new ShadowDoorbellBuffers(doorbells, eventIndexes, await this.#doorbellStride());
    return this.shadowDoorbells;
  }

  /**
   * Writes `command` at the tail of SQ `qid` without ringing its doorbell; returns the CID. With
   * `sgl` and no `flags`, PSDT is set to SGL.
   */
  enqueue(qid: number, command: NvmeCommand): number {
    return this.#queue(qid).push(command, command.flags ?? (command.sgl ? PSDT_SGL : 0));
  }

  /** Publishes the SQ tail of `qid`: through the shadow doorbell when configured (and MMIO only if EventIdx asks), else MMIO. */
  async ringSqTail(qid: number): Promise<void> {
    await this.#writeDoorbell(qid, false, this.#queue(qid).sqTail);
  }

  /** Publishes the CQ head of `qid`, like {@link NvmeTestDriver.ringSqTail}. */
  async ringCqHead(qid: number): Promise<void> {
    await this.#writeDoorbell(qid, true, this.#queue(qid).cqHead);
  }

  /** Whether a new completion sits at the head of CQ `qid` (phase tag), without consuming it. */
  hasCompletion(qid: number): boolean {
    return this.#queue(qid).ready;
  }

  /** Waits for the next completion on CQ `qid`, consumes it and (unless `ringCqHead: false`) rings the CQ head doorbell. */
  async reap(qid: number, options: { timeoutMs?: number; ringCqHead?: boolean } = {}): Promise<CompletionEntry> {
    const pair = this.#queue(qid);
    // Only an empty CQ waits (a poll per event-loop turn); a posted entry is taken at once.
    if (!pair.ready) await waitUntil(() => pair.ready, `a completion on queue ${qid}`, options.timeoutMs ?? this.timeoutMs);
    const entry = pair.peek() as CompletionEntry;
    pair.advance(entry);
    if (options.ringCqHead ?? true) await this.ringCqHead(qid);
    return entry;
  }

  /** Waits for the completion of `cid` on queue `qid`; others reaped meanwhile go to {@link NvmeTestDriver.unclaimedCompletions}. */
  async waitForCompletion(qid: number, cid: number, timeoutMs = this.timeoutMs): Promise<CompletionEntry> {
    for (;;) {
      const i = this.unclaimedCompletions.findIndex((c) => c.sqid === qid && c.cid === cid);
      if (i >= 0) return this.unclaimedCompletions.splice(i, 1)[0] as CompletionEntry;
      const entry = await this.reap(qid, { timeoutMs });
      if (entry.cid === cid) return entry;
      this.unclaimedCompletions.push(entry);
    }
  }

  /** Submits `command` on queue `qid` and waits for its completion. */
  async submit(qid: number, command: NvmeCommand): Promise<CompletionEntry> {
    const cid = this.enqueue(qid, command);
    await this.ringSqTail(qid);
    return this.waitForCompletion(qid, cid);
  }

  /** Submits an admin command and waits for its completion. */
  admin(command: NvmeCommand): Promise<CompletionEntry> {
    return this.submit(0, command);
  }

  /** Identify (CNS `cns`) into a fresh 4 KiB buffer; `data` is a copy of it. */
  async identify(cns: number, nsid = 0, cdw11 = 0): Promise<{ completion: CompletionEntry; data: Uint8Array }> {
    const buffer = this.memory.alloc(4096);
    const completion = await this.admin({ opcode: AdminOpcode.Identify, nsid, prp1: buffer, cdw10: cns, cdw11 });
    return { completion, data: this.memory.view(buffer, 4096).slice() };
  }

  /** Set Features `fid` with CDW11 `value`. */
  setFeatures(fid: number, value: number, nsid = 0): Promise<CompletionEntry> {
    return this.admin({ opcode: AdminOpcode.SetFeatures, nsid, cdw10: fid, cdw11: value });
  }

  /** Get Features `fid`; `select` is SEL (0 current, 1 default, 2 saved, 3 capabilities). The value is in `dw0`. */
  getFeatures(fid: number, select = 0, cdw11 = 0): Promise<CompletionEntry> {
    return this.admin({ opcode: AdminOpcode.GetFeatures, cdw10: fid | (select << 8), cdw11 });
  }

  /** Get Log Page `lid`, `bytes` long (a multiple of 4), LSP `logSpecific` (7 bits); `data` is a copy of the buffer. */
  async getLogPage(
    lid: number,
    bytes: number,
    options: { nsid?: number; retainAsyncEvent?: boolean; offset?: number; logSpecific?: number } = {},
  ): Promise<{ completion: CompletionEntry; data: Uint8Array }> {
    const buffer = this.memory.alloc(bytes);
    const numd = bytes / 4 - 1;
    const completion = await this.admin({
      opcode: AdminOpcode.GetLogPage,
      nsid: options.nsid ?? 0xffffffff,
      ...prpsFor(this.memory, buffer, bytes),
      cdw10: lid | ((options.logSpecific ?? 0) << 8) | (options.retainAsyncEvent ? 1 << 15 : 0) | ((numd & 0xffff) << 16),
      cdw11: numd >>> 16,
      cdw12: options.offset ?? 0,
    });
    return { completion, data: this.memory.view(buffer, bytes).slice() };
  }

  /** Read or Write on queue `qid` with a contiguous guest buffer described by PRPs (a list built when needed). */
  readWrite(qid: number, request: ReadWriteRequest): Promise<CompletionEntry> {
    return this.submit(qid, {
      opcode: request.opcode,
      nsid: request.nsid,
      ...prpsFor(this.memory, request.buffer, request.bytes),
      cdw10: Number(request.slba & 0xffffffffn),
      cdw11: Number(request.slba >> 32n),
      cdw12: request.blocks - 1,
      ...request.command,
    });
  }

  #queue(qid: number): QueuePair {
    const pair = this.queues.get(qid);
    if (!pair) throw new Error(`no queue ${qid}: enable() creates the admin queue, createQueuePair() the I/O queues`);
    return pair;
  }

  #allocQueueMemory(bytes: number): QueueMemory {
    const address = this.memory.alloc(bytes);
    return { address, bytes: this.memory.view(address, bytes) };
  }

  /** Doorbell stride in bytes, from CAP.DSTRD (read once: CAP is read-only). */
  async #doorbellStride(): Promise<number> {
    this.#strideBytes ??= 4 << Number(((await this.read64(Reg.CAP)) >> 32n) & 0xfn);
    return this.#strideBytes;
  }

  async #writeDoorbell(qid: number, completionQueue: boolean, value: number): Promise<void> {
    const stride = await this.#doorbellStride();
    const index = ShadowDoorbellBuffers.index(qid, completionQueue);
    if (this.shadowDoorbells && qid !== 0 && !this.shadowDoorbells.update(index, value)) return;
    this.mmioDoorbellWrites++;
    await this.write32(Reg.DOORBELLS + index * stride, value);
  }
}

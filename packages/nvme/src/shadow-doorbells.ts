import type { BusMemory } from './memory.ts';

/**
 * Doorbell Buffer Config state (NVMe 2.0 §5.8): shadow doorbells and EventIdx buffers in host memory.
 * Slot layout follows the doorbell registers: SQ y tail at 2y × stride, CQ y head at (2y + 1) × stride.
 * Only I/O queues use them: Linux never writes the admin queue's shadow slots.
 */
export class ShadowDoorbells {
  private shadow: bigint | undefined;
  private eventIdx: bigint | undefined;

  constructor(
    private readonly mem: BusMemory,
    private readonly stride: number,
  ) {}

  get enabled(): boolean {
    return this.shadow !== undefined;
  }

  configure(shadow: bigint, eventIdx: bigint): void {
    this.shadow = shadow;
    this.eventIdx = eventIdx;
  }

  applies(qid: number): boolean {
    return this.enabled && qid !== 0;
  }

  private slot(qid: number, cq: boolean): bigint {
    return BigInt((2 * qid + (cq ? 1 : 0)) * this.stride);
  }

  async readSqTail(qid: number): Promise<number> {
    return this.mem.readU32((this.shadow as bigint) + this.slot(qid, false));
  }

  /** {@link ShadowDoorbells.readSqTail} without a promise when the buffer is mapped; undefined otherwise. */
  sqTailNow(qid: number): number | undefined {
    return this.mem.readU32Now((this.shadow as bigint) + this.slot(qid, false));
  }

  /** {@link ShadowDoorbells.writeSqEventIdx} without a promise when the buffer is mapped; false otherwise. */
  writeSqEventIdxNow(qid: number, value: number): boolean {
    return this.mem.writeU32Now((this.eventIdx as bigint) + this.slot(qid, false), value);
  }

  /** {@link ShadowDoorbells.writeCqEventIdx} without a promise when the buffer is mapped; false otherwise. */
  writeCqEventIdxNow(qid: number, value: number): boolean {
    return this.mem.writeU32Now((this.eventIdx as bigint) + this.slot(qid, true), value);
  }

  async readCqHead(qid: number): Promise<number> {
    return this.mem.readU32((this.shadow as bigint) + this.slot(qid, true));
  }

  async writeSqEventIdx(qid: number, value: number): Promise<void> {
    await this.mem.writeU32((this.eventIdx as bigint) + this.slot(qid, false), value);
  }

  async writeCqEventIdx(qid: number, value: number): Promise<void> {
    await this.mem.writeU32((this.eventIdx as bigint) + this.slot(qid, true), value);
  }

  /** Seeds a queue's slots so shadow and controller agree (new queue, or buffer configured late). */
  async seed(qid: number, sqTail: number | undefined, cqHead: number | undefined): Promise<void> {
    if (!this.applies(qid)) return;
    if (sqTail !== undefined) {
      await this.mem.writeU32((this.shadow as bigint) + this.slot(qid, false), sqTail);
      await this.writeSqEventIdx(qid, sqTail);
    }
    if (cqHead !== undefined) {
      await this.mem.writeU32((this.shadow as bigint) + this.slot(qid, true), cqHead);
      await this.writeCqEventIdx(qid, cqHead);
    }
  }

  reset(): void {
    this.shadow = undefined;
    this.eventIdx = undefined;
  }
}

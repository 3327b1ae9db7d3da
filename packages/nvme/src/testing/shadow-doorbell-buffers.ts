/**
 * The host's half of Doorbell Buffer Config (NVMe 2.0 §5.8), as Linux's nvme_dbbuf_*: the driver
 * stores new SQ tails / CQ heads in the shadow doorbell buffer and writes the MMIO doorbell only
 * when the controller's EventIdx asks for it.
 */
import { loadDword, storeDword } from '@p2pkit/base';
import type { QueueMemory } from './queue-pair.ts';

/** Shadow doorbell and EventIdx buffers in guest memory, indexed like the doorbell registers. */
export class ShadowDoorbellBuffers {
  /**
   * @param doorbells - the shadow doorbell buffer (one page).
   * @param eventIndexes - the EventIdx buffer (one page), written by the controller.
   * @param strideBytes - the doorbell stride, `4 << CAP.DSTRD`.
   */
  constructor(
    readonly doorbells: QueueMemory,
    readonly eventIndexes: QueueMemory,
    readonly strideBytes: number,
  ) {}

  /** Doorbell index of queue `qid`: 2·qid for its SQ tail, 2·qid + 1 for its CQ head. */
  static index(qid: number, completionQueue: boolean): number {
    return 2 * qid + (completionQueue ? 1 : 0);
  }

  /** The value the host last stored for doorbell `index`. */
  doorbell(index: number): number {
    return loadDword(this.doorbells.bytes, index * this.strideBytes);
  }

  /** Stores `value` for doorbell `index` without asking whether the controller wants an MMIO write. */
  setDoorbell(index: number, value: number): void {
    // One 32-bit store: a controller on another thread reads it concurrently (as Linux's le32 store).
    storeDword(this.doorbells.bytes, index * this.strideBytes, value);
  }

  /** The EventIdx the controller published for doorbell `index`. */
  eventIndex(index: number): number {
    return loadDword(this.eventIndexes.bytes, index * this.strideBytes);
  }

  /**
   * Stores `value` for doorbell `index` and tells whether the MMIO doorbell must be written too:
   * only when EventIdx lies in [old value, new value) (nvme_dbbuf_need_event).
   */
  update(index: number, value: number): boolean {
    const old = this.doorbell(index);
    this.setDoorbell(index, value);
    const eventIndex = this.eventIndex(index);
    return ((value - eventIndex - 1) & 0xffff) < ((value - old) & 0xffff);
  }
}

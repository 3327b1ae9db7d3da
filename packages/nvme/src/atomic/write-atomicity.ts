/**
 * How one namespace honours its atomic write limits:
 * - every write holds its block range in a {@link RangeLock}, so overlapping writes never interleave
 *   (AWUN / NAWUN, for any size);
 * - a write within the power-fail unit (AWUPF / NAWUPF, no NABSPF boundary crossed) is all old or all
 *   new after the server process dies at any point: inside one 4 KiB page of the image it is one
 *   pwrite (the kernel copies a page before it looks at a pending SIGKILL again), otherwise it goes
 *   through the {@link AtomicJournal};
 * - durable writes (FUA, or no volatile write cache) fdatasync the journal record before the image
 *   changes and the image before completion, so they are also all-or-nothing across a host crash.
 */
import { existsSync } from 'node:fs';
import { AtomicJournal, writeFully } from './journal.ts';
import { type AtomicLimits, isPowerFailAtomic } from './limits.ts';
import { RangeLock } from './range-lock.ts';

const PAGE = 4096;

/** The journal sidecar of an image. */
export const journalPath = (imagePath: string) => `${imagePath}.atomic-journal`;

export class WriteAtomicity {
  readonly lock = new RangeLock();

  private constructor(
    readonly limits: AtomicLimits,
    private readonly journal: AtomicJournal | undefined,
    /** Journal records applied to the image when it was opened (writes cut short by a server death). */
    readonly recovered: number,
  ) {}

  /**
   * Replays the image's journal when one is left over, and keeps a journal when the power-fail unit
   * can span pages: more than one block (at the largest LBA format, 4 KiB, one block is one page).
   */
  static open(limits: AtomicLimits, imagePath: string, imageFd: number): WriteAtomicity {
    if (limits.powerFailBlocks === 1 && !existsSync(journalPath(imagePath))) return new WriteAtomicity(limits, undefined, 0);
    const { journal, replayed } = AtomicJournal.open(journalPath(imagePath), imageFd, limits.powerFailBlocks * PAGE);
    if (limits.powerFailBlocks > 1) return new WriteAtomicity(limits, journal, replayed);
    journal.close();
    return new WriteAtomicity(limits, undefined, replayed);
  }

  /** Whether the write [slba, slba + count) must survive a power failure whole. */
  powerFailAtomic(slba: bigint, count: number): boolean {
    return isPowerFailAtomic(this.limits, slba, count);
  }

  /**
   * Writes `sources` (consecutive pieces) at image byte `offset` all-or-nothing. Returns nothing when
   * the data is in the image, or a promise: with `durable` it resolves once the data is on stable
   * media (`syncImage` is the image's fdatasync), and when every journal slot is busy.
   */
  write(
    imageFd: number,
    offset: number,
    sources: readonly Uint8Array[],
    durable: boolean,
    syncImage: () => Promise<void>,
  ): Promise<void> | undefined {
    let length = 0;
    for (const s of sources) length += s.byteLength;
    const journal = this.journal;
    if (!journal || Math.floor(offset / PAGE) === Math.floor((offset + length - 1) / PAGE)) {
      writeFully(imageFd, sources.length === 1 ? (sources[0] as Uint8Array) : Buffer.concat(sources), offset);
      return durable ? this.syncBefore(syncImage) : undefined;
    }
    const slot = journal.acquire();
    if (durable || typeof slot !== 'number') return this.writeJournaled(journal, slot, imageFd, offset, sources, durable, syncImage);
    // Cached write with a free slot: record, image and invalidation without yielding.
    try {
      const record = journal.prepare(offset, sources);
      journal.write(slot, record);
      writeFully(imageFd, record.data, offset);
    } finally {
      journal.invalidate(slot);
      journal.release(slot);
    }
    return undefined;
  }

  private async writeJournaled(
    journal: AtomicJournal,
    slotOrWait: number | Promise<number>,
    imageFd: number,
    offset: number,
    sources: readonly Uint8Array[],
    durable: boolean,
    syncImage: () => Promise<void>,
  ): Promise<void> {
    const slot = await slotOrWait;
    try {
      const record = journal.prepare(offset, sources);
      journal.write(slot, record);
      // Durable: the record is on media before the image changes, so a host crash replays it.
      if (durable) await journal.sync();
      writeFully(imageFd, record.data, offset);
      if (durable) await syncImage();
    } finally {
      journal.invalidate(slot);
      journal.release(slot);
    }
  }

  /**
   * Makes the image durable after the journal: an applied record's invalidation reaches media
   * first, so a replay after a host crash never rolls back data a later durable write replaced.
   */
  async syncBefore(syncImage: () => Promise<void>): Promise<void> {
    await this.journal?.sync();
    await syncImage();
  }

  /** Format NVM replaced the contents: nothing in the journal applies any more. */
  clear(): void {
    this.journal?.clear();
  }

  close(): void {
    this.journal?.close();
  }
}

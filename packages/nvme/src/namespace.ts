import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { readVectored, writeVectored } from '@p2pkit/native';
import { type AtomicLimits, resolveAtomicLimits } from './atomic/limits.ts';
import { WriteAtomicity } from './atomic/write-atomicity.ts';
import type { HolePuncher } from './hole-puncher.ts';
import { LBA_FORMATS, type LbaFormat, type NamespaceFormat, PI_TUPLE_BYTES } from './lba-format.ts';
import { MetadataStore, metadataPath } from './metadata-store.ts';
import { UncorrectableBlocks } from './uncorrectable-blocks.ts';
import { PersistentZoneTable } from './zns/zone-file.ts';
import type { ZoneTable } from './zns/zone-table.ts';
import { resolveZoneGeometry, type ZonedNamespaceOptions } from './zns/zoned-options.ts';

export interface NamespaceInit {
  nsid: number;
  path: string;
  sizeBytes?: number;
  format: NamespaceFormat;
  /** The controller created the image (Namespace Management) and deletes it with the namespace. */
  ownsFile: boolean;
  /** Seeds NGUID and EUI64: the controller's serial, or the subsystem NQN for a shared namespace. */
  serial: string;
  holePuncher: HolePuncher;
  /** Attached to several controllers of one NVM subsystem (NMIC bit 0); default false. */
  shared?: boolean;
  /** ANA group (ANAGRPID); default 0, no ANA reporting. */
  anaGroupId?: number;
  /** Atomic write limits to report and honour; default one block (AWUN = AWUPF = 0). */
  atomicLimits?: AtomicLimits;
  /** Zoned Namespace command set (CSI 02h); zone states persist in `<path>.zones`. */
  zoned?: ZonedNamespaceOptions;
}

/**
 * A namespace backed by a sparse raw image file, plus a metadata sidecar when its LBA format has
 * metadata ({@link MetadataStore}). Byte offsets stay below 2^53.
 */
export class Namespace {
  readonly nsid: number;
  readonly path: string;
  readonly ownsFile: boolean;
  /** NGUID: stable per (serial, nsid), so two controllers never report duplicates. */
  readonly nguid: Uint8Array;
  /** Blocks marked by Write Uncorrectable; every write path below unmarks what it writes. */
  readonly uncorrectable: UncorrectableBlocks;
  /** EUI64, from the same seed as the NGUID. */
  readonly eui64: Uint8Array;
  /** NMIC bit 0: may be attached to several controllers of its NVM subsystem at once. */
  readonly shared: boolean;
  /** ANAGRPID in Identify Namespace; 0 without ANA reporting. */
  readonly anaGroupId: number;
  private zoneStore: PersistentZoneTable | undefined;
  private formatValue: NamespaceFormat;
  /** The metadata of every block; undefined when the LBA format has none. */
  private metadataStore: MetadataStore | undefined;
  private constructor(
    init: NamespaceInit,
    private readonly file: FileHandle,
    readonly sizeBytes: number,
    private readonly holes: HolePuncher,
    uncorrectable: UncorrectableBlocks,
    /** Atomic write limits, overlap serialisation and the power-fail journal. */
    private readonly atomicity: WriteAtomicity,
  ) {
    this.nsid = init.nsid;
    this.path = init.path;
    this.ownsFile = init.ownsFile;
    this.formatValue = init.format;
    const id = createHash('sha256').update(`${init.serial}/${init.nsid}`).digest();
    this.nguid = id.subarray(0, 16);
    this.eui64 = id.subarray(16, 24);
    this.shared = init.shared ?? false;
    this.anaGroupId = init.anaGroupId ?? 0;
    this.uncorrectable = uncorrectable;
  }

  static async open(init: NamespaceInit): Promise<Namespace> {
    const file = await open(init.path, init.ownsFile ? 'w+' : 'a+').then(async (h) => {
      // 'a+' creates without truncating; reopen read-write for positional writes.
      await h.close();
      return open(init.path, 'r+');
    });
    const lbads = (LBA_FORMATS[init.format.lbaf] as LbaFormat).lbads;
    let size = init.sizeBytes ?? (await file.stat()).size;
    size -= size % (1 << lbads);
    if (size <= 0) {
      await file.close();
      throw new RangeError(`namespace ${init.nsid}: ${init.path} is empty; give sizeBytes`);
    }
    if ((await file.stat()).size < size) await file.truncate(size);
    let ns: Namespace | undefined;
    let marks: UncorrectableBlocks;
    let atomicity: WriteAtomicity;
    try {
      const blocks = BigInt(Math.floor(size / (1 << lbads)));
      // The sidecar records the block size of the moment (Format NVM may change it).
      marks = await UncorrectableBlocks.open(init.path, () => ns?.lbaShift ?? lbads, blocks, init.ownsFile);
      const limits = init.atomicLimits ?? resolveAtomicLimits(undefined, { normalBlocks: 1, powerFailBlocks: 1 });
      atomicity = WriteAtomicity.open(limits, init.path, file.fd);
    } catch (err) {
      await file.close();
      throw err;
    }
    const opened = new Namespace(init, file, size, init.holePuncher, marks, atomicity);
    ns = opened;
    if (init.zoned) {
      try {
        const geometry = resolveZoneGeometry(init.zoned, size, `namespace ${init.nsid}`);
        opened.zoneStore = await PersistentZoneTable.open(init.path, geometry, size, () => opened.lbaShift);
      } catch (err) {
        await file.close();
        throw err;
      }
    }
    await opened.openMetadata(init.ownsFile);
    return opened;
  }

  /** The zones of a zoned namespace (CSI 02h); undefined for a conventional NVM namespace. */
  get zones(): ZoneTable | undefined {
    return this.zoneStore?.table;
  }

  /** Makes the zone states durable (after the data they describe: call after a flush of the image). */
  async persistZones(): Promise<void> {
    await this.zoneStore?.persist();
  }

  /** Opens the sidecar the current format needs (`fresh`: discard its contents), or removes it. */
  private async openMetadata(fresh: boolean): Promise<void> {
    const { ms } = this.lbaFormat;
    if (ms === 0) return;
    const pi = this.formatValue.pi === 0 ? undefined : this.formatValue.piFirst ? 0 : ms - PI_TUPLE_BYTES;
    this.metadataStore = await MetadataStore.open(metadataPath(this.path), Number(this.blocks), ms, pi, fresh, this.holes);
  }

  /** Current format: LBA format, metadata layout, protection information. */
  get format(): NamespaceFormat {
    return this.formatValue;
  }
  /** The LBA format entry (data and metadata sizes) in use. */
  get lbaFormat(): LbaFormat {
    return LBA_FORMATS[this.formatValue.lbaf] as LbaFormat;
  }
  get lbaShift(): number {
    return this.lbaFormat.lbads;
  }
  get lbaSize(): number {
    return 1 << this.lbaShift;
  }
  /** Metadata bytes per block (0: none). */
  get metadataSize(): number {
    return this.lbaFormat.ms;
  }
  /** Where the metadata is kept; undefined when the format has none. */
  get metadata(): MetadataStore | undefined {
    return this.metadataStore;
  }
  /** NSZE = NCAP = NUSE in logical blocks. */
  get blocks(): bigint {
    return BigInt(Math.floor(this.sizeBytes / this.lbaSize));
  }
  /** The atomic write limits this namespace reports and honours (its own, or the controller's). */
  get atomicLimits(): AtomicLimits {
    return this.atomicity.limits;
  }
  /** Atomic writes a server death had cut short, completed from the journal when the image was opened. */
  get recoveredAtomicWrites(): number {
    return this.atomicity.recovered;
  }
  get formatIndex(): number {
    return this.formatValue.lbaf;
  }

  /** Whether [slba, slba + count) lies inside the namespace. */
  inRange(slba: bigint, count: number | bigint): boolean {
    return slba + BigInt(count) <= this.blocks && slba + BigInt(count) >= slba;
  }

  private offset(slba: bigint): number {
    return Number(slba) * this.lbaSize;
  }

  async read(slba: bigint, count: number): Promise<Uint8Array> {
    const length = count * this.lbaSize;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.file.read(out, done, length - done, this.offset(slba) + done);
      if (bytesRead === 0) break; // past EOF of a sparse image: zeroes
      done += bytesRead;
    }
    return out;
  }

  /**
   * Reads the blocks from `slba` straight into `targets` (consecutive pieces of the transfer, e.g.
   * mapped guest pages): synchronous pread(2), or one preadv(2) for all pieces of a scattered
   * buffer — no intermediate buffer and no thread-pool hop, which on a page-cache-resident image
   * costs far less than a promise round trip (the event loop does block for the duration of a
   * page-cache miss). Past EOF of a sparse image reads zeroes.
   */
  readInto(slba: bigint, targets: readonly Uint8Array[]): void {
    const start = this.offset(slba);
    if (targets.length > 1) {
      let got = readVectored(this.file.fd, targets, start);
      for (const t of targets) {
        if (got < t.byteLength) t.fill(0, Math.max(0, got));
        got -= t.byteLength;
      }
      return;
    }
    let pos = start;
    for (const t of targets) {
      let done = 0;
      while (done < t.byteLength) {
        const n = readSync(this.file.fd, t, done, t.byteLength - done, pos + done);
        if (n === 0) {
          t.fill(0, done);
          break;
        }
        done += n;
      }
      pos += t.byteLength;
    }
  }

  /**
   * Writes `sources` (consecutive pieces of the transfer) from `slba` with synchronous pwrite(2)
   * (one pwritev(2) for several), like {@link Namespace.readInto}. Returns nothing once the data is
   * in the file, or a promise: with `forceUnitAccess` it resolves when the data is on stable media
   * (fdatasync), and when the write cleared Write Uncorrectable marks, once their sidecar says so.
   * A write overlapping one still in flight waits for it (AWUN: they never interleave), and a write
   * within the power-fail atomic unit is all-or-nothing across a server death ({@link WriteAtomicity}).
   */
  writeFrom(slba: bigint, sources: readonly Uint8Array[], forceUnitAccess: boolean): Promise<void> | undefined {
    let bytes = 0;
    for (const s of sources) bytes += s.byteLength;
    const count = Math.ceil(bytes / this.lbaSize);
    const lock = this.atomicity.lock;
    if (lock.overlaps(slba, count)) return this.writeAfterOverlaps(slba, sources, forceUnitAccess, count);
    const release = lock.hold(slba, count);
    let pending: Promise<void> | undefined;
    try {
      pending = this.writeHeld(slba, sources, forceUnitAccess, count);
    } finally {
      if (!pending) release();
    }
    return pending?.finally(release);
  }

  private async writeAfterOverlaps(slba: bigint, sources: readonly Uint8Array[], forceUnitAccess: boolean, count: number) {
    const release = await this.atomicity.lock.acquire(slba, count);
    try {
      await this.writeHeld(slba, sources, forceUnitAccess, count);
    } finally {
      release();
    }
  }

  /** The write itself, its block range held; a promise only when something is left to wait for. */
  private writeHeld(slba: bigint, sources: readonly Uint8Array[], forceUnitAccess: boolean, count: number): Promise<void> | undefined {
    const start = this.offset(slba);
    let written: Promise<void> | undefined;
    if (this.atomicity.powerFailAtomic(slba, count)) {
      written = this.atomicity.write(this.file.fd, start, sources, forceUnitAccess, this.syncImage);
    } else {
      if (sources.length > 1) writeVectored(this.file.fd, sources, start);
      else {
        let pos = start;
        for (const s of sources) {
          let done = 0;
          while (done < s.byteLength) done += writeSync(this.file.fd, s, done, s.byteLength - done, pos + done);
          pos += s.byteLength;
        }
      }
      if (forceUnitAccess) written = this.atomicity.syncBefore(this.syncImage);
    }
    // Written blocks are readable again; only when some were marked does that wait for the sidecar.
    const unmark = () => (this.uncorrectable.empty ? undefined : this.uncorrectable.unmark(slba, BigInt(count)));
    return written ? written.then(unmark) : unmark();
  }

  private readonly syncImage = () => this.file.datasync();

  async write(slba: bigint, data: Uint8Array, forceUnitAccess: boolean): Promise<void> {
    await this.writeFrom(slba, [data], forceUnitAccess);
  }

  /**
   * Deallocates the range: later reads return zeroes (DLFEAT = 001b), so blocks marked uncorrectable
   * are unmarked too.
   */
  async deallocate(slba: bigint, count: number): Promise<void> {
    await this.holes.punchHole(this.file, this.offset(slba), count * this.lbaSize);
    await this.uncorrectable.unmark(slba, BigInt(count));
    await this.metadataStore?.deallocate(slba, count);
  }

  async flush(): Promise<void> {
    await this.atomicity.syncBefore(this.syncImage);
    await this.zoneStore?.persist();
    await this.metadataStore?.flush();
  }

  /**
   * Format NVM: new LBA format, metadata layout and protection; all user data becomes zeroes (file
   * truncated, then re-extended sparse) and the metadata sidecar starts over (or goes, without metadata).
   */
  async reformat(format: NamespaceFormat): Promise<void> {
    await this.file.truncate(0);
    await this.file.truncate(this.sizeBytes);
    await this.file.datasync();
    await this.uncorrectable.unmarkAll();
    this.atomicity.clear();
    this.zones?.resetAll();
    await this.zoneStore?.persist();
    await this.metadataStore?.destroy();
    this.metadataStore = undefined;
    this.formatValue = format;
    await this.openMetadata(true);
  }

  async close(): Promise<void> {
    await this.uncorrectable.settled();
    await this.zoneStore?.persist();
    this.atomicity.close();
    await this.file.close();
    await this.metadataStore?.close();
  }

  /** Closes and, for controller-created images, removes the file, its metadata and its uncorrectable-block list. */
  async destroy(): Promise<void> {
    this.atomicity.close();
    await this.file.close();
    if (this.metadataStore && this.ownsFile) await this.metadataStore.destroy();
    else await this.metadataStore?.close();
    if (this.ownsFile) {
      await unlink(this.path).catch(() => {});
      await this.uncorrectable.discard();
    } else await this.uncorrectable.settled();
  }
}

import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { HolePuncher } from './hole-puncher.ts';
import { PI_TUPLE_BYTES } from './lba-format.ts';

/** Where a namespace's metadata lives: a sidecar next to the image (`<image>.metadata`). */
export function metadataPath(imagePath: string): string {
  return `${imagePath}.metadata`;
}

/**
 * The metadata of a namespace's logical blocks, `ms` bytes per block at `lba × ms` in a sparse
 * sidecar file. A sidecar rather than interleaving in the image keeps the image a plain raw disk
 * (data of block n at n × block size: loop-mountable, and images from before metadata keep
 * working), and Format NVM between metadata sizes only resets the sidecar.
 *
 * The protection information bytes are stored inverted, so a hole — a block never written since
 * the format, or deallocated — reads back with PI all FFh, the value the spec gives deallocated
 * blocks (an application tag of FFFFh disables checking), while other metadata reads back 0h.
 */
export class MetadataStore {
  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
    /** Metadata bytes per block. */
    readonly ms: number,
    /** Offset of the PI tuple inside each block's metadata; undefined without PI. */
    private readonly piOffset: number | undefined,
    private readonly holes: HolePuncher,
  ) {}

  /**
   * Opens (creating) the sidecar of `blocks` blocks; `fresh` discards what it held (after a format).
   * The file is extended sparse to its full size.
   */
  static async open(
    path: string,
    blocks: number,
    ms: number,
    piOffset: number | undefined,
    fresh: boolean,
    holes: HolePuncher,
  ): Promise<MetadataStore> {
    await (await open(path, fresh ? 'w' : 'a')).close();
    const file = await open(path, 'r+');
    const size = blocks * ms;
    if ((await file.stat()).size !== size) await file.truncate(size);
    return new MetadataStore(file, path, ms, piOffset, holes);
  }

  /** Inverts the PI bytes of every block in `bytes` (its own inverse: used for both directions). */
  private flipProtection(bytes: Uint8Array): void {
    const at = this.piOffset;
    if (at === undefined) return;
    for (let b = at; b < bytes.byteLength; b += this.ms) {
      for (let i = b; i < b + PI_TUPLE_BYTES; i++) bytes[i] = ~(bytes[i] as number) & 0xff;
    }
  }

  /** The metadata of blocks [slba, slba + count). */
  async read(slba: bigint, count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * this.ms);
    const base = Number(slba) * this.ms;
    let done = 0;
    while (done < out.byteLength) {
      const { bytesRead } = await this.file.read(out, done, out.byteLength - done, base + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.flipProtection(out);
    return out;
  }

  /** Stores `bytes` (count × ms) as the metadata of the blocks from `slba`. */
  async write(slba: bigint, bytes: Uint8Array): Promise<void> {
    const stored = bytes.slice();
    this.flipProtection(stored);
    const base = Number(slba) * this.ms;
    let done = 0;
    while (done < stored.byteLength) {
      const { bytesWritten } = await this.file.write(stored, done, stored.byteLength - done, base + done);
      done += bytesWritten;
    }
  }

  /** Deallocated blocks read back PI all FFh and other metadata 0h. */
  async deallocate(slba: bigint, count: number): Promise<void> {
    await this.holes.punchHole(this.file, Number(slba) * this.ms, count * this.ms);
  }

  async flush(): Promise<void> {
    await this.file.datasync();
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /** Closes and removes the sidecar. */
  async destroy(): Promise<void> {
    await this.file.close();
    await unlink(this.path).catch(() => {});
  }
}

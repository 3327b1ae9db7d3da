import type { FileHandle } from 'node:fs/promises';

/**
 * Frees a byte range of a backing file so it reads back as zeroes (fallocate PUNCH_HOLE|KEEP_SIZE).
 * Node has no fallocate: `NativeHolePuncher` (native-hole-puncher.ts) calls `@p2pkit/native`'s.
 */
export interface HolePuncher {
  punchHole(file: FileHandle, offset: number, length: number): Promise<void>;
}

const CHUNK = 1 << 20;

/** Portable fallback: writes zeroes. Correct data, but no space is reclaimed. */
export class ZeroFillHolePuncher implements HolePuncher {
  private readonly zeroes = new Uint8Array(CHUNK);

  async punchHole(file: FileHandle, offset: number, length: number): Promise<void> {
    const { size } = await file.stat();
    // Beyond EOF the sparse file already reads as zero.
    const end = Math.min(offset + length, size);
    let at = offset;
    while (at < end) {
      const n = Math.min(CHUNK, end - at);
      await file.write(this.zeroes, 0, n, at);
      at += n;
    }
  }
}

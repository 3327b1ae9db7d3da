import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NativeError, readVectored, SharedMemory, writeVectored } from '../src/index.ts';
import { tempDir } from './helpers.ts';

/** Bytes whose value tells their file position (mod 251, a prime: no page-sized period). */
function pattern(length: number, from = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) % 251);
}

describe('readVectored / writeVectored', () => {
  it('fill and drain scattered pieces of mapped memory in order, in one call', () => {
    const dir = tempDir();
    const mem = SharedMemory.create('vectored', 1 << 16);
    try {
      const path = join(dir.path, 'image');
      writeFileSync(path, pattern(1 << 16));
      const fd = openSync(path, 'r+');
      // Every other page, the first one starting mid-page, like a PRP list with an offset PRP1.
      const pieces = [mem.bytes.subarray(100, 4096), mem.bytes.subarray(8192, 12288), mem.bytes.subarray(16384, 16400)];
      const total = pieces.reduce((a, p) => a + p.length, 0);
      expect(readVectored(fd, pieces, 1000)).toBe(total);
      let at = 1000;
      for (const p of pieces) {
        expect(p).toEqual(pattern(p.length, at));
        at += p.length;
      }
      expect(mem.bytes[4096]).toBe(0); // the gaps are untouched
      for (const p of pieces) p.fill(0xee);
      writeVectored(fd, pieces, 50_000);
      closeSync(fd);
      const image = readFileSync(path);
      expect(image.subarray(50_000, 50_000 + total).every((b) => b === 0xee)).toBe(true);
      expect(image[49_999]).toBe(pattern(1, 49_999)[0]);
      expect(image[50_000 + total]).toBe(pattern(1, 50_000 + total)[0]);
    } finally {
      mem.close();
      dir.cleanup();
    }
  });

  it('stops at end of file and reports how much it read', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'short');
      writeFileSync(path, pattern(6000));
      const fd = openSync(path, 'r');
      const a = new Uint8Array(4096);
      const b = new Uint8Array(4096).fill(9);
      expect(readVectored(fd, [a, b], 0)).toBe(6000);
      expect(a).toEqual(pattern(4096));
      expect(b.subarray(0, 1904)).toEqual(pattern(1904, 4096));
      expect(b[1904]).toBe(9); // past EOF: left alone for the caller to zero-fill
      closeSync(fd);
    } finally {
      dir.cleanup();
    }
  });

  it('splits lists longer than IOV_MAX across calls, and small on-heap arrays work too', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'many');
      writeFileSync(path, pattern(3000 * 8));
      const fd = openSync(path, 'r');
      const pieces = Array.from({ length: 3000 }, () => new Uint8Array(8));
      expect(readVectored(fd, pieces, 0)).toBe(3000 * 8);
      expect(pieces[2999]).toEqual(pattern(8, 2999 * 8));
      closeSync(fd);
    } finally {
      dir.cleanup();
    }
  });

  it('throws NativeError on a bad fd', () => {
    expect(() => readVectored(-1, [new Uint8Array(4)], 0)).toThrow(NativeError);
  });
});

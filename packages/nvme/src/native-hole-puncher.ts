import type { FileHandle } from 'node:fs/promises';
import { punchHole } from '@p2pkit/native';
import type { HolePuncher } from './hole-puncher.ts';

/** fallocate(PUNCH_HOLE | KEEP_SIZE): deallocated blocks stop taking space in the sparse image. */
export class NativeHolePuncher implements HolePuncher {
  async punchHole(file: FileHandle, offset: number, length: number): Promise<void> {
    punchHole(file.fd, offset, length);
  }
}

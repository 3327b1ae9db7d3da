import { constants, fstatSync, openSync } from 'node:fs';
import { check } from './errors.ts';
import { OwnedFd } from './fd.ts';
import { C, libc } from './libc.ts';
import { MappedRegion } from './mmap.ts';

/**
 * Anonymous shared memory (memfd) mapped into this process: the backing of memory BARs that QEMU
 * maps for the guest CPU, and of guest RAM in tests.
 */
export class SharedMemory {
  readonly fd: OwnedFd;
  readonly region: MappedRegion;
  readonly size: number;

  private constructor(fd: OwnedFd, size: number) {
    this.fd = fd;
    this.size = size;
    this.region = MappedRegion.map(fd.fd, 0, size, 'rw');
  }

  /** memfd_create(name) + ftruncate(size) + mmap. */
  static create(name: string, size: number): SharedMemory {
    const fd = new OwnedFd(check('memfd_create', libc.memfd_create(name, C.MFD_CLOEXEC)));
    try {
      check('ftruncate', libc.ftruncate(fd.fd, BigInt(size)));
      return new SharedMemory(fd, size);
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  /**
   * A regular file mapped shared (e.g. persistent memory contents): created or extended to
   * `size`, whose existing contents are kept. `sync()` makes guest stores durable.
   */
  static openFile(path: string, size: number): SharedMemory {
    const fd = new OwnedFd(openSync(path, constants.O_RDWR | constants.O_CREAT | 0o2000000 /* O_CLOEXEC */, 0o600));
    try {
      if (fstatSync(fd.fd).size < size) check('ftruncate', libc.ftruncate(fd.fd, BigInt(size)));
      return new SharedMemory(fd, size);
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  /** Flush a file-backed mapping to its file (msync). */
  sync(): void {
    this.region.sync();
  }

  get bytes(): Uint8Array {
    return this.region.bytes;
  }

  close(): void {
    this.region.unmap();
    this.fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Deallocate a byte range of a file, keeping its size (sparse files: NVMe deallocate). */
export function punchHole(fd: number, offset: bigint | number, length: bigint | number): void {
  check('fallocate', libc.fallocate(fd, C.FALLOC_FL_PUNCH_HOLE | C.FALLOC_FL_KEEP_SIZE, BigInt(offset), BigInt(length)));
}

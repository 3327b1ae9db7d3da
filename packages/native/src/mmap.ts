import { check, lastErrno, NativeError } from './errors.ts';
import { C, koffi, libc, MAP_FAILED } from './libc.ts';

export type Protection = 'r' | 'rw';

// After unmap, a stale koffi view would fault the whole process. Instead of munmap we atomically
// replace the range with private anonymous memory (MAP_FIXED): the fd mapping is gone, stale views
// touch harmless zero pages, and the placeholder is released when the last view is collected.
const placeholders = new FinalizationRegistry<{ addr: bigint; length: number }>(({ addr, length }) => {
  libc.munmap(addr, length);
});

/**
 * A mapping of (part of) a file descriptor, e.g. a guest-RAM memfd from DMA_MAP.
 * Access goes through this object; `unmap()` invalidates it before the memory goes away, so no view
 * handed out by it can reach the file afterwards.
 */
export class MappedRegion {
  #addr: bigint;
  #buffer: ArrayBuffer | undefined;
  #bytes: Uint8Array | undefined;
  readonly length: number;
  readonly writable: boolean;

  private constructor(addr: bigint, length: number, writable: boolean) {
    this.#addr = addr;
    this.length = length;
    this.writable = writable;
    this.#buffer = koffi.view(addr, length);
    this.#bytes = new Uint8Array(this.#buffer);
  }

  /** mmap(MAP_SHARED) `length` bytes of `fd` at `offset`. The fd may be closed afterwards. */
  static map(fd: number, offset: bigint | number, length: number, prot: Protection = 'rw'): MappedRegion {
    if (length <= 0) throw new RangeError('mapping length must be positive');
    const protBits = prot === 'rw' ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ;
    const addr = libc.mmap(null, length, protBits, C.MAP_SHARED, fd, BigInt(offset)) as bigint;
    if (addr === MAP_FAILED || addr === null) throw new NativeError('mmap', lastErrno(), `fd ${fd}, ${length} bytes`);
    return new MappedRegion(BigInt(addr), length, prot === 'rw');
  }

  get mapped(): boolean {
    return this.#bytes !== undefined;
  }

  /** All bytes of the mapping; throws after unmap. Do not keep it across event-loop turns. */
  get bytes(): Uint8Array {
    if (!this.#bytes) throw new Error('mapping was unmapped');
    return this.#bytes;
  }

  /** A zero-copy view of `[offset, offset + length)`; throws when out of bounds or unmapped. */
  view(offset: number, length: number): Uint8Array {
    const bytes = this.bytes;
    if (offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`view [${offset}, +${length}) outside mapping of ${this.length} bytes`);
    }
    return bytes.subarray(offset, offset + length);
  }

  /** msync(MS_SYNC): make stores through a file-backed mapping durable. */
  sync(): void {
    if (!this.#bytes) throw new Error('mapping was unmapped');
    check('msync', libc.msync(this.#addr, this.length, C.MS_SYNC));
  }

  /** Invalidate every accessor, then release the file mapping. Idempotent. */
  unmap(): void {
    if (!this.#bytes || !this.#buffer) return;
    const buffer = this.#buffer;
    this.#bytes = undefined;
    this.#buffer = undefined;
    const anon = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED | C.MAP_NORESERVE;
    const r = libc.mmap(this.#addr, this.length, C.PROT_READ | C.PROT_WRITE, anon, -1, 0n) as bigint;
    if (r === MAP_FAILED) {
      // Could not install the placeholder: unmap for real (stale views would fault, but none may exist).
      check('munmap', libc.munmap(this.#addr, this.length));
      return;
    }
    placeholders.register(buffer, { addr: this.#addr, length: this.length });
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

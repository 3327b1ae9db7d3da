import { constants } from 'node:buffer';
import { Errno } from '@p2pkit/base';
import { check, lastErrno, NativeError } from './errors.ts';
import { fileStat } from './fstat.ts';
import { C, koffi, libc, MAP_FAILED } from './libc.ts';

export type Protection = 'r' | 'rw';

/**
 * Views are made per chunk of this many bytes, lazily. Node 20 cannot make one ArrayBuffer of more
 * than 4 GiB (koffi.view aborts the whole process: `napi_get_last_error_info`), and a guest with
 * more than ~6 GiB of RAM sends a DMA_MAP that large.
 */
export const VIEW_CHUNK_BYTES = 1 << 30;
/** Largest mapping {@link MappedRegion.bytes} hands out as one view (Node's ArrayBuffer limit). */
const WHOLE_VIEW_MAX = Math.min(constants.MAX_LENGTH, 2 ** 32);

// After unmap, a stale koffi view would fault the whole process. Instead of munmap we atomically
// replace the range with private anonymous memory (MAP_FIXED): the fd mapping is gone, stale views
// touch harmless zero pages, and the placeholder is released when the last view is collected.
interface Placeholder {
  addr: bigint;
  length: number;
  views: number;
}
const placeholders = new FinalizationRegistry<Placeholder>((p) => {
  if (--p.views === 0) libc.munmap(p.addr, p.length);
});

/**
 * A mapping of (part of) a file descriptor, e.g. a guest-RAM memfd from DMA_MAP.
 * Access goes through this object; `unmap()` invalidates it before the memory goes away, so no view
 * handed out by it can reach the file afterwards. Mappings of any size work: zero-copy views exist
 * per {@link VIEW_CHUNK_BYTES} chunk, and {@link readInto}/{@link write} copy across chunks.
 */
export class MappedRegion {
  readonly #addr: bigint;
  #mapped = true;
  /** Chunk views, made on first use. */
  readonly #chunks: (Uint8Array | undefined)[];
  #whole: Uint8Array | undefined;
  /** Every ArrayBuffer handed out (each keeps the placeholder alive after unmap). */
  readonly #buffers: ArrayBuffer[] = [];
  readonly length: number;
  readonly writable: boolean;

  private constructor(addr: bigint, length: number, writable: boolean) {
    this.#addr = addr;
    this.length = length;
    this.writable = writable;
    this.#chunks = new Array(Math.ceil(length / VIEW_CHUNK_BYTES)).fill(undefined);
  }

  /** mmap(MAP_SHARED) `length` bytes of `fd` at `offset`. The fd may be closed afterwards. */
  static map(fd: number, offset: bigint | number, length: number, prot: Protection = 'rw'): MappedRegion {
    if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError('mapping length must be a positive safe integer');
    // mmap(2) accepts a range past the end of a file, but the first touch there is SIGBUS: the
    // whole process dies. Refuse it up front (regular files and memfds; others have no size).
    const st = fileStat(fd);
    if (st.isRegularFile && BigInt(offset) + BigInt(length) > st.size) {
      throw new NativeError('mmap', Errno.EINVAL, `fd ${fd}: [${offset}, +${length}) beyond the end of the file (${st.size} bytes)`);
    }
    const protBits = prot === 'rw' ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ;
    const addr = libc.mmap(null, length, protBits, C.MAP_SHARED, fd, BigInt(offset)) as bigint;
    if (addr === MAP_FAILED || addr === null) throw new NativeError('mmap', lastErrno(), `fd ${fd}, ${length} bytes`);
    return new MappedRegion(BigInt(addr), length, prot === 'rw');
  }

  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * All bytes of the mapping as one view; throws after unmap, and for mappings larger than one
   * ArrayBuffer can be (use {@link view}, {@link readInto}, {@link write}). Do not keep it across
   * event-loop turns.
   */
  get bytes(): Uint8Array {
    this.#live();
    if (this.length <= VIEW_CHUNK_BYTES) return this.#chunk(0);
    if (this.length > WHOLE_VIEW_MAX) {
      throw new RangeError(`mapping of ${this.length} bytes is larger than one view; use view/readInto/write`);
    }
    this.#whole ??= this.#makeView(this.#addr, this.length);
    return this.#whole;
  }

  /**
   * A zero-copy view of `[offset, offset + length)`, or undefined when the range crosses a chunk
   * boundary (then copy with {@link readInto}/{@link write}). Throws when out of bounds or unmapped.
   */
  tryView(offset: number, length: number): Uint8Array | undefined {
    this.#check(offset, length);
    if (length === 0) return new Uint8Array(0);
    const first = Math.floor(offset / VIEW_CHUNK_BYTES);
    if (first !== Math.floor((offset + length - 1) / VIEW_CHUNK_BYTES)) return undefined;
    const at = offset - first * VIEW_CHUNK_BYTES;
    return this.#chunk(first).subarray(at, at + length);
  }

  /** Like {@link tryView}, but a range crossing a chunk boundary is a RangeError. */
  view(offset: number, length: number): Uint8Array {
    const v = this.tryView(offset, length);
    if (!v) throw new RangeError(`view [${offset}, +${length}) crosses a ${VIEW_CHUNK_BYTES}-byte view boundary`);
    return v;
  }

  /** Copies `target.length` bytes at `offset` into `target`, chunk by chunk. */
  readInto(offset: number, target: Uint8Array): void {
    this.#check(offset, target.length);
    this.#pieces(offset, target.length, (view, done) => target.set(view, done));
  }

  /** Copies `data` to `offset`, chunk by chunk. */
  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    if (!this.writable) throw new RangeError('write to a read-only mapping'); // a store would be SIGSEGV
    this.#pieces(offset, data.length, (view, done) => view.set(data.subarray(done, done + view.length)));
  }

  #pieces(offset: number, length: number, each: (view: Uint8Array, done: number) => void): void {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const index = Math.floor(at / VIEW_CHUNK_BYTES);
      const inChunk = at - index * VIEW_CHUNK_BYTES;
      const n = Math.min(length - done, VIEW_CHUNK_BYTES - inChunk);
      each(this.#chunk(index).subarray(inChunk, inChunk + n), done);
      done += n;
    }
  }

  #check(offset: number, length: number): void {
    this.#live();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`view [${offset}, +${length}) outside mapping of ${this.length} bytes`);
    }
  }

  #live(): void {
    if (!this.#mapped) throw new Error('mapping was unmapped');
  }

  #chunk(index: number): Uint8Array {
    let c = this.#chunks[index];
    if (!c) {
      const start = index * VIEW_CHUNK_BYTES;
      c = this.#makeView(this.#addr + BigInt(start), Math.min(VIEW_CHUNK_BYTES, this.length - start));
      this.#chunks[index] = c;
    }
    return c;
  }

  #makeView(addr: bigint, length: number): Uint8Array {
    const buffer = koffi.view(addr, length);
    this.#buffers.push(buffer);
    return new Uint8Array(buffer);
  }

  /** msync(MS_SYNC): make stores through a file-backed mapping durable. */
  sync(): void {
    this.#live();
    check('msync', libc.msync(this.#addr, this.length, C.MS_SYNC));
  }

  /** Invalidate every accessor, then release the file mapping. Idempotent. */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    this.#chunks.fill(undefined);
    this.#whole = undefined;
    const buffers = this.#buffers.splice(0);
    if (buffers.length === 0) {
      check('munmap', libc.munmap(this.#addr, this.length)); // no view was ever made: nothing can touch it
      return;
    }
    const anon = C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED | C.MAP_NORESERVE;
    const r = libc.mmap(this.#addr, this.length, C.PROT_READ | C.PROT_WRITE, anon, -1, 0n) as bigint;
    if (r === MAP_FAILED) {
      // Could not install the placeholder: unmap for real (stale views would fault, but none may exist).
      check('munmap', libc.munmap(this.#addr, this.length));
      return;
    }
    const p: Placeholder = { addr: this.#addr, length: this.length, views: buffers.length };
    for (const b of buffers) placeholders.register(b, p);
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

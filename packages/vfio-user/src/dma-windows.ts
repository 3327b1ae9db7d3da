import { Errno } from '@p2pkit/base';
import { fileStat, MappedRegion, NativeError } from '@p2pkit/native';
import { DmaMapFlags } from './protocol.ts';

/** One DMA_MAP window of the client's address space. */
export interface DmaWindow {
  address: bigint;
  size: bigint;
  flags: number;
  /** Present when the client passed an fd we could mmap; absent windows are reached by messages. */
  region?: MappedRegion;
}

/** A failed table operation with the errno the reply should carry. */
export class WindowError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

/**
 * The DMA_MAP table: non-overlapping windows sorted by address, each optionally mmapped.
 * Removing a window invalidates its views before the memory is released (spec: before replying).
 */
export class DmaWindowTable {
  #windows: DmaWindow[] = [];
  readonly maxWindows: number;

  constructor(maxWindows = 65535) {
    this.maxWindows = maxWindows;
  }

  get size(): number {
    return this.#windows.length;
  }

  list(): readonly DmaWindow[] {
    return this.#windows;
  }

  /** Add a window; maps `fd` (not kept open) when given. */
  add(address: bigint, size: bigint, flags: number, fd?: number, fdOffset = 0n): DmaWindow {
    if (flags & ~(DmaMapFlags.READ | DmaMapFlags.WRITE))
      throw new WindowError(`unknown DMA_MAP flags 0x${flags.toString(16)}`, Errno.EINVAL);
    if (!(flags & DmaMapFlags.READ)) throw new WindowError('DMA_MAP without READ permission', Errno.EINVAL);
    if (size === 0n) throw new WindowError('DMA_MAP of size 0', Errno.EINVAL);
    if (address + size > 0xffffffffffffffffn + 1n) throw new WindowError('DMA_MAP range wraps the address space', Errno.EINVAL);
    if (this.#windows.length >= this.maxWindows) throw new WindowError('too many DMA windows', Errno.ENOSPC);
    const at = this.#insertionIndex(address);
    const prev = this.#windows[at - 1];
    const next = this.#windows[at];
    if ((prev && prev.address + prev.size > address) || (next && address + size > next.address)) {
      throw new WindowError(`DMA_MAP [0x${address.toString(16)}, +0x${size.toString(16)}) overlaps an existing window`, Errno.EEXIST);
    }
    const window: DmaWindow = { address, size, flags };
    if (fd !== undefined) {
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new WindowError('DMA window too large to map', Errno.ENOMEM);
      checkBackingFile(fd, fdOffset, size);
      try {
        window.region = MappedRegion.map(fd, fdOffset, Number(size), flags & DmaMapFlags.WRITE ? 'rw' : 'r');
      } catch (e) {
        throw new WindowError(`cannot mmap DMA window: ${(e as Error).message}`, e instanceof NativeError ? e.errno : Errno.EINVAL);
      }
    }
    this.#windows.splice(at, 0, window);
    return window;
  }

  /**
   * DMA_UNMAP of `[address, address + size)` with Linux type1 IOMMU semantics
   * (vfio_dma_do_unmap): every window entirely inside the range is removed — none is fine — and a
   * range that would split a window is refused with EINVAL, leaving every window mapped.
   * Returns the windows removed.
   */
  removeRange(address: bigint, size: bigint): number {
    const hex = (n: bigint) => `0x${n.toString(16)}`;
    const end = address + size;
    if (size === 0n || end > 0xffffffffffffffffn + 1n) {
      throw new WindowError(`DMA_UNMAP [${hex(address)}, +${hex(size)}): empty or wrapping range`, Errno.EINVAL);
    }
    const first = this.#insertionIndex(address);
    const before = this.#windows[first - 1];
    if (before && before.address + before.size > address) {
      throw new WindowError(`DMA_UNMAP [${hex(address)}, +${hex(size)}) starts inside the window at ${hex(before.address)}`, Errno.EINVAL);
    }
    let last = first;
    while (last < this.#windows.length && (this.#windows[last] as DmaWindow).address < end) last++;
    const tail = this.#windows[last - 1];
    if (last > first && tail && tail.address + tail.size > end) {
      throw new WindowError(`DMA_UNMAP [${hex(address)}, +${hex(size)}) ends inside the window at ${hex(tail.address)}`, Errno.EINVAL);
    }
    // Views are invalidated before the reply (vfio-user.md DMA_UNMAP: no access after the reply).
    for (const w of this.#windows.splice(first, last - first)) w.region?.unmap();
    return last - first;
  }

  removeAll(): void {
    for (const w of this.#windows.splice(0)) w.region?.unmap();
  }

  /** The window containing all of `[address, address + length)`, if any. */
  find(address: bigint, length: number): DmaWindow | undefined {
    let lo = 0;
    let hi = this.#windows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const w = this.#windows[mid] as DmaWindow;
      if (address < w.address) hi = mid - 1;
      else if (address >= w.address + w.size) lo = mid + 1;
      else return address + BigInt(length) <= w.address + w.size ? w : undefined;
    }
    return undefined;
  }

  /**
   * Zero-copy bytes of a mapped window range with the needed permission, else undefined (also when
   * the range crosses one of the mapping's view chunks: windows may exceed one ArrayBuffer).
   */
  directView(address: bigint, length: number, forWrite: boolean): Uint8Array | undefined {
    const w = this.find(address, length);
    if (!w?.region || (forWrite && !(w.flags & DmaMapFlags.WRITE))) return undefined;
    return w.region.tryView(Number(address - w.address), length);
  }

  #insertionIndex(address: bigint): number {
    let lo = 0;
    let hi = this.#windows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#windows[mid] as DmaWindow).address < address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The window must lie inside a regular file (a memfd, a tmpfs/hugetlbfs file): touching a mapping
 * past the end of the file raises SIGBUS, which would kill the server (vfio-user.md DMA_MAP: the fd
 * is "a file descriptor for the memory region"; Linux type1 refuses such maps with EINVAL too).
 */
function checkBackingFile(fd: number, offset: bigint, size: bigint): void {
  let st: ReturnType<typeof fileStat>;
  try {
    st = fileStat(fd);
  } catch (e) {
    throw new WindowError(`DMA_MAP fd: ${(e as Error).message}`, e instanceof NativeError ? e.errno : Errno.EINVAL);
  }
  if (!st.isRegularFile) throw new WindowError(`DMA_MAP fd is not a regular file or memfd (mode 0o${st.mode.toString(8)})`, Errno.EINVAL);
  if (offset + size > st.size) {
    throw new WindowError(
      `DMA_MAP [offset 0x${offset.toString(16)}, +0x${size.toString(16)}) reaches beyond the end of the file (0x${st.size.toString(16)} bytes)`,
      Errno.EINVAL,
    );
  }
}

/**
 * Shared memory backing memory BARs. `@p2pkit/native` provides a memfd + mmap implementation;
 * {@link heapBarMemory} is a plain-buffer fallback for unit tests (no fd, so no mmap).
 */

/** One shared memory object. */
export interface BarMemory {
  /** File descriptor QEMU may mmap, or -1 when the memory cannot be shared. */
  readonly fd: number;
  /** The memory as this process sees it (valid until `close`). */
  readonly bytes: Uint8Array;
  /** Unmaps and closes the fd. */
  close(): void;
}

/** Creates shared memory objects; injectable so `@p2pkit/pci` needs no native code. */
export interface BarMemoryProvider {
  create(name: string, size: number): BarMemory;
}

/** Provider backed by ordinary ArrayBuffers (fd -1): BARs work but are trapped, never mmapped. */
export const heapBarMemory: BarMemoryProvider = {
  create(_name: string, size: number): BarMemory {
    let bytes = new Uint8Array(size);
    return {
      fd: -1,
      get bytes() {
        return bytes;
      },
      close() {
        bytes = new Uint8Array(0);
      },
    };
  },
};

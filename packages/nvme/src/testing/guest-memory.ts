/**
 * Guest RAM for an NVMe test host: a memfd that this process maps (playing the guest CPU, which
 * writes commands and reads data in place) and that the vfio-user client DMA_MAPs to the server with
 * its fd, as QEMU does with memory-backend-memfd. Byte `i` of {@link GuestMemory.bytes} is at bus
 * address `base + i`.
 */
import { SharedMemory } from '@p2pkit/native';

/** Where guest memory sits on the bus and how large it is. */
export interface GuestMemoryOptions {
  /** Bus address of the first byte; default 1 MiB (0x10_0000). */
  base?: bigint;
  /** Size in bytes; default 32 MiB. */
  size?: number;
  /** memfd name (shown in /proc/<pid>/fd); default 'guest-ram'. */
  name?: string;
}

/** Guest RAM backed by a memfd, with a bump allocator for queues, PRP/SGL lists and data buffers. */
export class GuestMemory {
  /** Bus address of the first byte. */
  readonly base: bigint;
  /** Size in bytes. */
  readonly size: number;
  /** The memfd and this process's mapping of it. */
  readonly shared: SharedMemory;
  #next: bigint;

  constructor(options: GuestMemoryOptions = {}) {
    this.base = options.base ?? 0x10_0000n;
    this.size = options.size ?? 32 << 20;
    if (this.base < 0n || this.base % 4096n !== 0n)
      throw new RangeError(`guest memory base 0x${this.base.toString(16)} is not page aligned`);
    this.shared = SharedMemory.create(options.name ?? 'guest-ram', this.size);
    this.#next = this.base;
  }

  /** The memfd: pass it to the vfio-user client's DMA_MAP so the server maps the same pages. */
  get fd(): number {
    return this.shared.fd.fd;
  }

  /** All of guest memory: byte `i` is at bus address `base + i`. */
  get bytes(): Uint8Array {
    return this.shared.bytes;
  }

  /** Whether `[address, address + length)` lies inside guest memory. */
  contains(address: bigint, length: number): boolean {
    return address >= this.base && address + BigInt(length) <= this.base + BigInt(this.size);
  }

  /**
   * The guest CPU's view of `[address, address + length)`: what you write there the controller
   * reads by DMA, and what it writes you read here. Throws a RangeError outside guest memory.
   */
  view(address: bigint, length: number): Uint8Array {
    if (length < 0 || !this.contains(address, length)) {
      throw new RangeError(`0x${address.toString(16)}+${length} is not inside guest memory (0x${this.base.toString(16)}+${this.size})`);
    }
    const offset = Number(address - this.base);
    return this.bytes.subarray(offset, offset + length);
  }

  /** A DataView of `[address, address + length)`, for NVMe's little-endian structures. */
  dataView(address: bigint, length: number): DataView {
    const bytes = this.view(address, length);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Allocates `size` zeroed bytes aligned to `align` (a power of two; default 4 KiB, the NVMe
   * memory page) and returns their bus address. Nothing is freed: use one harness per test.
   * Throws when guest memory is exhausted.
   */
  alloc(size: number, align = 4096): bigint {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`allocation size ${size}`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0)
      throw new RangeError(`alignment ${align} is not a power of two`);
    const a = BigInt(align);
    const at = ((this.#next + a - 1n) / a) * a;
    if (!this.contains(at, size)) {
      throw new Error(`guest memory exhausted: ${size} bytes requested, ${this.size} in all (GuestMemoryOptions.size)`);
    }
    this.#next = at + BigInt(size);
    this.view(at, size).fill(0);
    return at;
  }

  /** Unmaps and closes the memfd (the server keeps its own mapping until it unmaps). */
  close(): void {
    this.shared.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

import type { BarMemoryProvider } from './bar-memory.ts';
/**
 * BAR declarations for `defineEndpoint`: trapped MMIO, memory-backed (mmappable) and I/O BARs.
 */
import type { EndpointHandle } from './handle.ts';

/** Size of one guest access to a trapped BAR. */
export type AccessSize = 1 | 2 | 4 | 8;

/**
 * Read handler: returns the value of `size` bytes at `offset` (little-endian). Numbers are
 * truncated to `size` bytes; use bigint for 8-byte values above 2^53.
 */
export type BarReadHandler = (offset: number, size: AccessSize, dev: EndpointHandle) => number | bigint;
/** Write handler: `value` holds the `size` bytes written at `offset` (little-endian), zero-extended. */
export type BarWriteHandler = (offset: number, size: AccessSize, value: bigint, dev: EndpointHandle) => void;

interface MemoryBarCommon {
  /** Bytes; a power of two (≥ 4 KiB recommended so it can be mmapped). */
  size: number;
  /** Address width. Default 32 (64 when `size` exceeds 2 GiB). */
  bits?: 32 | 64;
  /** Prefetchable memory (no read side effects). */
  prefetchable?: boolean;
}

/** Trapped MMIO BAR: every guest access becomes a handler call. */
export interface MmioBar extends MemoryBarCommon {
  readonly kind: 'mmio';
  read?: BarReadHandler;
  write?: BarWriteHandler;
}

/**
 * Memory-backed BAR: plain bytes shared with QEMU (memfd) so guest CPU accesses bypass the device.
 * Pages holding an MSI-X table or PBA stay trapped.
 */
export interface MemoryBar extends MemoryBarCommon {
  readonly kind: 'memory';
  /** Name of the shared memory object (diagnostics). */
  name?: string;
  /** Backing for this BAR only (e.g. a file for persistent memory); default: the instance's provider. */
  provider?: BarMemoryProvider;
}

/** I/O-space BAR (4..256 bytes, PCI 3.0 §6.2.5.1); accesses are always trapped. */
export interface IoBar {
  readonly kind: 'io';
  size: number;
  read?: BarReadHandler;
  write?: BarWriteHandler;
}

export type BarDeclaration = MmioBar | MemoryBar | IoBar;

type WithoutKind<T> = Omit<T, 'kind'>;

/** Declares a trapped MMIO BAR. */
export const mmio = (options: WithoutKind<MmioBar>): MmioBar => ({ kind: 'mmio', ...options });
/** Declares a memory-backed BAR (exported to QEMU by memfd for mmap). */
export const memory = (options: WithoutKind<MemoryBar>): MemoryBar => ({ kind: 'memory', ...options });
/** Declares an I/O BAR. */
export const io = (options: WithoutKind<IoBar>): IoBar => ({ kind: 'io', ...options });

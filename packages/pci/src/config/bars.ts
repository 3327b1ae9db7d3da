/**
 * Base Address Registers in config space (PCI 3.0 §6.2.5.1): type bits, sizing and address learning.
 *
 * Sizing needs no special case: only address bits above the BAR size are writable, so after the
 * guest writes all-ones it reads back the size mask with the read-only type bits (QEMU's wmask model).
 */
import { hex, isPowerOfTwo } from '@p2pkit/base';
import { BarBits, PciHeader } from './registers.ts';
import type { ConfigSpace } from './space.ts';

export type BarIndex = 0 | 1 | 2 | 3 | 4 | 5;
export const BAR_COUNT = 6;

/** How one BAR decodes, independent of what backs it. */
export interface BarLayout {
  index: BarIndex;
  space: 'memory' | 'io';
  /** Bytes; a power of two, ≥ 16 for memory (≥ 4 KiB recommended), 4..256 for I/O. */
  size: number;
  /** 64-bit memory BAR: uses `index` and `index + 1`. */
  is64: boolean;
  prefetchable: boolean;
}

/**
 * Listener for BAR address changes; `undefined` means unprogrammed or being sized. A 64-bit BAR is
 * written one dword at a time, so a transient address (new low, old high) may be reported first.
 * Addresses are reported whether or not Memory Space Enable is set.
 */
export type BarAddressListener = (bar: BarIndex, address: bigint | undefined) => void;

/** Validates a set of BAR layouts; throws a descriptive error on the first problem. */
export function validateBarLayouts(layouts: readonly BarLayout[]): void {
  const used = new Map<number, BarIndex>();
  for (const b of layouts) {
    if (!Number.isInteger(b.index) || b.index < 0 || b.index >= BAR_COUNT) throw new RangeError(`BAR index ${b.index} is not 0..5`);
    if (!isPowerOfTwo(b.size)) throw new RangeError(`BAR${b.index}: size ${b.size} is not a power of two`);
    if (b.space === 'io') {
      if (b.is64 || b.prefetchable) throw new RangeError(`BAR${b.index}: an I/O BAR is neither 64-bit nor prefetchable`);
      if (b.size < 4 || b.size > 256) throw new RangeError(`BAR${b.index}: I/O BAR size must be 4..256 bytes (PCI 3.0 §6.2.5.1)`);
    } else {
      if (b.size < 16) throw new RangeError(`BAR${b.index}: memory BAR size must be at least 16 bytes`);
      if (!b.is64 && b.size > 2 ** 31) throw new RangeError(`BAR${b.index}: ${hex(b.size)} bytes needs a 64-bit BAR`);
      if (b.is64 && b.index === 5) throw new RangeError('BAR5 cannot be 64-bit (it needs BAR6 for the upper half)');
    }
    const slots = b.is64 ? [b.index, b.index + 1] : [b.index];
    for (const s of slots) {
      const other = used.get(s);
      if (other !== undefined) throw new RangeError(`BAR${b.index} overlaps BAR${other} (register ${s})`);
      used.set(s, b.index);
    }
  }
}

const barOffset = (index: number): number => PciHeader.BAR0 + 4 * index;

/** Low type bits of a BAR register. */
export function barTypeBits(b: BarLayout): number {
  if (b.space === 'io') return BarBits.IO_SPACE;
  return (b.is64 ? BarBits.MEM_TYPE_64 : 0) | (b.prefetchable ? BarBits.PREFETCHABLE : 0);
}

/** Installs BAR registers into `space` and tracks the addresses the guest programs. */
export class BarRegisters {
  readonly #space: ConfigSpace;
  readonly #layouts = new Map<BarIndex, BarLayout>();
  readonly #addresses = new Map<BarIndex, bigint | undefined>();
  readonly #listeners = new Set<BarAddressListener>();

  constructor(space: ConfigSpace, layouts: readonly BarLayout[]) {
    validateBarLayouts(layouts);
    this.#space = space;
    for (let i = 0; i < BAR_COUNT; i++) space.define({ offset: barOffset(i), width: 4 }); // unused: RO 0
    for (const b of layouts) {
      this.#layouts.set(b.index, b);
      this.#addresses.set(b.index, undefined);
      const sizeMask = BigInt.asUintN(64, ~(BigInt(b.size) - 1n));
      const flagMask = b.space === 'io' ? BarBits.IO_FLAGS_MASK : BarBits.MEM_FLAGS_MASK;
      const lowRw = Number(sizeMask & 0xffff_ffffn) & ~flagMask;
      space.define({ offset: barOffset(b.index), width: 4, value: barTypeBits(b), rw: lowRw >>> 0 });
      if (b.is64) space.define({ offset: barOffset(b.index + 1), width: 4, rw: Number(sizeMask >> 32n) >>> 0 });
      space.onWrite(barOffset(b.index), b.is64 ? 8 : 4, () => this.#refresh(b));
    }
  }

  /** The BAR layouts, by index. */
  layout(index: BarIndex): BarLayout | undefined {
    return this.#layouts.get(index);
  }

  /** The address the guest programmed, or `undefined` while unprogrammed or being sized. */
  address(index: BarIndex): bigint | undefined {
    return this.#addresses.get(index);
  }

  /** Calls `listener` whenever a BAR's decoded address changes. Returns an unsubscribe. */
  onAddress(listener: BarAddressListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads every BAR after the config space was reset (addresses become `undefined`). */
  refreshAll(): void {
    for (const b of this.#layouts.values()) this.#refresh(b);
  }

  /** Decodes the programmed address of `b` from its register(s). */
  #decode(b: BarLayout): bigint | undefined {
    const flagMask = b.space === 'io' ? BarBits.IO_FLAGS_MASK : BarBits.MEM_FLAGS_MASK;
    const lowOffset = barOffset(b.index);
    const lowAddress = this.#space.get32(lowOffset) & ~flagMask;
    const lowMask = readMask32(this.#space, lowOffset) & ~flagMask;
    let address = BigInt(lowAddress >>> 0);
    // A register whose writable bits are all ones is being sized, not programmed (Linux/QEMU convention).
    let sizing = lowMask !== 0 && (lowAddress & lowMask) >>> 0 === lowMask >>> 0;
    if (b.is64) {
      const highOffset = lowOffset + 4;
      const high = this.#space.get32(highOffset);
      const highMask = readMask32(this.#space, highOffset);
      address |= BigInt(high) << 32n;
      if (highMask === 0xffff_ffff && high === 0xffff_ffff) sizing = true;
      if (lowMask === 0 && highMask !== 0 && (high & highMask) >>> 0 === highMask) sizing = true;
    }
    if (sizing || address === 0n) return undefined;
    return address;
  }

  #refresh(b: BarLayout): void {
    const next = this.#decode(b);
    if (next === this.#addresses.get(b.index)) return;
    this.#addresses.set(b.index, next);
    for (const listener of this.#listeners) listener(b.index, next);
  }
}

/** The RW mask of the 32-bit register at `offset`. */
function readMask32(space: ConfigSpace, offset: number): number {
  const w = space.writable;
  return ((w[offset] ?? 0) | ((w[offset + 1] ?? 0) << 8) | ((w[offset + 2] ?? 0) << 16) | ((w[offset + 3] ?? 0) << 24)) >>> 0;
}

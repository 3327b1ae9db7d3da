/** MSI capability (PCI 3.0 §6.8.1, PCIe 6.0 §7.7.1). QEMU emulates it but forwards guest writes. */

import { isPowerOfTwo } from '@p2pkit/base';
import { CapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { Capability } from './capability.ts';

export interface MsiOptions {
  /** Vectors requested (Multiple Message Capable): 1, 2, 4, 8, 16 or 32. Default 1. */
  vectors?: number;
  /** 64-bit message address. Default true. */
  address64?: boolean;
  /** Per-vector masking (Mask Bits / Pending Bits registers). Default false. */
  perVectorMasking?: boolean;
}

/** Runtime view of one installed MSI capability. */
export interface MsiState {
  readonly offset: number;
  readonly vectors: number;
  /** MSI Enable, as last written by the guest. */
  readonly enabled: boolean;
  /** Vectors the guest allocated (Multiple Message Enable), ≤ `vectors`. */
  readonly allocatedVectors: number;
  /** Whether `vector`'s Mask Bit is set (always false without per-vector masking). */
  isMasked(vector: number): boolean;
  /** Sets or clears `vector`'s Pending Bit (no effect without per-vector masking). */
  setPending(vector: number, pending: boolean): void;
  isPending(vector: number): boolean;
  /** Calls `listener` after any guest write to the capability (enable, mask bits...). */
  onChange(listener: () => void): () => void;
}

export interface MsiCapability extends Capability<MsiState> {
  readonly kind: 'msi';
  readonly vectors: number;
}

const CONTROL = 2;
const CTRL_ENABLE = 1 << 0;
const CTRL_64BIT = 1 << 7;
const CTRL_MASKABLE = 1 << 8;

/** Declares an MSI capability. */
export function msi(options: MsiOptions = {}): MsiCapability {
  const vectors = options.vectors ?? 1;
  if (!isPowerOfTwo(vectors) || vectors > 32) throw new RangeError(`msi: vectors must be 1, 2, 4, 8, 16 or 32, got ${vectors}`);
  const address64 = options.address64 ?? true;
  const maskable = options.perVectorMasking ?? false;
  const dataAt = address64 ? 0x0c : 0x08;
  const maskAt = dataAt + 4;
  const pendingAt = maskAt + 4;
  const size = maskable ? pendingAt + 4 : dataAt + 4;
  const vectorBits = vectors === 32 ? 0xffff_ffff : (1 << vectors) - 1;

  return {
    kind: 'msi',
    id: CapabilityId.MSI,
    size,
    vectors,
    install(space: ConfigSpace, offset: number): MsiState {
      const mmc = Math.log2(vectors);
      const control = (mmc << 1) | (address64 ? CTRL_64BIT : 0) | (maskable ? CTRL_MASKABLE : 0);
      // Enable and Multiple Message Enable are RW; everything else in Message Control is RO.
      space.define({ offset: offset + CONTROL, width: 2, value: control, rw: CTRL_ENABLE | (0x7 << 4) });
      space.define({ offset: offset + 4, width: 4, rw: 0xffff_fffc }); // Message Address, dword aligned
      if (address64) space.define({ offset: offset + 8, width: 4, rw: 0xffff_ffff });
      // Message Data RW; Extended Message Data not supported (PCIe 6.0 §7.7.1.2: RO 0 then).
      space.define({ offset: offset + dataAt, width: 2, rw: 0xffff });
      space.define({ offset: offset + dataAt + 2, width: 2 });
      if (maskable) {
        space.define({ offset: offset + maskAt, width: 4, rw: vectorBits >>> 0 });
        space.define({ offset: offset + pendingAt, width: 4 });
      }
      const control16 = () => space.get16(offset + CONTROL);
      const listeners = new Set<() => void>();
      space.onWrite(offset, size, () => {
        for (const l of listeners) l();
      });
      const bit = (vector: number) => (vector >= 0 && vector < 32 ? (1 << vector) >>> 0 : 0);
      return {
        offset,
        vectors,
        get enabled() {
          return (control16() & CTRL_ENABLE) !== 0;
        },
        get allocatedVectors() {
          // MME larger than MMC is a guest error; the function then uses MMC (PCI 3.0 §6.8.1.3).
          return Math.min(1 << ((control16() >> 4) & 0x7), vectors);
        },
        isMasked(vector) {
          return maskable && (space.get32(offset + maskAt) & bit(vector)) !== 0;
        },
        setPending(vector, pending) {
          if (!maskable) return;
          const value = space.get32(offset + pendingAt);
          space.set32(offset + pendingAt, pending ? value | bit(vector) : value & ~bit(vector));
        },
        isPending(vector) {
          return maskable && (space.get32(offset + pendingAt) & bit(vector)) !== 0;
        },
        onChange(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      };
    },
  };
}

/**
 * MSI-X capability (PCI 3.0 §6.8.2, PCIe 6.0 §7.7.2) with its table and Pending Bit Array.
 *
 * Under vfio-user QEMU emulates the capability and the table (table writes never reach the device)
 * but forwards PBA reads, so the device serves the PBA from its pending bits. The table kept here
 * only answers the rare table access that does arrive; its mask bits are not authoritative.
 */
import type { BarIndex } from '../config/bars.ts';
import { CapabilityId } from '../config/registers.ts';
import type { ConfigSpace } from '../config/space.ts';
import type { Capability } from './capability.ts';

export interface MsixOptions {
  /** Number of table entries, 1..2048. */
  vectors: number;
  /** BAR holding the table and PBA (the lower index of a 64-bit BAR). */
  bar: BarIndex;
  /** Byte offset of the table in the BAR; 8-byte aligned (4 KiB aligned keeps it off mmapped pages). */
  table: number;
  /** Byte offset of the PBA in the BAR; 8-byte aligned. Defaults to the same BAR as the table. */
  pba: number;
  /** BAR holding the PBA if different from `bar`. */
  pbaBar?: BarIndex;
}

/** A byte range of one BAR. */
export interface BarRange {
  bar: BarIndex;
  offset: number;
  size: number;
}

/** Runtime view of one installed MSI-X capability. */
export interface MsixState {
  readonly offset: number;
  readonly vectors: number;
  readonly tableRange: BarRange;
  readonly pbaRange: BarRange;
  /** MSI-X Enable as last written by the guest. */
  readonly enabled: boolean;
  /** Function Mask: while set no vector may send (PCI 3.0 §6.8.2.3). */
  readonly functionMasked: boolean;
  isPending(vector: number): boolean;
  setPending(vector: number, pending: boolean): void;
  /** Vectors whose pending bit is set, ascending. */
  pendingVectors(): number[];
  /** Serves a read fully inside the table or PBA of `bar`; `undefined` if it is not such an access. */
  read(bar: BarIndex, offset: number, size: number): Uint8Array | undefined;
  /** Handles a write inside the table or PBA (PBA writes are ignored); false if not such an access. */
  write(bar: BarIndex, offset: number, data: Uint8Array): boolean;
  /** Calls `listener` after a guest write to Message Control. */
  onChange(listener: () => void): () => void;
  /** Clears pending bits and the local table (all vectors masked), as after reset. */
  reset(): void;
}

export interface MsixCapability extends Capability<MsixState> {
  readonly kind: 'msix';
  readonly options: Readonly<Required<MsixOptions>>;
  readonly tableRange: BarRange;
  readonly pbaRange: BarRange;
}

const CONTROL = 2;
const CTRL_FUNCTION_MASK = 1 << 14;
const CTRL_ENABLE = 1 << 15;
const ENTRY_SIZE = 16;
const VECTOR_CONTROL = 12;

/** PBA size in bytes for `vectors` entries (QWORD granular, PCI 3.0 §6.8.2.9). */
export const pbaSize = (vectors: number): number => Math.ceil(vectors / 64) * 8;

/** Declares an MSI-X capability whose table and PBA live in a BAR the endpoint keeps trapped. */
export function msix(options: MsixOptions): MsixCapability {
  const { vectors, bar, table, pba } = options;
  const pbaBar = options.pbaBar ?? bar;
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) throw new RangeError(`msix: vectors must be 1..2048, got ${vectors}`);
  for (const [name, value] of [
    ['table', table],
    ['pba', pba],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value % 8 !== 0 || value > 0xffff_fff8) {
      throw new RangeError(`msix: ${name} offset ${value} must be a non-negative multiple of 8`);
    }
  }
  const tableRange: BarRange = { bar, offset: table, size: vectors * ENTRY_SIZE };
  const pbaRange: BarRange = { bar: pbaBar, offset: pba, size: pbaSize(vectors) };
  if (bar === pbaBar && tableRange.offset < pba + pbaRange.size && pba < tableRange.offset + tableRange.size) {
    throw new RangeError('msix: table and PBA overlap');
  }

  return {
    kind: 'msix',
    id: CapabilityId.MSIX,
    size: 12,
    options: { vectors, bar, table, pba, pbaBar },
    tableRange,
    pbaRange,
    install(space: ConfigSpace, offset: number): MsixState {
      space.define({ offset: offset + CONTROL, width: 2, value: vectors - 1, rw: CTRL_FUNCTION_MASK | CTRL_ENABLE });
      space.define({ offset: offset + 4, width: 4, value: (table | bar) >>> 0 });
      space.define({ offset: offset + 8, width: 4, value: (pba | pbaBar) >>> 0 });
      const tableBytes = new Uint8Array(tableRange.size);
      const pbaBytes = new Uint8Array(pbaRange.size);
      const clearTable = () => {
        tableBytes.fill(0);
        for (let v = 0; v < vectors; v++) tableBytes[v * ENTRY_SIZE + VECTOR_CONTROL] = 1; // masked at reset
      };
      clearTable();
      const listeners = new Set<() => void>();
      space.onWrite(offset + CONTROL, 2, () => {
        for (const l of listeners) l();
      });
      const inside = (r: BarRange, b: BarIndex, off: number, size: number) =>
        r.bar === b && off >= r.offset && off + size <= r.offset + r.size;
      const checkVector = (vector: number) => {
        if (!Number.isInteger(vector) || vector < 0 || vector >= vectors)
          throw new RangeError(`MSI-X vector ${vector} is not 0..${vectors - 1}`);
      };
      const control = () => space.get16(offset + CONTROL);
      return {
        offset,
        vectors,
        tableRange,
        pbaRange,
        get enabled() {
          return (control() & CTRL_ENABLE) !== 0;
        },
        get functionMasked() {
          return (control() & CTRL_FUNCTION_MASK) !== 0;
        },
        isPending(vector) {
          checkVector(vector);
          return ((pbaBytes[vector >> 3] ?? 0) & (1 << (vector & 7))) !== 0;
        },
        setPending(vector, pending) {
          checkVector(vector);
          const i = vector >> 3;
          const bitValue = 1 << (vector & 7);
          pbaBytes[i] = pending ? (pbaBytes[i] ?? 0) | bitValue : (pbaBytes[i] ?? 0) & ~bitValue;
        },
        pendingVectors() {
          const out: number[] = [];
          for (let v = 0; v < vectors; v++) if (((pbaBytes[v >> 3] ?? 0) & (1 << (v & 7))) !== 0) out.push(v);
          return out;
        },
        read(b, off, size) {
          if (inside(pbaRange, b, off, size)) return pbaBytes.slice(off - pbaRange.offset, off - pbaRange.offset + size);
          if (inside(tableRange, b, off, size)) return tableBytes.slice(off - tableRange.offset, off - tableRange.offset + size);
          return undefined;
        },
        write(b, off, data) {
          if (inside(pbaRange, b, off, data.length)) return true; // PBA is read-only (PCI 3.0 §6.8.2.10)
          if (inside(tableRange, b, off, data.length)) {
            tableBytes.set(data, off - tableRange.offset);
            return true;
          }
          return false;
        },
        onChange(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        reset() {
          pbaBytes.fill(0);
          clearTable();
        },
      };
    },
  };
}

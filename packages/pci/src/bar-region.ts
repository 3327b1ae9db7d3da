/**
 * One BAR of an endpoint instance as a vfio-user region: its REGION_INFO (flags, fd, sparse mmap)
 * and the dispatch of trapped accesses to MSI-X structures, backing memory or device handlers.
 */

import { hex } from '@p2pkit/base';
import { type MmapArea, RegionFlags, type RegionInfo } from '@p2pkit/vfio-user';
import type { AccessSize, BarDeclaration } from './bar.ts';
import type { BarMemory } from './bar-memory.ts';
import type { BarRange, MsixState } from './capabilities/msix.ts';
import type { BarIndex, BarLayout } from './config/bars.ts';
import type { EndpointHandle } from './handle.ts';

/** mmap granularity advertised to QEMU (`pgsizes` 4096). */
export const PAGE_SIZE = 4096;

/** Reports problems found while serving an access. */
export interface AccessReporter {
  guestError(message: string, detail?: Record<string, unknown>): void;
  deviceError(error: unknown, where: string): void;
}

/** The BAR layout (config-space view) implied by a declaration. */
export function barLayoutOf(index: BarIndex, decl: BarDeclaration): BarLayout {
  if (decl.kind === 'io') return { index, space: 'io', size: decl.size, is64: false, prefetchable: false };
  const bits = decl.bits ?? (decl.size > 2 ** 31 ? 64 : 32);
  if (bits !== 32 && bits !== 64) throw new RangeError(`BAR${index}: bits must be 32 or 64`);
  return { index, space: 'memory', size: decl.size, is64: bits === 64, prefetchable: decl.prefetchable ?? false };
}

const isAccessSize = (n: number): n is AccessSize => n === 1 || n === 2 || n === 4 || n === 8;

function toBytes(value: number | bigint, size: number): Uint8Array {
  let v = BigInt.asUintN(size * 8, typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

function fromBytes(data: Uint8Array): bigint {
  let v = 0n;
  for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i] ?? 0);
  return v;
}

/** Page-aligned areas of `[0, size)` not covered by any trapped range, in order. */
export function mmappableAreas(size: number, trapped: readonly BarRange[]): MmapArea[] {
  const holes = trapped
    .map(
      (r) =>
        [Math.floor(r.offset / PAGE_SIZE) * PAGE_SIZE, Math.min(size, Math.ceil((r.offset + r.size) / PAGE_SIZE) * PAGE_SIZE)] as const,
    )
    .sort((a, b) => a[0] - b[0]);
  const areas: MmapArea[] = [];
  let cursor = 0;
  for (const [start, end] of holes) {
    if (start > cursor) areas.push({ offset: BigInt(cursor), size: BigInt(start - cursor) });
    cursor = Math.max(cursor, end);
  }
  if (cursor < size) areas.push({ offset: BigInt(cursor), size: BigInt(size - cursor) });
  return areas;
}

export class BarRegion {
  readonly index: BarIndex;
  readonly declaration: BarDeclaration;
  readonly layout: BarLayout;
  readonly memory: BarMemory | undefined;
  readonly #msix: MsixState | undefined;
  /** MSI-X table/PBA ranges inside this BAR. */
  readonly #trapped: BarRange[];

  constructor(index: BarIndex, declaration: BarDeclaration, memory: BarMemory | undefined, msix: MsixState | undefined) {
    this.index = index;
    this.declaration = declaration;
    this.layout = barLayoutOf(index, declaration);
    this.memory = memory;
    this.#msix = msix;
    this.#trapped = msix ? [msix.tableRange, msix.pbaRange].filter((r) => r.bar === index) : [];
  }

  get size(): number {
    return this.layout.size;
  }

  /** REGION_INFO for this BAR: trapped, fully mmapped, or sparse-mmapped around MSI-X pages. */
  regionInfo(): RegionInfo {
    const info: RegionInfo = { index: this.index, size: BigInt(this.size), flags: RegionFlags.READ | RegionFlags.WRITE };
    const fd = this.memory?.fd ?? -1;
    if (this.declaration.kind !== 'memory' || fd < 0) return info;
    const areas = mmappableAreas(this.size, this.#trapped);
    if (areas.length === 0) return info; // every page traps: nothing to map
    info.flags |= RegionFlags.MMAP;
    info.fd = fd;
    info.fdOffset = 0n;
    if (this.#trapped.length > 0) {
      info.flags |= RegionFlags.CAPS;
      info.sparseMmap = areas;
    }
    return info;
  }

  /** A trapped guest read; never throws (all-ones on error). */
  read(offset: number, size: number, dev: EndpointHandle, report: AccessReporter): Uint8Array {
    const fail = () => new Uint8Array(size).fill(0xff);
    if (!this.#inBounds(offset, size, 'read', report)) return fail();
    const fromMsix = this.#msix?.read(this.index, offset, size);
    if (fromMsix) return fromMsix;
    if (this.#straddlesMsix(offset, size, 'read', report)) return fail();
    const decl = this.declaration;
    if (decl.kind === 'memory') return this.memory ? this.memory.bytes.slice(offset, offset + size) : fail();
    if (!isAccessSize(size)) {
      report.guestError(`BAR${this.index}: ${size}-byte read at ${hex(offset)} (only 1, 2, 4, 8 bytes)`, { bar: this.index, offset, size });
      return fail();
    }
    if (!decl.read) return new Uint8Array(size);
    try {
      return toBytes(decl.read(offset, size, dev), size);
    } catch (error) {
      report.deviceError(error, `BAR${this.index} read at ${hex(offset)}`);
      return fail();
    }
  }

  /** A trapped guest write; never throws. */
  write(offset: number, data: Uint8Array, dev: EndpointHandle, report: AccessReporter): void {
    const size = data.length;
    if (!this.#inBounds(offset, size, 'write', report)) return;
    if (this.#msix?.write(this.index, offset, data)) return;
    if (this.#straddlesMsix(offset, size, 'write', report)) return;
    const decl = this.declaration;
    if (decl.kind === 'memory') {
      this.memory?.bytes.set(data, offset);
      return;
    }
    if (!isAccessSize(size)) {
      report.guestError(`BAR${this.index}: ${size}-byte write at ${hex(offset)} (only 1, 2, 4, 8 bytes)`, {
        bar: this.index,
        offset,
        size,
      });
      return;
    }
    try {
      decl.write?.(offset, size, fromBytes(data), dev);
    } catch (error) {
      report.deviceError(error, `BAR${this.index} write at ${hex(offset)}`);
    }
  }

  #inBounds(offset: number, size: number, what: string, report: AccessReporter): boolean {
    if (size > 0 && offset >= 0 && offset + size <= this.size) return true;
    report.guestError(`BAR${this.index}: ${size}-byte ${what} at ${hex(offset)} outside the ${hex(this.size)}-byte BAR`, {
      bar: this.index,
      offset,
      size,
    });
    return false;
  }

  #straddlesMsix(offset: number, size: number, what: string, report: AccessReporter): boolean {
    const hit = this.#trapped.some((r) => offset < r.offset + r.size && r.offset < offset + size);
    if (hit)
      report.guestError(`BAR${this.index}: ${what} at ${hex(offset)} straddles an MSI-X structure`, { bar: this.index, offset, size });
    return hit;
  }
}

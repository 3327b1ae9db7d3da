/**
 * Builds the linked capability lists: standard capabilities from 0x40 (pointer at 0x34, PCI 3.0
 * §6.7) and extended capabilities from 0x100 (PCIe 6.0 §7.6.3, header: ID[15:0], version[19:16],
 * next[31:20]).
 */
import type { Capability, ExtendedCapability } from '../capabilities/capability.ts';
import { EXTENDED_CONFIG_START, PCI_HEADER_SIZE, PciHeader, PciStatus } from './registers.ts';
import type { ConfigSpace } from './space.ts';

/** Where a capability landed and what its install returned. */
export interface PlacedCapability<C, S = unknown> {
  capability: C;
  offset: number;
  state: S;
}

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Places standard capabilities back to back (dword aligned) from 0x40, links them, sets the
 * Capabilities Pointer and the PciStatus.CAPABILITY_LIST bit.
 */
export function installCapabilities(space: ConfigSpace, caps: readonly Capability[]): PlacedCapability<Capability>[] {
  const placed: PlacedCapability<Capability>[] = [];
  let offset = PCI_HEADER_SIZE;
  const offsets = caps.map((cap) => {
    if (cap.size < 2) throw new RangeError(`capability ${cap.kind}: size ${cap.size} too small`);
    const at = offset;
    offset = align4(offset + cap.size);
    return at;
  });
  if (offset > 0x100) throw new RangeError(`standard capabilities need ${offset - PCI_HEADER_SIZE} bytes; only 192 fit below 0x100`);
  caps.forEach((cap, i) => {
    const at = offsets[i] ?? 0;
    space.define({ offset: at, width: 1, value: cap.id });
    space.define({ offset: at + 1, width: 1, value: offsets[i + 1] ?? 0 });
    placed.push({ capability: cap, offset: at, state: cap.install(space, at) });
  });
  space.define({ offset: PciHeader.CAPABILITY_LIST, width: 1, value: offsets[0] ?? 0 });
  if (caps.length > 0) space.update16(PciHeader.STATUS, PciStatus.CAPABILITY_LIST, 0);
  return placed;
}

/** Encodes an extended capability header (PCIe 6.0 §7.6.3). */
export function extendedHeader(id: number, version: number, next: number): number {
  return ((id & 0xffff) | ((version & 0xf) << 16) | ((next & 0xffc) << 20)) >>> 0;
}

/**
 * Places extended capabilities back to back from 0x100 and links them. With none, 0x100 reads 0
 * (no extended capabilities; PCIe 6.0 §7.6.3).
 */
export function installExtendedCapabilities(
  space: ConfigSpace,
  caps: readonly ExtendedCapability[],
): PlacedCapability<ExtendedCapability>[] {
  if (caps.length > 0 && space.size < 4096) throw new RangeError('extended capabilities need a 4096-byte config space');
  const placed: PlacedCapability<ExtendedCapability>[] = [];
  let offset = EXTENDED_CONFIG_START;
  const offsets = caps.map((cap) => {
    if (cap.size < 4 || cap.size % 4 !== 0)
      throw new RangeError(`extended capability ${cap.kind}: size ${cap.size} is not a multiple of 4`);
    const at = offset;
    offset += cap.size;
    return at;
  });
  if (offset > space.size) throw new RangeError(`extended capabilities need ${offset - EXTENDED_CONFIG_START} bytes; only 3840 fit`);
  caps.forEach((cap, i) => {
    const at = offsets[i] ?? 0;
    space.define({ offset: at, width: 4, value: extendedHeader(cap.id, cap.version, offsets[i + 1] ?? 0) });
    placed.push({ capability: cap, offset: at, state: cap.install(space, at) });
  });
  return placed;
}

/** One entry found while walking a capability list. */
export interface CapabilityListEntry {
  id: number;
  offset: number;
  version?: number;
}

/** Walks the standard list as a guest would (for tests and diagnostics); stops on loops. */
export function walkCapabilities(space: ConfigSpace): CapabilityListEntry[] {
  const out: CapabilityListEntry[] = [];
  if ((space.get16(PciHeader.STATUS) & PciStatus.CAPABILITY_LIST) === 0) return out;
  const seen = new Set<number>();
  let at = space.get8(PciHeader.CAPABILITY_LIST) & ~3;
  while (at !== 0 && !seen.has(at) && at >= PCI_HEADER_SIZE && at < 0x100) {
    seen.add(at);
    out.push({ id: space.get8(at), offset: at });
    at = space.get8(at + 1) & ~3;
  }
  return out;
}

/** Walks the extended list from 0x100 (for tests and diagnostics); stops on loops. */
export function walkExtendedCapabilities(space: ConfigSpace): CapabilityListEntry[] {
  const out: CapabilityListEntry[] = [];
  if (space.size < 4096) return out;
  const seen = new Set<number>();
  let at = EXTENDED_CONFIG_START;
  while (at !== 0 && !seen.has(at) && at >= EXTENDED_CONFIG_START && at + 4 <= space.size) {
    seen.add(at);
    const header = space.get32(at);
    if (header === 0 || header === 0xffff_ffff) break;
    out.push({ id: header & 0xffff, version: (header >>> 16) & 0xf, offset: at });
    at = (header >>> 20) & 0xffc;
  }
  return out;
}

import { LBA_FORMATS } from '../lba-format.ts';
import type { Namespace } from '../namespace.ts';
import type { ResolvedOptions } from '../options.ts';

/** Command Set Identifier of the Zoned Namespace command set (NVMe 2.0 base Figure 286). */
export const CSI_ZONED = 0x02;

/** I/O Command Set specific Identify Namespace for CSI 02h, CNS 05h (ZNS §4.1.5.1, Figure 49). */
export function identifyZonedNamespace(ns: Namespace): Uint8Array {
  const zones = ns.zones;
  const out = new Uint8Array(4096);
  if (!zones) return out;
  const v = new DataView(out.buffer);
  const g = zones.geometry;
  v.setUint16(0, 0, true); // ZOC: fixed zone capacity, no zone active excursions
  v.setUint16(2, g.readAcrossZoneBoundaries ? 1 : 0, true); // OZCS.RAZB
  v.setUint32(4, g.maxActiveZones === undefined ? 0xffffffff : g.maxActiveZones - 1, true); // MAR, 0-based
  v.setUint32(8, g.maxOpenZones === undefined ? 0xffffffff : g.maxOpenZones - 1, true); // MOR, 0-based
  // LBA Format Extensions from byte 2816: ZSZE in logical blocks of each LBA format, no descriptor extensions.
  LBA_FORMATS.forEach((f, i) => {
    v.setBigUint64(2816 + i * 16, BigInt(g.zoneSizeBytes / 2 ** f.lbads), true);
  });
  return out;
}

/** I/O Command Set specific Identify Controller for CSI 02h, CNS 06h (ZNS §4.1.5.2, Figure 50). */
export function identifyZonedController(o: ResolvedOptions): Uint8Array {
  const out = new Uint8Array(4096);
  out[0] = o.zasl; // ZASL: power of two of CAP.MPSMIN (4 KiB) units; 0 = MDTS
  return out;
}

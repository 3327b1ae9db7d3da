import type { ControllerCore } from './core.ts';
import { AER_LIMIT } from './events.ts';
import { CCTEMP, WCTEMP } from './health.ts';
import { dpsOf, flbasOf, LBA_FORMATS, lbaFormatDescriptor, METADATA_CAPABILITIES, PROTECTION_CAPABILITIES } from './lba-format.ts';
import type { Namespace } from './namespace.ts';
import { IDENTIFY_VENDOR_SPECIFIC_BYTES } from './options.ts';
import { CQE_SIZE_LOG, SQE_SIZE_LOG } from './registers.ts';

/** Copy limits reported in Identify Namespace (NVM §4.1.5.1) and enforced by Copy. */
export const COPY_LIMITS = { mssrl: 0x800, mcl: 0x2000, msrc: 127 } as const;
/** Error log entries (ELPE + 1). */
export const ERROR_LOG_ENTRIES = 64;
/** Abort Command Limit (ACL + 1). */
export const ABORT_LIMIT = 4;

function ascii(out: Uint8Array, offset: number, length: number, text: string): void {
  for (let i = 0; i < length; i++) out[offset + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0x20;
}

function u128(v: DataView, offset: number, n: bigint): void {
  v.setBigUint64(offset, n & 0xffffffffffffffffn, true);
  v.setBigUint64(offset + 8, n >> 64n, true);
}

/** Identify Controller, CNS 01h (NVMe 2.0 base §5.17.2.1, Figure 275). */
export function identifyController(core: ControllerCore): Uint8Array {
  const o = core.options;
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  v.setUint16(0, o.pciVendorId, true);
  v.setUint16(2, o.pciSubsystemVendorId, true);
  ascii(out, 4, 20, o.serial);
  ascii(out, 24, 40, o.model);
  ascii(out, 64, 8, o.firmwareRevision);
  v.setUint8(72, 6); // RAB
  const member = o.subsystem;
  // CMIC: a subsystem's controllers may sit on several ports (bit 0), there are several (bit 1), ANA reporting (bit 3).
  v.setUint8(76, member ? 0x03 | (member.ana ? 0x08 : 0) : 0);
  v.setUint8(77, o.mdts);
  v.setUint16(78, o.controllerId, true);
  v.setUint32(80, o.version, true);
  // OAES: namespace attribute + firmware activation notices; ANA change notices with ANA reporting.
  v.setUint32(92, (1 << 8) | (1 << 9) | (member?.ana ? 1 << 11 : 0), true);
  v.setUint8(111, 1); // CNTRLTYPE: I/O controller
  let oacs = (1 << 1) | (1 << 4) | (1 << 9); // Format NVM, Device Self-test, Get LBA Status
  if (o.namespaceDirectory) oacs |= 1 << 3; // Namespace Management and Attachment
  if (o.doorbellStrategy !== 'mmio') oacs |= 1 << 8; // Doorbell Buffer Config
  v.setUint16(256, oacs, true);
  v.setUint8(258, ABORT_LIMIT - 1); // ACL
  v.setUint8(259, AER_LIMIT - 1); // AERL
  v.setUint8(260, 0x03); // FRMW: slot 1 read-only, 1 slot
  v.setUint8(261, 0x06); // LPA: command effects log, extended data for Get Log Page
  v.setUint8(262, ERROR_LOG_ENTRIES - 1); // ELPE
  v.setUint8(263, 0); // NPSS: one power state
  v.setUint16(266, WCTEMP, true);
  v.setUint16(268, CCTEMP, true);
  v.setUint16(316, Math.ceil(o.deviceSelfTest.extendedMs / 60_000), true); // EDSTT, minutes
  v.setUint8(318, 1); // DSTO: one device self-test at a time
  if (o.namespaceDirectory) {
    u128(v, 280, BigInt(o.totalCapacityBytes)); // TNVMCAP
    u128(v, 296, BigInt(Math.max(0, o.totalCapacityBytes - core.namespaces.allocatedBytes()))); // UNVMCAP
  }
  if (member?.ana) {
    v.setUint8(342, member.ana.transitionTimeSeconds); // ANATT
    v.setUint8(343, 0x1f | (1 << 6)); // ANACAP: every state reported; ANAGRPID fixed while attached
    v.setUint32(344, member.ana.groups, true); // ANAGRPMAX
    v.setUint32(348, member.ana.groups, true); // NANAGRPID
  }
  v.setUint8(512, (SQE_SIZE_LOG << 4) | SQE_SIZE_LOG); // SQES
  v.setUint8(513, (CQE_SIZE_LOG << 4) | CQE_SIZE_LOG); // CQES
  v.setUint16(514, o.maxQueueEntries > 0xffff ? 0xffff : o.maxQueueEntries, true); // MAXCMD
  v.setUint32(516, o.maxNamespaces, true); // NN
  // ONCS: Compare, Write Uncorrectable, DSM, Write Zeroes, Save/Select in features, Verify, Copy.
  v.setUint16(520, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 7) | (1 << 8), true);
  v.setUint8(524, 0); // FNA: format/erase per namespace
  v.setUint8(525, 0x07); // VWC present; Flush with NSID FFFFFFFFh supported
  v.setUint16(526, o.atomicWrite.normalBlocks - 1, true); // AWUN (0's based)
  v.setUint16(528, o.atomicWrite.powerFailBlocks - 1, true); // AWUPF (0's based)
  // ACWU (532) stays 0: no fused Compare and Write (FUSES = 0).
  v.setUint16(534, 1, true); // OCFS: Copy format 0
  v.setUint32(536, 0x1 | (1 << 16) | (1 << 19), true); // SGLS: SGLs without alignment, bit bucket, MPTR as an SGL
  v.setUint32(540, o.maxNamespaces, true); // MNAN
  ascii(out, 768, 256, '');
  out.fill(0, 768, 1024);
  out.set(new TextEncoder().encode(o.subsystemNqn.slice(0, 255)), 768);
  // Power state 0: 25 W, active.
  v.setUint16(2048, 2500, true);
  const vendor = o.identifyVendorSpecific?.();
  if (vendor) {
    if (vendor.byteLength > IDENTIFY_VENDOR_SPECIFIC_BYTES)
      throw new RangeError(`identifyVendorSpecific returned ${vendor.byteLength} bytes, at most 1024 fit`);
    out.set(vendor, 4096 - IDENTIFY_VENDOR_SPECIFIC_BYTES);
  }
  return out;
}

/** Identify Namespace, CNS 00h (NVM command set §4.1.5.1). */
export function identifyNamespace(ns: Namespace): Uint8Array {
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, ns.blocks, true); // NSZE
  v.setBigUint64(8, ns.blocks, true); // NCAP
  v.setBigUint64(16, ns.blocks, true); // NUSE
  const atomic = ns.atomicLimits;
  v.setUint8(24, atomic.namespaceLimits ? 1 << 1 : 0); // NSFEAT bit 1 (NSABP): NAWUN/NAWUPF/NACWU below apply
  v.setUint8(25, LBA_FORMATS.length - 1); // NLBAF
  v.setUint8(26, flbasOf(ns.format)); // FLBAS
  v.setUint8(27, METADATA_CAPABILITIES); // MC
  v.setUint8(28, PROTECTION_CAPABILITIES); // DPC
  v.setUint8(29, dpsOf(ns.format)); // DPS
  v.setUint8(30, ns.shared ? 1 : 0); // NMIC: shared namespace
  v.setUint8(33, 0x09); // DLFEAT: deallocated reads zero; Write Zeroes may deallocate
  if (atomic.namespaceLimits) {
    v.setUint16(34, atomic.normalBlocks - 1, true); // NAWUN (0's based)
    v.setUint16(36, atomic.powerFailBlocks - 1, true); // NAWUPF (0's based)
    // NACWU (38) stays 0: no fused Compare and Write.
    v.setUint16(40, atomic.normalBoundaryBlocks === 0 ? 0 : atomic.normalBoundaryBlocks - 1, true); // NABSN (0 = none)
    v.setUint16(42, atomic.boundaryOffsetBlocks, true); // NABO
    v.setUint16(44, atomic.powerFailBoundaryBlocks === 0 ? 0 : atomic.powerFailBoundaryBlocks - 1, true); // NABSPF (0 = none)
  }
  u128(v, 48, BigInt(ns.sizeBytes)); // NVMCAP
  v.setUint16(74, COPY_LIMITS.mssrl, true);
  v.setUint32(76, COPY_LIMITS.mcl, true);
  v.setUint8(80, COPY_LIMITS.msrc);
  v.setUint32(92, ns.anaGroupId, true); // ANAGRPID
  out.set(ns.nguid, 104); // NGUID
  out.set(ns.eui64, 120); // EUI64
  LBA_FORMATS.forEach((f, i) => {
    v.setUint32(128 + i * 4, lbaFormatDescriptor(f), true);
  });
  return out;
}

/** Identify Namespace for NSID FFFFFFFFh: capabilities common to all namespaces (§5.17.2.1). */
export function namespaceTemplate(): Uint8Array {
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  v.setUint8(25, LBA_FORMATS.length - 1);
  v.setUint8(27, METADATA_CAPABILITIES);
  v.setUint8(28, PROTECTION_CAPABILITIES);
  v.setUint8(33, 0x09);
  LBA_FORMATS.forEach((f, i) => {
    v.setUint32(128 + i * 4, lbaFormatDescriptor(f), true);
  });
  return out;
}

/** Namespace Identification Descriptor list, CNS 03h (§5.17.2.3): EUI64, NGUID, CSI. */
export function namespaceDescriptors(ns: Namespace): Uint8Array {
  const out = new Uint8Array(4096);
  out[0] = 0x1; // EUI64
  out[1] = 8;
  out.set(ns.eui64, 4);
  out[12] = 0x2; // NGUID
  out[13] = 16;
  out.set(ns.nguid, 16);
  out[32] = 0x4; // CSI
  out[33] = 1;
  out[36] = ns.zones ? 0x2 : 0x0; // Zoned Namespace or NVM command set
  return out;
}

/** A list of up to 1024 IDs greater than `after` (CNS 02h/07h/10h). */
export function idList(ids: number[], after: number): Uint8Array {
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  ids
    .filter((id) => id > after)
    .slice(0, 1024)
    .forEach((id, i) => {
      v.setUint32(i * 4, id, true);
    });
  return out;
}

/** Controller List (CNS 12h/13h, §5.17.2.x Figure 293). */
export function controllerList(ids: number[], from: number): Uint8Array {
  const out = new Uint8Array(4096);
  const v = new DataView(out.buffer);
  const list = ids.filter((id) => id >= from).slice(0, 2047);
  v.setUint16(0, list.length, true);
  list.forEach((id, i) => {
    v.setUint16(2 + i * 2, id, true);
  });
  return out;
}

/** I/O Command Set data structure, CNS 1Ch: one combination, NVM (bit 0) and, when zoned, ZNS (bit 2). */
export function commandSetCombinations(zoned: boolean): Uint8Array {
  const out = new Uint8Array(4096);
  out[0] = zoned ? 0x5 : 0x1;
  return out;
}

import type { ResolvedOptions } from './options.ts';

/** Controller register offsets in BAR0 (NVMe 2.0 base §3.1.4). */
export const Reg = {
  CAP: 0x00,
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  NSSR: 0x20,
  AQA: 0x24,
  ASQ: 0x28,
  ACQ: 0x30,
  CMBLOC: 0x38,
  CMBSZ: 0x3c,
  BPINFO: 0x40,
  BPRSEL: 0x44,
  BPMBL: 0x48,
  CMBMSC: 0x50,
  CMBSTS: 0x58,
  CMBEBS: 0x5c,
  CMBSWTP: 0x60,
  NSSD: 0x64,
  CRTO: 0x68,
  PMRCAP: 0xe00,
  PMRCTL: 0xe04,
  PMRSTS: 0xe08,
  PMREBS: 0xe0c,
  PMRSWTP: 0xe10,
  PMRMSCL: 0xe14,
  PMRMSCU: 0xe18,
  DOORBELLS: 0x1000,
} as const;

/** NSSR.NSSRC value that triggers an NVM subsystem reset ("NVMe"), §3.1.4.6. */
export const NSSR_MAGIC = 0x4e564d65;

/** CC fields (§3.1.4.5). */
export const cc = {
  en: (v: number) => v & 1,
  css: (v: number) => (v >>> 4) & 7,
  mps: (v: number) => (v >>> 7) & 0xf,
  ams: (v: number) => (v >>> 11) & 7,
  shn: (v: number) => (v >>> 14) & 3,
  iosqes: (v: number) => (v >>> 16) & 0xf,
  iocqes: (v: number) => (v >>> 20) & 0xf,
};

/** CSTS bits (§3.1.4.6). */
export const Csts = { RDY: 1, CFS: 2, SHST_MASK: 0xc, SHST_OCCURRING: 0x4, SHST_COMPLETE: 0x8, NSSRO: 0x10 } as const;

export const MPS_MIN = 0; // 4 KiB
export const MPS_MAX = 4; // 64 KiB
export const SQE_SIZE_LOG = 6;
export const CQE_SIZE_LOG = 4;

/** CAP (§3.1.4.1). */
export function buildCap(o: ResolvedOptions): bigint {
  let cap = BigInt(o.maxQueueEntries - 1); // MQES, 0-based
  cap |= 1n << 16n; // CQR: queues must be physically contiguous
  cap |= BigInt(o.readyTimeoutUnits) << 24n; // TO, 500 ms units
  cap |= BigInt(o.doorbellStrideShift) << 32n; // DSTRD
  cap |= 1n << 36n; // NSSRS
  cap |= 1n << 37n; // CSS bit 0: NVM command set
  if (o.zoned) cap |= 1n << 43n; // CSS bit 6: I/O command sets (CC.CSS = 110b), here NVM + Zoned Namespace
  cap |= BigInt(MPS_MIN) << 48n;
  cap |= BigInt(MPS_MAX) << 52n;
  if (o.pmr) cap |= 1n << 56n; // PMRS
  if (o.cmb) cap |= 1n << 57n; // CMBS: CMBMSC supported
  return cap;
}

/** Splits a register access into the dword it touches, for sub-dword reads. */
export function dwordAligned(offset: number): number {
  return offset & ~3;
}

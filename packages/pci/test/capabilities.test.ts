import { describe, expect, it } from 'vitest';
import {
  aer,
  CapabilityId,
  CorrectableError,
  defineEndpoint,
  ExtendedCapabilityId,
  mmio,
  msi,
  msix,
  PciHeader,
  PciStatus,
  pciExpress,
  powerManagement,
  serialNumber,
  UncorrectableError,
  vendorSpecific,
} from '../src/index.ts';
import { AerReg, PcieReg, walkCapabilities, walkExtendedCapabilities } from '../src/internal.ts';
import { cfgRead, cfgWrite, silentLogger } from './fake-context.ts';

const full = defineEndpoint({
  ids: { vendor: 0x1b36, device: 0x00f0, class: 0xff0000 },
  bars: { 0: mmio({ size: 4096 }) },
  capabilities: [
    powerManagement(),
    pciExpress.endpoint({ linkSpeed: 16, linkWidth: 8, maxPayloadSupported: 512, flr: true }),
    msi({ vectors: 4, perVectorMasking: true }),
    msix({ vectors: 2, bar: 0, table: 0x800, pba: 0xc00 }),
    vendorSpecific(new Uint8Array([0xde, 0xad])),
  ],
  extendedCapabilities: [aer(), serialNumber(0x0123_4567_89ab_cdefn)],
});

function find(dev: ReturnType<typeof full.create>, id: number): number {
  const entry = walkCapabilities(dev.config).find((c) => c.id === id);
  if (!entry) throw new Error(`capability ${id} missing`);
  return entry.offset;
}

describe('capability lists', () => {
  it('link standard capabilities from 0x34 with dword-aligned pointers', () => {
    const dev = full.create({ logger: silentLogger });
    expect(dev.config.size).toBe(4096);
    expect(cfgRead(dev, PciHeader.STATUS, 2) & PciStatus.CAPABILITY_LIST).toBeTruthy();
    // Walk through guest-visible reads, as a driver would.
    const ids: number[] = [];
    let ptr = cfgRead(dev, PciHeader.CAPABILITY_LIST, 1);
    while (ptr !== 0) {
      expect(ptr % 4).toBe(0);
      expect(ptr).toBeGreaterThanOrEqual(0x40);
      ids.push(cfgRead(dev, ptr, 1));
      ptr = cfgRead(dev, ptr + 1, 1);
    }
    expect(ids).toEqual([
      CapabilityId.POWER_MANAGEMENT,
      CapabilityId.PCI_EXPRESS,
      CapabilityId.MSI,
      CapabilityId.MSIX,
      CapabilityId.VENDOR_SPECIFIC,
    ]);
    // Pointers are read-only.
    cfgWrite(dev, PciHeader.CAPABILITY_LIST, 1, 0x80);
    cfgWrite(dev, 0x41, 1, 0);
    expect(walkCapabilities(dev.config).map((c) => c.id)).toEqual(ids);
  });

  it('link extended capabilities from 0x100 with ID/version/next headers', () => {
    const dev = full.create({ logger: silentLogger });
    const aerHeader = cfgRead(dev, 0x100, 4);
    expect(aerHeader & 0xffff).toBe(ExtendedCapabilityId.AER);
    expect((aerHeader >>> 16) & 0xf).toBe(2);
    const next = aerHeader >>> 20;
    expect(next).toBe(0x148);
    const dsnHeader = cfgRead(dev, next, 4);
    expect(dsnHeader & 0xffff).toBe(ExtendedCapabilityId.DEVICE_SERIAL_NUMBER);
    expect((dsnHeader >>> 16) & 0xf).toBe(1);
    expect(dsnHeader >>> 20).toBe(0);
    expect(cfgRead(dev, next + 4, 4)).toBe(0x89ab_cdef);
    expect(cfgRead(dev, next + 8, 4)).toBe(0x0123_4567);
    expect(walkExtendedCapabilities(dev.config).map((c) => c.id)).toEqual([1, 3]);
  });

  it('use a 256-byte space without PCIe or extended capabilities and reject overflow', () => {
    const small = defineEndpoint({ ids: { vendor: 1, device: 2, class: 0 }, capabilities: [powerManagement()] });
    expect(small.create().config.size).toBe(256);
    expect(() =>
      defineEndpoint({
        ids: { vendor: 1, device: 2, class: 0 },
        capabilities: [vendorSpecific(new Uint8Array(150)), vendorSpecific(new Uint8Array(60))],
      }),
    ).toThrow(/fit/);
    expect(() => defineEndpoint({ ids: { vendor: 1, device: 2, class: 0 }, configSpaceSize: 256, extendedCapabilities: [aer()] })).toThrow(
      /4096/,
    );
  });
});

describe('Power Management', () => {
  it('has version 3 and a writable D-state that ignores unsupported states', () => {
    const dev = full.create({ logger: silentLogger });
    const pm = find(dev, CapabilityId.POWER_MANAGEMENT);
    expect(cfgRead(dev, pm + 2, 2) & 0x7).toBe(3);
    cfgWrite(dev, pm + 4, 2, 3);
    expect(cfgRead(dev, pm + 4, 2) & 3).toBe(3);
    cfgWrite(dev, pm + 4, 2, 1); // D1 unsupported
    expect(cfgRead(dev, pm + 4, 2) & 3).toBe(3);
    cfgWrite(dev, pm + 4, 2, 0);
    expect(cfgRead(dev, pm + 4, 2) & 3).toBe(0);
    expect(cfgRead(dev, pm + 4, 2) & 0x8).toBe(0x8); // No_Soft_Reset
  });
});

describe('Power Management soft reset', () => {
  it('resets on D3hot → D0 when No_Soft_Reset is clear', () => {
    let resets = 0;
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      capabilities: [powerManagement({ noSoftReset: false })],
      reset: () => {
        resets++;
      },
    });
    const dev = d.create({ logger: silentLogger });
    const pm = walkCapabilities(dev.config)[0]?.offset ?? 0;
    cfgWrite(dev, PciHeader.INTERRUPT_LINE, 1, 5);
    cfgWrite(dev, pm + 4, 2, 3);
    expect(resets).toBe(0);
    cfgWrite(dev, pm + 4, 2, 0);
    expect(resets).toBe(1);
    expect(cfgRead(dev, PciHeader.INTERRUPT_LINE, 1)).toBe(0);
  });
});

describe('PCI Express', () => {
  it('reports endpoint type, link speed/width and MPS/MRRS fields', () => {
    const dev = full.create({ logger: silentLogger });
    const at = find(dev, CapabilityId.PCI_EXPRESS);
    expect(cfgRead(dev, at + PcieReg.FLAGS, 2)).toBe(0x0002); // v2, endpoint
    const devcap = cfgRead(dev, at + PcieReg.DEVCAP, 4);
    expect(devcap & 0x7).toBe(2); // 512 B MPSS
    expect(devcap & (1 << 28)).toBeTruthy(); // FLR
    const devctl = cfgRead(dev, at + PcieReg.DEVCTL, 2);
    expect((devctl >> 5) & 7).toBe(0); // MPS 128
    expect((devctl >> 12) & 7).toBe(2); // MRRS 512
    cfgWrite(dev, at + PcieReg.DEVCTL, 2, (devctl & ~(7 << 5) & ~(7 << 12)) | (1 << 5) | (5 << 12));
    expect(dev.pciExpress?.maxPayload).toBe(256);
    expect(dev.pciExpress?.maxReadRequest).toBe(4096);
    const lnkcap = cfgRead(dev, at + PcieReg.LNKCAP, 4);
    expect(lnkcap & 0xf).toBe(4); // 16 GT/s
    expect((lnkcap >> 4) & 0x3f).toBe(8);
    const lnksta = cfgRead(dev, at + PcieReg.LNKSTA, 2);
    expect(lnksta & 0xf).toBe(4);
    expect((lnksta >> 4) & 0x3f).toBe(8);
    expect(cfgRead(dev, at + PcieReg.LNKCAP2, 4)).toBe(0b11110);
    cfgWrite(dev, at + PcieReg.LNKCAP, 4, 0);
    expect(cfgRead(dev, at + PcieReg.LNKCAP, 4)).toBe(lnkcap);
  });

  it('clears DevSta error bits with write-1', () => {
    const dev = full.create({ logger: silentLogger });
    const at = find(dev, CapabilityId.PCI_EXPRESS);
    dev.pciExpress?.setDeviceStatus(0b0101);
    cfgWrite(dev, at + PcieReg.DEVSTA, 2, 0b0001);
    expect(cfgRead(dev, at + PcieReg.DEVSTA, 2)).toBe(0b0100);
  });

  it('performs a reset when the guest initiates FLR', () => {
    let resets = 0;
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      capabilities: [pciExpress.endpoint({ flr: true })],
      reset: () => {
        resets++;
      },
    });
    const dev = d.create({ logger: silentLogger });
    cfgWrite(dev, PciHeader.COMMAND, 2, 0x6);
    const at = find(dev, CapabilityId.PCI_EXPRESS);
    cfgWrite(dev, at + PcieReg.DEVCTL, 2, cfgRead(dev, at + PcieReg.DEVCTL, 2) | 0x8000);
    expect(resets).toBe(1);
    expect(cfgRead(dev, PciHeader.COMMAND, 2)).toBe(0);
    expect(cfgRead(dev, at + PcieReg.DEVCTL, 2) & 0x8000).toBe(0); // reads 0
  });
});

describe('MSI', () => {
  it('lays out a 64-bit maskable capability', () => {
    const dev = full.create({ logger: silentLogger });
    const at = find(dev, CapabilityId.MSI);
    const control = cfgRead(dev, at + 2, 2);
    expect((control >> 1) & 7).toBe(2); // MMC: 4 vectors
    expect(control & (1 << 7)).toBeTruthy(); // 64-bit
    expect(control & (1 << 8)).toBeTruthy(); // per-vector masking
    cfgWrite(dev, at + 2, 2, 0xffff);
    expect(cfgRead(dev, at + 2, 2)).toBe(control | 0x1 | (7 << 4));
    expect(dev.msi?.allocatedVectors).toBe(4); // clamped to MMC
    cfgWrite(dev, at + 4, 4, 0xfee0_0003);
    expect(cfgRead(dev, at + 4, 4)).toBe(0xfee0_0000);
    cfgWrite(dev, at + 0x10, 4, 0xffff_ffff);
    expect(cfgRead(dev, at + 0x10, 4)).toBe(0xf); // only 4 mask bits
    cfgWrite(dev, at + 0x14, 4, 0xffff_ffff);
    expect(cfgRead(dev, at + 0x14, 4)).toBe(0); // pending is RO
  });
});

describe('MSI-X', () => {
  it('encodes table size, BIR and offsets read-only; enable and function mask RW', () => {
    const dev = full.create({ logger: silentLogger });
    const at = find(dev, CapabilityId.MSIX);
    expect(cfgRead(dev, at + 2, 2)).toBe(1); // N-1
    expect(cfgRead(dev, at + 4, 4)).toBe(0x800);
    expect(cfgRead(dev, at + 8, 4)).toBe(0xc00);
    cfgWrite(dev, at + 2, 2, 0xffff);
    expect(cfgRead(dev, at + 2, 2)).toBe(0xc001);
    expect(dev.msix?.enabled).toBe(true);
    expect(dev.msix?.functionMasked).toBe(true);
  });

  it('validates table and PBA placement', () => {
    const ids = { vendor: 1, device: 2, class: 0 };
    expect(() => defineEndpoint({ ids, capabilities: [msix({ vectors: 2, bar: 0, table: 0, pba: 0x800 })] })).toThrow(/not declared/);
    expect(() =>
      defineEndpoint({ ids, bars: { 0: mmio({ size: 4096 }) }, capabilities: [msix({ vectors: 2, bar: 0, table: 0xff0, pba: 0 })] }),
    ).toThrow(/does not fit/);
    expect(() => msix({ vectors: 2, bar: 0, table: 0, pba: 0x10 })).toThrow(/overlap/);
    expect(() => msix({ vectors: 2, bar: 0, table: 4, pba: 0x100 })).toThrow(/multiple of 8/);
  });
});

describe('AER', () => {
  it('has RW1CS status, RWS masks and keeps them across reset', () => {
    const dev = full.create({ logger: silentLogger });
    const at = 0x100;
    expect(cfgRead(dev, at + AerReg.UNCOR_SEVERITY, 4)).toBe(0x0006_2010);
    expect(cfgRead(dev, at + AerReg.COR_MASK, 4)).toBe(CorrectableError.ADVISORY_NON_FATAL);
    expect(dev.aer?.recordUncorrectable(UncorrectableError.UNSUPPORTED_REQUEST)).toBe('nonfatal');
    expect(dev.aer?.recordUncorrectable(UncorrectableError.MALFORMED_TLP)).toBe('fatal');
    expect(cfgRead(dev, at + AerReg.CAP_CONTROL, 4) & 0x1f).toBe(20); // first error pointer
    cfgWrite(dev, at + AerReg.UNCOR_MASK, 4, 0xffff_ffff);
    expect(cfgRead(dev, at + AerReg.UNCOR_MASK, 4)).toBe(0x001f_f010);
    dev.reset();
    expect(cfgRead(dev, at + AerReg.UNCOR_STATUS, 4)).toBe(UncorrectableError.UNSUPPORTED_REQUEST | UncorrectableError.MALFORMED_TLP);
    expect(cfgRead(dev, at + AerReg.UNCOR_MASK, 4)).toBe(0x001f_f010);
    cfgWrite(dev, at + AerReg.UNCOR_STATUS, 4, UncorrectableError.UNSUPPORTED_REQUEST);
    expect(cfgRead(dev, at + AerReg.UNCOR_STATUS, 4)).toBe(UncorrectableError.MALFORMED_TLP);
    expect(dev.aer?.recordCorrectable(CorrectableError.ADVISORY_NON_FATAL)).toBe('masked');
  });
});

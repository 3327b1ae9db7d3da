import { IrqIndex, mib } from '@p2pkit/base';
import { IrqInfoFlags, RegionFlags, RegionIndex } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import {
  aer,
  defineEndpoint,
  heapBarMemory,
  io,
  memory,
  mmio,
  msix,
  PciCommand,
  PciHeader,
  pciExpress,
  powerManagement,
  serialNumber,
} from '../src/index.ts';
import { mmappableAreas } from '../src/internal.ts';
import { cfgRead, cfgWrite, fakeContext, fakeMemfdProvider, silentLogger } from './fake-context.ts';

const registers = new Map<number, bigint>();
const hello = defineEndpoint({
  name: 'hello',
  ids: { vendor: 0x1b36, device: 0x00f0, class: 0xff0000, revision: 1 },
  bars: {
    0: mmio({
      size: 4096,
      read: (offset) => registers.get(offset) ?? 0,
      write: (offset, _size, value) => {
        if (offset === 0x100) throw new Error('device bug');
        registers.set(offset, value);
      },
    }),
    2: memory({ size: mib(64), prefetchable: true, bits: 64 }),
    4: memory({ size: 0x4000, bits: 32 }),
  },
  capabilities: [powerManagement(), pciExpress.endpoint(), msix({ vectors: 2, bar: 4, table: 0x1000, pba: 0x2800 })],
  extendedCapabilities: [aer(), serialNumber(0x1234n)],
  interruptPin: 1,
});

describe('regions()', () => {
  it('describes BARs, config and empty indexes', () => {
    const dev = hello.create({ memory: fakeMemfdProvider(), logger: silentLogger });
    const r = dev.regions();
    expect(r.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r[0]).toEqual({ index: 0, size: 4096n, flags: RegionFlags.READ | RegionFlags.WRITE });
    expect(r[1]).toEqual({ index: 1, size: 0n, flags: 0 });
    expect(r[2]).toEqual({ index: 2, size: BigInt(mib(64)), flags: 7, fd: 100, fdOffset: 0n });
    expect(r[3]).toEqual({ index: 3, size: 0n, flags: 0 }); // upper half of BAR2
    // BAR4 holds the MSI-X table (page 1) and PBA (page 2): sparse mmap around them.
    expect(r[4]).toEqual({
      index: 4,
      size: 0x4000n,
      flags: RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP | RegionFlags.CAPS,
      fd: 101,
      fdOffset: 0n,
      sparseMmap: [
        { offset: 0n, size: 0x1000n },
        { offset: 0x3000n, size: 0x1000n },
      ],
    });
    expect(r[RegionIndex.ROM]).toEqual({ index: 6, size: 0n, flags: 0 });
    expect(r[RegionIndex.CONFIG]).toEqual({ index: 7, size: 4096n, flags: RegionFlags.READ | RegionFlags.WRITE });
    expect(r[RegionIndex.VGA]).toEqual({ index: 8, size: 0n, flags: 0 });
  });

  it('omits MMAP without a real fd', () => {
    const dev = hello.create({ memory: heapBarMemory, logger: silentLogger });
    expect(dev.regions()[2]).toEqual({ index: 2, size: BigInt(mib(64)), flags: RegionFlags.READ | RegionFlags.WRITE });
    expect(dev.regions()[4]?.sparseMmap).toBeUndefined();
  });

  it('computes page-granular mmappable areas', () => {
    expect(mmappableAreas(0x1000, [{ bar: 0, offset: 0x800, size: 0x20 }])).toEqual([]);
    expect(
      mmappableAreas(0x4000, [
        { bar: 0, offset: 0x0, size: 0x20 },
        { bar: 0, offset: 0x10, size: 0x8 },
      ]),
    ).toEqual([{ offset: 0x1000n, size: 0x3000n }]);
  });

  it('releases shared memory on close', () => {
    const provider = fakeMemfdProvider();
    {
      using _dev = hello.create({ memory: provider, logger: silentLogger });
    }
    expect(provider.closed).toEqual([100, 101]);
  });
});

describe('irqs()', () => {
  it('reports INTx, MSI, MSI-X, ERR and REQ', () => {
    const dev = hello.create({ logger: silentLogger });
    const { EVENTFD, MASKABLE, AUTOMASKED } = IrqInfoFlags;
    expect(dev.irqs()).toEqual([
      { index: IrqIndex.INTX, count: 1, flags: EVENTFD | MASKABLE | AUTOMASKED },
      { index: IrqIndex.MSI, count: 0, flags: EVENTFD | IrqInfoFlags.NORESIZE },
      { index: IrqIndex.MSIX, count: 2, flags: EVENTFD },
      { index: IrqIndex.ERR, count: 1, flags: EVENTFD },
      { index: IrqIndex.REQ, count: 0, flags: EVENTFD },
    ]);
  });
});

describe('BAR accesses', () => {
  it('dispatch MMIO reads and writes with size and value', () => {
    const dev = hello.create({ logger: silentLogger });
    dev.regionWrite(0, 0x10n, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(registers.get(0x10)).toBe(0x0807_0605_0403_0201n);
    expect([...dev.regionRead(0, 0x10n, 4)]).toEqual([1, 2, 3, 4]);
    expect([...dev.regionRead(0, 0x10n, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('turn guest mistakes into guest errors and all-ones, never exceptions', () => {
    const dev = hello.create({ logger: silentLogger });
    const ctx = fakeContext();
    dev.attach(ctx);
    expect([...dev.regionRead(0, 0xffen, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect([...dev.regionRead(0, 0x0n, 3)]).toEqual([0xff, 0xff, 0xff]);
    expect([...dev.regionRead(1, 0x0n, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect([...dev.regionRead(42, 0x0n, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    dev.regionWrite(2, BigInt(mib(64)), new Uint8Array(4));
    expect(ctx.guestErrors).toHaveLength(5);
  });

  it('report handler exceptions as device errors', () => {
    const errors: string[] = [];
    const dev = hello.create({ logger: { guestError: () => {}, deviceError: (_e, where) => errors.push(where) } });
    expect(() => dev.regionWrite(0, 0x100n, new Uint8Array(4))).not.toThrow();
    expect(errors).toEqual(['BAR0 write at 0x100']);
  });

  it('serve trapped accesses to memory BARs from the backing bytes', () => {
    const dev = hello.create({ memory: fakeMemfdProvider(), logger: silentLogger });
    dev.handle.memory(2).set([9, 8, 7], 0x40);
    expect([...dev.regionRead(2, 0x40n, 3)]).toEqual([9, 8, 7]);
    dev.regionWrite(4, 0x10n, new Uint8Array([0xaa]));
    expect(dev.handle.bar(4).bytes?.[0x10]).toBe(0xaa);
    expect(dev.handle.bar(0).bytes).toBeUndefined();
    expect(() => dev.handle.memory(0)).toThrow(/not a memory BAR/);
  });

  it('support I/O BARs and the I/O space enable bit', () => {
    const seen: Array<[number, number]> = [];
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      bars: { 0: io({ size: 16, read: (offset, size) => offset + size, write: (offset, size) => void seen.push([offset, size]) }) },
    });
    const dev = d.create({ logger: silentLogger });
    expect(dev.regions()[0]).toEqual({ index: 0, size: 16n, flags: 3 });
    expect([...dev.regionRead(0, 4n, 2)]).toEqual([6, 0]);
    dev.regionWrite(0, 2n, new Uint8Array(1));
    expect(seen).toEqual([[2, 1]]);
    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.IO_SPACE);
    expect(cfgRead(dev, PciHeader.COMMAND, 2)).toBe(PciCommand.IO_SPACE);
  });
});

describe('lifecycle', () => {
  it('runs setup once, attach/detach hooks, and reset restores defaults', () => {
    const calls: string[] = [];
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      bars: { 0: mmio({ size: 4096 }) },
      interruptPin: 1,
      setup: (dev) => calls.push(`setup ${dev.attached}`),
      attach: (dev) => calls.push(`attach ${dev.attached}`),
      detach: (dev) => calls.push(`detach ${dev.attached}`),
      reset: (dev) => calls.push(`reset ${dev.busMasterEnabled}`),
    });
    const dev = d.create({ logger: silentLogger });
    dev.attach(fakeContext());
    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER);
    cfgWrite(dev, PciHeader.BAR0, 4, 0xfe00_0000);
    cfgWrite(dev, PciHeader.INTERRUPT_LINE, 1, 10);
    dev.handle.raise();
    expect(dev.barAddress(0)).toBe(0xfe00_0000n);
    dev.reset();
    expect(cfgRead(dev, PciHeader.COMMAND, 2)).toBe(0);
    expect(cfgRead(dev, PciHeader.BAR0, 4)).toBe(0);
    expect(cfgRead(dev, PciHeader.INTERRUPT_LINE, 1)).toBe(0);
    expect(cfgRead(dev, PciHeader.STATUS, 2)).toBe(0);
    expect(dev.barAddress(0)).toBeUndefined();
    expect(cfgRead(dev, PciHeader.VENDOR_ID, 2)).toBe(1);
    dev.detach();
    expect(calls).toEqual(['setup false', 'attach true', 'reset false', 'detach false']);
  });

  it('keeps the device usable when a reset hook throws', () => {
    const errors: string[] = [];
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      reset: () => {
        throw new Error('boom');
      },
    });
    const dev = d.create({ logger: { guestError: () => {}, deviceError: (_e, where) => errors.push(where) } });
    expect(() => dev.reset()).not.toThrow();
    expect(errors).toEqual(['reset hook']);
  });
});

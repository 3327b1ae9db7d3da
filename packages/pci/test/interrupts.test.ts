import { IrqIndex } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { CapabilityId, defineEndpoint, mmio, msi, msix, PciCommand, PciHeader, PciStatus } from '../src/index.ts';
import { walkCapabilities } from '../src/internal.ts';
import { cfgRead, cfgWrite, fakeContext, silentLogger } from './fake-context.ts';

const def = defineEndpoint({
  ids: { vendor: 0x1b36, device: 0x00f0, class: 0xff0000 },
  bars: { 0: mmio({ size: 4096 }) },
  capabilities: [msi({ vectors: 2, perVectorMasking: true }), msix({ vectors: 4, bar: 0, table: 0x800, pba: 0xc00 })],
  interruptPin: 1,
});

function setup() {
  const dev = def.create({ logger: silentLogger });
  const ctx = fakeContext();
  dev.attach(ctx);
  const msixAt = walkCapabilities(dev.config).find((c) => c.id === CapabilityId.MSIX)?.offset ?? 0;
  const msiAt = walkCapabilities(dev.config).find((c) => c.id === CapabilityId.MSI)?.offset ?? 0;
  return { dev, ctx, msixAt, msiAt };
}

const pba = (dev: ReturnType<typeof def.create>) => dev.regionRead(0, 0xc00n, 8)[0];

describe('INTx', () => {
  it('asserts the line, sets PciStatus.Interrupt and honours Interrupt Disable', () => {
    const { dev, ctx } = setup();
    ctx.enabled.add(IrqIndex.INTX);
    expect(dev.handle.interruptMode).toBe('intx');
    expect(dev.handle.raise()).toBe(true);
    expect(ctx.triggers).toEqual([{ index: IrqIndex.INTX, vector: 0 }]);
    expect(cfgRead(dev, PciHeader.STATUS, 2) & PciStatus.INTERRUPT).toBeTruthy();
    dev.handle.lowerIntx();
    expect(cfgRead(dev, PciHeader.STATUS, 2) & PciStatus.INTERRUPT).toBe(0);

    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.INTERRUPT_DISABLE);
    expect(dev.handle.raise()).toBe(false);
    expect(ctx.triggers).toHaveLength(1);
    expect(cfgRead(dev, PciHeader.STATUS, 2) & PciStatus.INTERRUPT).toBeTruthy(); // status still reflects the line
    cfgWrite(dev, PciHeader.COMMAND, 2, 0); // re-enabling delivers the asserted line
    expect(ctx.triggers).toHaveLength(2);
  });

  it('is not used without an interrupt pin', () => {
    const d = defineEndpoint({ ids: { vendor: 1, device: 2, class: 0 } });
    const dev = d.create({ logger: silentLogger });
    const ctx = fakeContext();
    dev.attach(ctx);
    expect(dev.handle.interruptMode).toBe('none');
    expect(dev.handle.raise()).toBe(false);
  });
});

describe('MSI', () => {
  it('is gated by Bus Master Enable and per-vector masks, with pending bits', () => {
    const { dev, ctx, msiAt } = setup();
    ctx.enabled.add(IrqIndex.MSI);
    cfgWrite(dev, msiAt + 2, 2, cfgRead(dev, msiAt + 2, 2) | 1 | (1 << 4)); // enable, 2 vectors
    expect(dev.handle.interruptMode).toBe('msi');
    expect(dev.handle.raise(1)).toBe(false); // BME clear
    expect(dev.msi?.isPending(1)).toBe(true);
    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.BUS_MASTER); // delivers the pending vector
    expect(ctx.triggers).toEqual([{ index: IrqIndex.MSI, vector: 1 }]);
    expect(dev.msi?.isPending(1)).toBe(false);
    cfgWrite(dev, msiAt + 0x10, 4, 0x1); // mask vector 0
    expect(dev.handle.raise(0)).toBe(false);
    expect(cfgRead(dev, msiAt + 0x14, 4)).toBe(0x1);
    cfgWrite(dev, msiAt + 0x10, 4, 0x0);
    expect(ctx.triggers.at(-1)).toEqual({ index: IrqIndex.MSI, vector: 0 });
    expect(() => dev.handle.raise(2)).toThrow(RangeError);
  });
});

describe('MSI-X', () => {
  it('takes precedence, is gated by BME, and sets PBA bits while function-masked', () => {
    const { dev, ctx, msixAt } = setup();
    ctx.enabled.add(IrqIndex.MSI);
    ctx.enabled.add(IrqIndex.MSIX);
    expect(dev.handle.interruptMode).toBe('msix');
    cfgWrite(dev, msixAt + 2, 2, 0x8000);
    expect(dev.handle.raise(1)).toBe(false); // BME clear
    expect(pba(dev)).toBe(0b0010);
    cfgWrite(dev, msixAt + 2, 2, 0xc000); // function mask
    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.BUS_MASTER);
    expect(ctx.triggers).toEqual([]);
    expect(dev.handle.raise(3)).toBe(false);
    expect(pba(dev)).toBe(0b1010);
    cfgWrite(dev, msixAt + 2, 2, 0x8000); // unmask: pending vectors are sent and cleared
    expect(ctx.triggers).toEqual([
      { index: IrqIndex.MSIX, vector: 1 },
      { index: IrqIndex.MSIX, vector: 3 },
    ]);
    expect(pba(dev)).toBe(0);
  });

  it('marks a vector pending when the client reports it masked', () => {
    const { dev, ctx, msixAt } = setup();
    ctx.enabled.add(IrqIndex.MSIX);
    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.BUS_MASTER);
    cfgWrite(dev, msixAt + 2, 2, 0x8000);
    ctx.refuse.add(2);
    expect(dev.handle.raise(2)).toBe(false);
    expect(pba(dev)).toBe(0b0100);
    ctx.refuse.clear();
    expect(dev.handle.raise(2)).toBe(true);
    expect(pba(dev)).toBe(0);
  });

  it('serves PBA reads, ignores PBA writes and keeps a local table', () => {
    const { dev, ctx } = setup();
    dev.msix?.setPending(0, true);
    dev.regionWrite(0, 0xc00n, new Uint8Array(8)); // dropped
    expect([...dev.regionRead(0, 0xc00n, 8)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect([...dev.regionRead(0, 0x80cn, 4)]).toEqual([1, 0, 0, 0]); // vector 0 control: masked at reset
    dev.regionWrite(0, 0x800n, new Uint8Array([0x00, 0x00, 0xe0, 0xfe]));
    expect([...dev.regionRead(0, 0x800n, 4)]).toEqual([0x00, 0x00, 0xe0, 0xfe]);
    expect(ctx.guestErrors).toEqual([]);
    // A read straddling the table end and device registers is a guest error answered with all-ones.
    expect([...dev.regionRead(0, 0x83cn, 8)]).toEqual(Array(8).fill(0xff));
    expect(ctx.guestErrors).toHaveLength(1);
  });
});

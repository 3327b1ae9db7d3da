import { mib } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { type BarIndex, defineEndpoint, io, memory, mmio } from '../src/index.ts';
import { cfgRead, cfgWrite, silentLogger } from './fake-context.ts';

const bar = (i: number) => 0x10 + 4 * i;

const def = defineEndpoint({
  ids: { vendor: 0x1b36, device: 0x00f0, class: 0xff0000 },
  bars: {
    0: mmio({ size: 4096 }),
    1: io({ size: 32 }),
    2: memory({ size: mib(64), prefetchable: true, bits: 64 }),
    4: mmio({ size: mib(16), bits: 64 }),
  },
});

/** Linux's sizing sequence for one register: save, write ~0, read, restore. */
function size(dev: ReturnType<typeof def.create>, offset: number): number {
  const saved = cfgRead(dev, offset, 4);
  cfgWrite(dev, offset, 4, 0xffff_ffff);
  const mask = cfgRead(dev, offset, 4);
  cfgWrite(dev, offset, 4, saved);
  return mask;
}

describe('BAR registers', () => {
  it('report type bits at reset', () => {
    const dev = def.create({ logger: silentLogger });
    expect(cfgRead(dev, bar(0), 4)).toBe(0x0); // 32-bit, non-prefetchable memory
    expect(cfgRead(dev, bar(1), 4)).toBe(0x1); // I/O
    expect(cfgRead(dev, bar(2), 4)).toBe(0xc); // 64-bit prefetchable
    expect(cfgRead(dev, bar(3), 4)).toBe(0x0); // upper half
    expect(cfgRead(dev, bar(4), 4)).toBe(0x4); // 64-bit non-prefetchable
  });

  it('size a 32-bit memory BAR', () => {
    const dev = def.create({ logger: silentLogger });
    expect(size(dev, bar(0))).toBe(0xffff_f000);
  });

  it('size an I/O BAR', () => {
    const dev = def.create({ logger: silentLogger });
    expect(size(dev, bar(1))).toBe(0xffff_ffe1);
  });

  it('size a 64-bit prefetchable BAR pair', () => {
    const dev = def.create({ logger: silentLogger });
    const low = size(dev, bar(2));
    const high = size(dev, bar(3));
    expect(low).toBe(0xfc00_000c);
    expect(high).toBe(0xffff_ffff);
    const sz = -((BigInt(high) << 32n) | BigInt(low & ~0xf)) & 0xffff_ffff_ffff_ffffn;
    expect(sz).toBe(BigInt(mib(64)));
  });

  it('size a 64-bit BAR larger than 4 GiB', () => {
    const big = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      bars: { 0: mmio({ size: 2 ** 33, bits: 64, prefetchable: true }) },
    });
    const dev = big.create({ logger: silentLogger });
    expect(size(dev, bar(0))).toBe(0x0000_000c);
    expect(size(dev, bar(1))).toBe(0xffff_fffe);
  });

  it('leave unused BARs read-only zero', () => {
    const dev = defineEndpoint({ ids: { vendor: 1, device: 2, class: 0 } }).create({ logger: silentLogger });
    for (let i = 0; i < 6; i++) expect(size(dev, bar(i))).toBe(0);
  });

  it('learn addresses and emit events, ignoring sizing patterns', () => {
    const events: Array<[BarIndex, bigint | undefined]> = [];
    const hooked: Array<[BarIndex, bigint | undefined]> = [];
    const d = defineEndpoint({
      ids: { vendor: 1, device: 2, class: 0 },
      bars: { 0: mmio({ size: 4096 }), 2: memory({ size: mib(1), bits: 64, prefetchable: true }) },
      onBarAddress: (_dev, b, a) => hooked.push([b, a]),
    });
    const dev = d.create({ logger: silentLogger });
    dev.onBarAddress((b, a) => events.push([b, a]));
    size(dev, bar(0));
    expect(events).toEqual([]);
    cfgWrite(dev, bar(0), 4, 0xfea0_0000);
    expect(dev.barAddress(0)).toBe(0xfea0_0000n);
    // 64-bit: low then high; sizing the high dword does not publish a bogus address.
    cfgWrite(dev, bar(2), 4, 0x0010_0000);
    cfgWrite(dev, bar(3), 4, 0x8);
    expect(dev.barAddress(2)).toBe(0x8_0010_0000n);
    size(dev, bar(3));
    expect(dev.barAddress(2)).toBe(0x8_0010_0000n);
    expect(events).toEqual([
      [0, 0xfea0_0000n],
      [2, 0x10_0000n],
      [2, 0x8_0010_0000n],
      [2, undefined],
      [2, 0x8_0010_0000n],
    ]);
    expect(hooked).toEqual(events);
    // Low bits below the BAR size are not writable.
    cfgWrite(dev, bar(0), 4, 0xfeb0_0123);
    expect(cfgRead(dev, bar(0), 4)).toBe(0xfeb0_0000);
    expect(dev.handle.bar(0).address).toBe(0xfeb0_0000n);
  });

  it('reject invalid layouts', () => {
    const ids = { vendor: 1, device: 2, class: 0 };
    expect(() => defineEndpoint({ ids, bars: { 0: mmio({ size: 3000 }) } })).toThrow(/power of two/);
    expect(() => defineEndpoint({ ids, bars: { 0: mmio({ size: 4096, bits: 64 }), 1: mmio({ size: 4096 }) } })).toThrow(/overlaps/);
    expect(() => defineEndpoint({ ids, bars: { 5: mmio({ size: 4096, bits: 64 }) } })).toThrow(/BAR5/);
    expect(() => defineEndpoint({ ids, bars: { 0: io({ size: 512 }) } })).toThrow(/I\/O/);
    expect(() => defineEndpoint({ ids, bars: { 0: memory({ size: 2 ** 32, bits: 32 }) } })).toThrow(/64-bit/);
  });
});

import { DmaError, Errno } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { DmaRefusedError, defineEndpoint, PciCommand, PciHeader } from '../src/index.ts';
import { cfgWrite, fakeContext, silentLogger } from './fake-context.ts';

const def = defineEndpoint({ ids: { vendor: 1, device: 2, class: 0 } });

describe('DMA gating', () => {
  it('refuses while detached', async () => {
    const dev = def.create({ logger: silentLogger });
    await expect(dev.handle.dma.read(0x1000n, 4)).rejects.toMatchObject({ reason: 'detached' });
  });

  it('refuses while Bus Master Enable is clear, then forwards', async () => {
    const dev = def.create({ logger: silentLogger });
    const ctx = fakeContext();
    dev.attach(ctx);
    await expect(dev.handle.dma.write(0x1000n, new Uint8Array(8))).rejects.toBeInstanceOf(DmaRefusedError);
    await expect(dev.handle.dma.read(0x1000n, 8)).rejects.toThrow(/Bus Master Enable/);
    expect(() => dev.handle.dma.directView(0x1000n, 8, false)).toThrow(DmaRefusedError);
    expect(() => dev.handle.dma.directViews?.([{ address: 0x1000n, length: 8 }], false)).toThrow(DmaRefusedError);
    expect(ctx.dmaCalls).toEqual([]);

    cfgWrite(dev, PciHeader.COMMAND, 2, PciCommand.BUS_MASTER);
    expect(dev.handle.busMasterEnabled).toBe(true);
    await dev.handle.dma.write(0x1000n, new Uint8Array(8));
    expect(await dev.handle.dma.read(0x2000n, 4)).toHaveLength(4);
    expect(dev.handle.dma.directView(0x3000n, 16, true)).toBeUndefined();
    expect(ctx.dmaCalls).toEqual(['write 4096 8', 'read 8192 4', 'view 12288 16']);
    // Several ranges: one gate check, then the context's views range by range (it has no directViews).
    const ranges = [
      { address: 0x4000n, length: 8 },
      { address: 0x6000n, length: 8 },
    ];
    expect(dev.handle.dma.directViews?.(ranges, false)).toBeUndefined();
    expect(ctx.dmaCalls.slice(3)).toEqual(['view 16384 8']);

    cfgWrite(dev, PciHeader.COMMAND, 2, 0);
    await expect(dev.handle.dma.read(0x1000n, 8)).rejects.toBeInstanceOf(DmaRefusedError);
  });

  it('a refusal is a DmaError (EPERM with BME clear, ENODEV detached), so device models treat it as a transfer error', async () => {
    const dev = def.create({ logger: silentLogger });
    await expect(dev.handle.dma.read(0x1000n, 4)).rejects.toMatchObject({ errno: Errno.ENODEV, address: 0x1000n });
    dev.attach(fakeContext());
    await expect(dev.handle.dma.read(0x1000n, 4)).rejects.toBeInstanceOf(DmaError);
    await expect(dev.handle.dma.read(0x1000n, 4)).rejects.toMatchObject({ errno: Errno.EPERM, reason: 'bus-master-disabled' });
  });

  it('logs device errors whose detail holds bigints (addresses) instead of throwing', () => {
    const dev = def.create({ logger: silentLogger });
    const ctx = fakeContext();
    dev.attach(ctx);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() =>
      dev.handle.deviceError('queue fetch failed', { address: 0xdead_0000n, error: new DmaError('x', 1n, 1, 14) }),
    ).not.toThrow();
    expect(() => dev.handle.deviceError('cyclic', cycle)).not.toThrow();
    expect(ctx.deviceErrors[0]).toMatch(/queue fetch failed \{"address":"0xdead0000","error":"DmaError: x"\}/);
  });
});

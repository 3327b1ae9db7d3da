import { DmaError, Errno, mib } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import type { BarBacking } from '../src/index.ts';
import { A_BAR, B_BAR, C_BAR, D_BAR, FakeBaseDma, switchRig } from './helpers.ts';

const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('FabricDmaSpace', () => {
  it('serves guest RAM through base.directView, falling back to base.read/write', async () => {
    const { fabric } = switchRig();
    const ram = new Uint8Array(1 << 20);
    const base = new FakeBaseDma(ram);
    const dma = fabric.dmaSpaceFor('a', base);
    await dma.write(0x100n, pattern(64));
    expect(ram.subarray(0x100, 0x140)).toEqual(pattern(64));
    expect(await dma.read(0x100n, 64)).toEqual(pattern(64));
    expect(base.calls.read + base.calls.write).toBe(0);

    const unmapped = new FakeBaseDma(ram, new Map(), false);
    const slow = fabric.dmaSpaceFor('a', unmapped);
    expect(await slow.read(0x100n, 64)).toEqual(pattern(64));
    await slow.write(0x200n, pattern(8));
    expect(unmapped.calls).toMatchObject({ read: 1, write: 1 });
  });

  it('serves local peers from their backing without touching base', async () => {
    const { fabric, b } = switchRig();
    const base = new FakeBaseDma(new Uint8Array(4096));
    const dma = fabric.dmaSpaceFor('a', base);
    await dma.write(B_BAR + 10n, pattern(100));
    expect(b.bytes.subarray(10, 110)).toEqual(pattern(100));
    expect(await dma.read(B_BAR + 10n, 100)).toEqual(pattern(100));
    expect(base.calls.read + base.calls.write + base.calls.directView).toBe(0);
    const view = dma.directView(B_BAR, 16, true);
    expect(view?.buffer).toBe(b.bytes.buffer);
  });

  it('uses MMIO callbacks when a local BAR has no plain memory', async () => {
    const { fabric } = switchRig();
    const log: string[] = [];
    const mmio: BarBacking = {
      read: (offset, length) => {
        log.push(`r ${offset} ${length}`);
        return new Uint8Array(length).fill(0xee);
      },
      write: async (offset, data) => {
        log.push(`w ${offset} ${data.length}`);
      },
    };
    fabric.setBarBacking('c', 0, mmio);
    const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(0)));
    expect(fabric.route('a', C_BAR, 4, 'read').kind).toBe('peer-local');
    expect(await dma.read(C_BAR + 4n, 4)).toEqual(new Uint8Array(4).fill(0xee));
    await dma.write(C_BAR + 8n, new Uint8Array(4));
    expect(log).toEqual(['r 4 4', 'w 8 4']);
    expect(dma.directView(C_BAR, 4, false)).toBeUndefined();
  });

  it('sends peers served elsewhere to base (QEMU DMA messages)', async () => {
    const { fabric } = switchRig();
    const remote = new Map([[D_BAR, new Uint8Array(4096)]]);
    const base = new FakeBaseDma(new Uint8Array(0), remote);
    const dma = fabric.dmaSpaceFor('a', base);
    await dma.write(D_BAR + 16n, pattern(32));
    expect(await dma.read(D_BAR + 16n, 32)).toEqual(pattern(32));
    expect(base.calls).toMatchObject({ read: 1, write: 1 });
    expect(dma.directView(D_BAR, 16, false)).toBeUndefined();
  });

  it('scatter-gather reads and writes across RAM and peers, with bounds checks', async () => {
    const { fabric, b } = switchRig();
    const ram = new Uint8Array(1 << 16);
    const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(ram));
    const sg = [
      { address: 0x1000n, length: 100 },
      { address: B_BAR + 50n, length: 28 },
      { address: 0x3000n, length: 0 },
    ];
    await dma.write(sg, pattern(128));
    expect(ram.subarray(0x1000, 0x1064)).toEqual(pattern(128).subarray(0, 100));
    expect(b.bytes.subarray(50, 78)).toEqual(pattern(128).subarray(100));
    expect(await dma.read(sg)).toEqual(pattern(128));

    await expect(dma.write(sg, pattern(10))).rejects.toMatchObject({ errno: Errno.EINVAL });
    await expect(dma.read(0x10n, -1)).rejects.toMatchObject({ errno: Errno.EINVAL });
    await expect(dma.read(0xffff_ffff_ffff_fff0n, 32)).rejects.toMatchObject({ errno: Errno.EFAULT });
    await expect(dma.read(C_BAR + 0x10000n, 4)).rejects.toBeInstanceOf(DmaError);
  });

  it('refuses a transfer as a whole when any piece is refused (nothing moves)', async () => {
    const { fabric, b } = switchRig();
    fabric.setMemorySpaceEnabled('b', false);
    const ram = new Uint8Array(4096);
    const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(ram));
    const err = await dma
      .write(
        [
          { address: 0n, length: 16 },
          { address: B_BAR, length: 16 },
        ],
        new Uint8Array(32).fill(9),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DmaError);
    expect((err as DmaError).errno).toBe(Errno.EPERM);
    expect((err as DmaError).message).toMatch(/memory space of b is disabled/);
    expect(ram[0]).toBe(0);
    expect(b.bytes[0]).toBe(0);
  });

  it('splits a copy that crosses from one BAR into the next', async () => {
    const { fabric, a, b } = switchRig();
    a.bytes.set(pattern(64).subarray(0, 32), mib(64) - 32);
    const ram = new Uint8Array(4096);
    const dma = fabric.dmaSpaceFor('d', new FakeBaseDma(ram), { copyChunkSize: 16 });
    // Source spans the end of a's BAR and the start of b's BAR.
    b.bytes.set(pattern(64).subarray(32), 0);
    await dma.copy(B_BAR - 32n, 0x100n, 64);
    expect(ram.subarray(0x100, 0x140)).toEqual(pattern(64));
    await expect(dma.copy(0n, C_BAR + 0x20000n, 16)).rejects.toMatchObject({ errno: Errno.EFAULT });
    expect(A_BAR).toBeLessThan(B_BAR);
  });
});

/**
 * FabricDmaSpace.directViews: the scattered guest-RAM pages of one buffer routed and counted
 * together must leave exactly what one directView per page leaves — counters, events, traces.
 */
import { Errno } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../src/index.ts';
import { B_BAR, FakeBaseDma, switchRig } from './helpers.ts';

/** 32 pages of a 128 KiB buffer, out of order and some unaligned, as a guest's PRP list gives them. */
const pages = Array.from({ length: 32 }, (_, i) => ({
  address: BigInt(((i * 7) % 32) * 8192 + (i % 3) * 512),
  length: 4096 - (i % 3) * 512,
}));

function rig() {
  const r = switchRig();
  const ram = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  return { ...r, ram, dma: r.fabric.dmaSpaceFor('a', new FakeBaseDma(ram)) };
}

describe('FabricDmaSpace.directViews', () => {
  it('gives the views and the counters of one directView per range, for reads and writes', () => {
    const batched = rig();
    const single = rig();
    for (const forWrite of [false, true]) {
      const views = batched.dma.directViews(pages, forWrite);
      const one = pages.map((p) => single.dma.directView(p.address, p.length, forWrite));
      expect(views?.map((v) => [v.byteOffset, v.byteLength])).toEqual(one.map((v) => [v?.byteOffset, v?.byteLength]));
      expect(views?.[3]?.buffer).toBe(batched.ram.buffer);
    }
    expect(batched.fabric.snapshot()).toEqual(single.fabric.snapshot());
    expect(batched.fabric.endpoint('a').transactions).toBe(64);
    expect(batched.fabric.link('dn0').upstream.writeTlps).toBeGreaterThan(32); // unaligned pages take two TLPs at MPS 256
  });

  it('emits one event per range, numbered in order, when observed', () => {
    const { fabric, dma } = rig();
    const events: TransactionEvent[] = [];
    const sub = fabric.transactions$.subscribe((e) => events.push(e));
    dma.directView(0x100n, 16, false);
    dma.directViews(pages.slice(0, 3), true);
    sub.unsubscribe();
    expect(events.map((e) => [e.seq, e.address, e.length, e.direction, e.kind, e.via])).toEqual([
      [0, 0x100n, 16, 'read', 'guest-ram', 'view'],
      ...pages.slice(0, 3).map((p, i) => [i + 1, p.address, p.length, 'write', 'guest-ram', 'view']),
    ]);
  });

  it('goes range by range when a range is not guest RAM; counts nothing when some range has no view', () => {
    const { fabric, dma, b } = rig();
    const mixed = [pages[0] as { address: bigint; length: number }, { address: B_BAR + 64n, length: 128 }];
    const views = dma.directViews(mixed, true);
    expect(views?.[1]?.buffer).toBe(b.bytes.buffer);
    expect(fabric.endpoint('a').byKind).toMatchObject({ 'guest-ram': pages[0]?.length, 'peer-local': 128 });

    const before = fabric.snapshot();
    expect(
      dma.directViews(
        [
          { address: 0xff000n, length: 4096 },
          { address: 0x100000n, length: 4096 },
        ],
        false,
      ),
    ).toBeUndefined(); // past the fake RAM
    expect(dma.directViews([{ address: 0x1000n, length: 0 }], false)).toBeUndefined();
    // The caller copies instead, and that transfer is what counts.
    expect(fabric.snapshot()).toEqual(before);
  });

  it('gives no views with Bus Master Enable off (the copy that follows is refused with EPERM)', async () => {
    const { fabric, dma } = rig();
    fabric.setBusMasterEnabled('a', false);
    expect(dma.directViews(pages.slice(0, 2), false)).toBeUndefined();
    expect(fabric.endpoint('a').transactions).toBe(0);
    await expect(dma.read(pages.slice(0, 2))).rejects.toMatchObject({ errno: Errno.EPERM });
    expect(fabric.endpoint('a').refused).toBe(1);
  });
});

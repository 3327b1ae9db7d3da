/**
 * DMA_UNMAP and DMA_MAP follow Linux's type1 IOMMU semantics (drivers/vfio/vfio_iommu_type1.c),
 * which QEMU's vIOMMU (intel-iommu) relies on: it unmaps whole IOVA ranges that may cover no
 * window or several windows.
 */
import { Errno } from '@p2pkit/base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VfioUserError } from '../src/index.ts';
import { Command, codec } from '../src/internal.ts';
import { errnoOf, RAM_BASE, type Rig, rig } from './harness.ts';

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => r.dispose());

const PAGE = 4096n;
/** Windows at RAM_BASE + 0, 2, 4 and 8 pages, one page each, all backed by the test RAM memfd. */
async function mapFour(): Promise<bigint[]> {
  const at = [0n, 2n, 4n, 8n].map((p) => RAM_BASE + p * PAGE);
  for (const [i, address] of at.entries())
    await r.client.dmaMap({ address, size: PAGE, flags: 3, fd: r.ram.fd.fd, offset: BigInt(i) * PAGE });
  return at;
}
const windows = () => r.server.session?.windows.list().map((w) => w.address - RAM_BASE) ?? [];
const clientLog = () => r.log.entries.filter((e) => e.channel === 'client');

describe('DMA_UNMAP with type1 semantics', () => {
  it('succeeds for a range that covers no window', async () => {
    await mapFour();
    await r.client.dmaUnmap({ address: RAM_BASE + 16n * PAGE, size: 64n * PAGE });
    await r.client.dmaUnmap({ address: RAM_BASE + PAGE, size: PAGE }); // the hole between two windows
    expect(windows()).toEqual([0n, 2n * PAGE, 4n * PAGE, 8n * PAGE]);
    expect(clientLog()).toEqual([]);
  });

  it('unmaps the one window a larger range covers', async () => {
    await mapFour();
    await r.client.dmaUnmap({ address: RAM_BASE + PAGE, size: 2n * PAGE }); // [1, 3) pages ⊇ window at 2
    expect(windows()).toEqual([0n, 4n * PAGE, 8n * PAGE]);
    expect(r.server.session?.dma.directView(RAM_BASE + 2n * PAGE, 1, false)).toBeUndefined();
    expect(clientLog()).toEqual([]);
  });

  it('unmaps every one of three windows inside the range, and nothing outside it', async () => {
    await mapFour();
    const reply = await r.client.request(
      Command.DMA_UNMAP,
      codec.encodeDmaUnmap({ flags: 0, address: RAM_BASE + 2n * PAGE, size: 7n * PAGE }), // [2, 9) pages
    );
    expect(reply.payload.length).toBe(24);
    expect(windows()).toEqual([0n]);
    expect(clientLog()).toEqual([]);
  });

  it('refuses a range that splits a window with EINVAL (as type1 does), leaving every window mapped', async () => {
    await mapFour();
    const r1 = RAM_BASE + 2n * PAGE + 0x800n; // starts inside the window at 2 pages
    expect(await errnoOf(r.client.dmaUnmap({ address: r1, size: 4n * PAGE }))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.dmaUnmap({ address: RAM_BASE, size: 4n * PAGE + 0x800n }))).toBe(Errno.EINVAL); // ends inside 4
    expect(windows()).toEqual([0n, 2n * PAGE, 4n * PAGE, 8n * PAGE]);
    expect(clientLog()).toHaveLength(2);
  });

  it('refuses size 0 and a range that wraps the address space', async () => {
    await mapFour();
    expect(await errnoOf(r.client.dmaUnmap({ address: RAM_BASE, size: 0n }))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.dmaUnmap({ address: 0xffff_ffff_ffff_f000n, size: 2n * PAGE }))).toBe(Errno.EINVAL);
    expect(windows()).toHaveLength(4);
  });
});

describe('DMA_MAP overlaps', () => {
  it('refuses any overlap with an existing window with EEXIST', async () => {
    await mapFour();
    const map = (address: bigint, size: bigint) => r.client.dmaMap({ address, size, flags: 3 });
    expect(await errnoOf(map(RAM_BASE + 0x800n, PAGE))).toBe(Errno.EEXIST); // straddles the end of window 0
    expect(await errnoOf(map(RAM_BASE + PAGE, 4n * PAGE))).toBe(Errno.EEXIST); // covers windows 2 and 4
    expect(await errnoOf(map(RAM_BASE + 2n * PAGE + 0x100n, 0x100n))).toBe(Errno.EEXIST); // inside window 2
    await map(RAM_BASE + PAGE, PAGE); // the hole is free
    expect(windows()).toEqual([0n, PAGE, 2n * PAGE, 4n * PAGE, 8n * PAGE]);
  });
});

/** Drives stub endpoints the way a guest driver would, through the TypeScript vfio-user client. */

import { IrqIndex } from '@p2pkit/base';
import { EventFd } from '@p2pkit/native';
import { IrqSetFlags, MemoryTransport, RegionIndex, VfioUserClient, type VfioUserServer } from '@p2pkit/vfio-user';

export const RAM = 0x4000_0000n;

/** Connects a client, programs BAR0 (32-bit) and optionally BAR2 (64-bit), enables memory space + bus mastering, binds MSI-X eventfds. */
export async function connect(server: VfioUserServer, bars: { bar0: bigint; bar2?: bigint }, vectors: number) {
  const [a, b] = MemoryTransport.pair();
  server.serve(b);
  const client = new VfioUserClient(a);
  await client.negotiate();
  await client.write32(RegionIndex.CONFIG, 0x10, Number(bars.bar0));
  if (bars.bar2 !== undefined) {
    await client.write32(RegionIndex.CONFIG, 0x18, Number(bars.bar2 & 0xffff_ffffn));
    await client.write32(RegionIndex.CONFIG, 0x1c, Number(bars.bar2 >> 32n));
  }
  await client.write32(RegionIndex.CONFIG, 0x04, 0x6);
  const irqs = Array.from({ length: vectors }, () => EventFd.create());
  const fds = irqs.map((e) => e.fd);
  if (vectors > 0)
    await client.setIrqs({
      index: IrqIndex.MSIX,
      flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER,
      start: 0,
      count: vectors,
      fds,
    });
  return {
    client,
    irqs,
    wr64: (off: number, v: bigint) => client.regionWrite(RegionIndex.BAR0, off, le64(v)),
    [Symbol.dispose]() {
      client.close();
      for (const e of irqs) e.close();
    },
  };
}

export const le64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

/** Polls `probe` until it returns true (or fails after ~2 s). */
export async function until(probe: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

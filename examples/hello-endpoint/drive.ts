/**
 * Drives the hello endpoint the way a guest driver would, through the TypeScript vfio-user client:
 * enable bus mastering, bind an MSI-X vector, program a copy in guest RAM (a memfd), wait for the
 * interrupt. Shared by the demo and the tests.
 */

import { IrqIndex } from '@p2pkit/base';
import { EventFd, SharedMemory } from '@p2pkit/native';
import { IrqSetFlags, RegionIndex, type VfioUserClient } from '@p2pkit/vfio-user';
import { Reg, Status } from './hello.ts';

export const GUEST_RAM_BASE = 0x4000_0000n;

export interface CopyResult {
  status: number;
  interrupts: bigint;
  destination: Uint8Array;
}

export async function copyThroughHello(client: VfioUserClient, payload: Uint8Array): Promise<CopyResult> {
  using ram = SharedMemory.create('guest-ram', 1 << 20);
  using irq = EventFd.create();
  await client.dmaMap({ address: GUEST_RAM_BASE, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
  await client.setIrqs({
    index: IrqIndex.MSIX,
    flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER,
    start: 0,
    count: 1,
    fds: [irq.fd],
  });
  const command = await client.read32(RegionIndex.CONFIG, 0x04);
  await client.write32(RegionIndex.CONFIG, 0x04, (command & 0xffff) | 0x6); // memory space + bus master
  ram.bytes.set(payload, 0);
  const wr64 = (off: number, v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return client.regionWrite(RegionIndex.BAR0, off, b);
  };
  await wr64(Reg.SRC, GUEST_RAM_BASE);
  await wr64(Reg.DST, GUEST_RAM_BASE + 0x8_0000n);
  await client.write32(RegionIndex.BAR0, Reg.LEN, payload.length);
  await client.write32(RegionIndex.BAR0, Reg.CTRL, 1);
  let status: number = Status.BUSY;
  for (let i = 0; i < 1000 && status & Status.BUSY; i++) {
    await new Promise((r) => setTimeout(r, 1));
    status = await client.read32(RegionIndex.BAR0, Reg.STATUS);
  }
  const result = { status, interrupts: irq.drain(), destination: ram.bytes.slice(0x8_0000, 0x8_0000 + payload.length) };
  await client.dmaUnmap({ address: GUEST_RAM_BASE, size: BigInt(ram.size) });
  return result;
}

/**
 * hello-plus driven through the TypeScript vfio-user client, no VM: what docs/writing-an-endpoint.md
 * shows (its code regions are included from here and from hello-plus.ts).
 */
import { IrqIndex, recordingLogger } from '@p2pkit/base';
import { Fabric, FabricEndpoint, topology } from '@p2pkit/fabric';
import { EventFd, SharedMemory } from '@p2pkit/native';
import { memfdBarMemory } from '@p2pkit/pci';
import { IrqSetFlags, MemoryTransport, RegionIndex, VfioUserClient, VfioUserServer } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import { BUFFER_BAR, BUFFER_SIZE, helloPlus, PlusReg, PlusStatus, PlusVector } from './hello-plus.ts';

const RAM = 0x4000_0000n;

// #region connect
/** What QEMU does for a guest: connect, place the BARs, enable decoding and bus mastering, bind MSI-X eventfds. */
async function connect(server: VfioUserServer, bar2: bigint, interrupts: 'msix' | 'intx' = 'msix') {
  const [near, far] = MemoryTransport.pair(); // in-process; VfioUserClient.connect(path) talks over a socket
  server.serve(far);
  const client = new VfioUserClient(near);
  await client.negotiate();
  await client.write32(RegionIndex.CONFIG, 0x10, 0xfe00_0000); // BAR0
  await client.write32(RegionIndex.CONFIG, 0x18, Number(bar2 & 0xffff_ffffn)); // BAR2, 64-bit: low then high
  await client.write32(RegionIndex.CONFIG, 0x1c, Number(bar2 >> 32n));
  await client.write32(RegionIndex.CONFIG, 0x04, 0x6); // Memory Space + Bus Master Enable
  const irqs = interrupts === 'msix' ? [EventFd.create(), EventFd.create()] : [EventFd.create()]; // INTx: one line
  const fds = irqs.map((e) => e.fd);
  const index = interrupts === 'msix' ? IrqIndex.MSIX : IrqIndex.INTX;
  await client.setIrqs({ index, flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, start: 0, count: fds.length, fds });
  return { client, irqs };
}

/** Programs one copy and waits until the engine is no longer busy; returns STATUS. */
async function copy(client: VfioUserClient, src: bigint, dst: bigint, length: number): Promise<number> {
  const u64 = (v: bigint) => Buffer.from(BigUint64Array.of(v).buffer);
  await client.regionWrite(RegionIndex.BAR0, PlusReg.SRC, u64(src));
  await client.regionWrite(RegionIndex.BAR0, PlusReg.DST, u64(dst));
  await client.write32(RegionIndex.BAR0, PlusReg.LEN, length);
  await client.write32(RegionIndex.BAR0, PlusReg.CTRL, 1);
  for (;;) {
    const status = await client.read32(RegionIndex.BAR0, PlusReg.STATUS);
    if (!(status & PlusStatus.BUSY)) return status;
    await new Promise((r) => setTimeout(r, 1));
  }
}
// #endregion connect

describe('hello-plus', () => {
  it('declares a 64-bit prefetchable BAR2 and a vendor-specific capability', async () => {
    const ep = helloPlus.create({ memory: memfdBarMemory });
    expect(ep.bars.layout(BUFFER_BAR)).toMatchObject({ space: 'memory', size: BUFFER_SIZE, is64: true, prefetchable: true });
    expect(ep.regions().find((r) => r.index === RegionIndex.BAR2)?.fd).toBeDefined(); // QEMU can mmap it
    const config = Buffer.from(ep.regionRead(RegionIndex.CONFIG, 0n, 256));
    const caps: number[] = [];
    for (let at = config[0x34] as number; at; at = config[at + 1] as number) caps.push(config[at] as number);
    expect(caps).toEqual([0x01, 0x10, 0x11, 0x09]); // PM, PCI Express, MSI-X, vendor-specific
    expect(config[0x3d]).toBe(1); // Interrupt Pin: INTA#
    ep.close();
  });

  it('copies guest RAM into its own buffer (vector 0) and reports a bad address (vector 1)', async () => {
    // #region copy-test
    const log = recordingLogger();
    const ep = helloPlus.create({ memory: memfdBarMemory });
    const server = new VfioUserServer(ep, { logger: log });
    const { client, irqs } = await connect(server, 0x80_0000_0000n);
    using ram = SharedMemory.create('guest-ram', 1 << 20); // guest RAM: a memfd, DMA_MAPped with its fd as QEMU does
    await client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
    ram.bytes.set(new TextEncoder().encode('hello, buffer'), 0x100);

    expect(await copy(client, RAM + 0x100n, 0x80_0000_0000n + 0x2000n, 13)).toBe(PlusStatus.DONE);
    const buffer = ep.handle.memory(BUFFER_BAR); // what the guest CPU sees through its BAR2 mapping
    expect(new TextDecoder().decode(buffer.subarray(0x2000, 0x2000 + 13))).toBe('hello, buffer');
    expect(irqs[PlusVector.DONE]?.drain()).toBe(1n);

    expect(await copy(client, 0x9000_0000n, RAM, 16)).toBe(PlusStatus.ERROR); // nothing mapped there
    expect(irqs[PlusVector.ERROR]?.drain()).toBe(1n);
    expect(log.entries.filter((e) => e.channel === 'guest').map((e) => e.message)).toEqual([expect.stringMatching(/DMA failed/)]);
    // #endregion copy-test
    client.close();
    for (const e of irqs) e.close();
    ep.close();
  });

  it('without MSI-X it asserts INTA#, and lowers it when the driver clears STATUS', async () => {
    // #region intx-test
    const ep = helloPlus.create({ memory: memfdBarMemory });
    const { client, irqs } = await connect(new VfioUserServer(ep), 0x80_0000_0000n, 'intx');
    const interruptStatus = async () => ((await client.read32(RegionIndex.CONFIG, 0x04)) >>> 16) & 0x8; // Status bit 3
    expect(await copy(client, 0x9000_0000n, 0x80_0000_0000n, 16)).toBe(PlusStatus.ERROR);
    expect(irqs[0]?.drain()).toBe(1n);
    expect(await interruptStatus()).toBe(0x8);
    await client.write32(RegionIndex.BAR0, PlusReg.STATUS, PlusStatus.ERROR); // the driver acknowledges
    expect(await interruptStatus()).toBe(0);
    // #endregion intx-test
    client.close();
    irqs[0]?.close();
    ep.close();
  });

  it('on a fabric, a copy between two instances below one switch never crosses the upstream port', async () => {
    // #region fabric-test
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) =>
          rp.switch('sw0', (sw) => {
            sw.downstream('dn0').attach('a');
            sw.downstream('dn1').attach('b');
          }),
        )
        .build(),
    );
    const [a, b] = [helloPlus.create({ memory: memfdBarMemory }), helloPlus.create({ memory: memfdBarMemory })];
    using fa = new FabricEndpoint(fabric, 'a', a); // BARs registered, DMA routed and counted
    using fb = new FabricEndpoint(fabric, 'b', b);
    const da = await connect(new VfioUserServer(fa), 0x80_0000_0000n);
    await connect(new VfioUserServer(fb), 0x80_1000_0000n);
    a.handle.memory(BUFFER_BAR).fill(0x5a, 0, 64 << 10);

    expect(await copy(da.client, 0x80_0000_0000n, 0x80_1000_0000n + 0x1000n, 64 << 10)).toBe(PlusStatus.DONE);
    expect(b.handle.memory(BUFFER_BAR)[0x1000 + 100]).toBe(0x5a);
    const up = fabric.link('rp0');
    expect(up.upstream.bytes + up.downstream.bytes).toBe(0); // peer to peer below the switch
    const peer = fabric.link('dn1');
    expect(peer.downstream.bytes).toBeGreaterThanOrEqual(64 << 10);
    // #endregion fabric-test
    da.client.close();
    for (const e of da.irqs) e.close();
    a.close();
    b.close();
  });
});

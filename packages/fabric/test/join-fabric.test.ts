import { mib, recordingLogger } from '@p2pkit/base';
import { SharedMemory } from '@p2pkit/native';
import { defineEndpoint, type EndpointHandle, instanceState, memfdBarMemory, memory, mmio } from '@p2pkit/pci';
import { MemoryTransport, RegionIndex, VfioUserClient, VfioUserServer } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import { Fabric, FabricEndpoint, topology } from '../src/index.ts';

// A copy engine (BAR0: src @0, dst @8, len @16, go @24, status @28) with a 2 MiB memory BAR2.
const regs = instanceState(() => new DataView(new ArrayBuffer(32)));
const copier = defineEndpoint({
  name: 'copier',
  ids: { vendor: 0x1b36, device: 0x00f1, class: 0x058000 },
  bars: {
    0: mmio({
      size: 4096,
      read: (o, s, dev) => (s === 8 ? regs(dev).getBigUint64(o, true) : regs(dev).getUint32(o, true)),
      write: (o, s, v, dev) => {
        if (s === 8) regs(dev).setBigUint64(o, v, true);
        else regs(dev).setUint32(o, Number(v), true);
        if (o === 24) void run(dev);
      },
    }),
    2: memory({ size: mib(2), prefetchable: true, bits: 64 }),
  },
});
async function run(dev: EndpointHandle) {
  const r = regs(dev);
  try {
    const data = await dev.dma.read(r.getBigUint64(0, true), r.getUint32(16, true));
    await dev.dma.write(r.getBigUint64(8, true), data);
    r.setUint32(28, 1, true);
  } catch {
    r.setUint32(28, 2, true);
  }
}

const RAM = 0x4000_0000n;
const BAR2 = { a: 0xf400_0000n, b: 0xf600_0000n };

async function client(server: VfioUserServer, bar2: bigint) {
  const [a, b] = MemoryTransport.pair();
  server.serve(b);
  const c = new VfioUserClient(a);
  await c.negotiate();
  await c.write32(RegionIndex.CONFIG, 0x18, Number(bar2 & 0xffffffffn) | 0xc);
  await c.write32(RegionIndex.CONFIG, 0x1c, Number(bar2 >> 32n));
  await c.write32(RegionIndex.CONFIG, 0x04, 0x6); // memory space + bus master
  return c;
}

async function go(c: VfioUserClient, src: bigint, dst: bigint, len: number, dev: FabricEndpoint) {
  for (const [off, v] of [
    [0, src],
    [8, dst],
  ] as const) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    await c.regionWrite(0, off, b);
  }
  await c.write32(0, 16, len);
  await c.write32(0, 24, 1);
  for (let i = 0; i < 500 && regs(dev.endpoint.handle).getUint32(28, true) === 0; i++) await new Promise((r) => setTimeout(r, 2));
  const status = regs(dev.endpoint.handle).getUint32(28, true);
  regs(dev.endpoint.handle).setUint32(28, 0, true);
  return status;
}

describe('endpoints on a fabric', () => {
  it('routes a peer write below one switch directly: no bytes on the switch upstream link', async () => {
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
    const devA = new FabricEndpoint(fabric, 'a', copier.create({ memory: memfdBarMemory }));
    const devB = new FabricEndpoint(fabric, 'b', copier.create({ memory: memfdBarMemory }));
    const log = recordingLogger();
    const serverA = new VfioUserServer(devA, { logger: log });
    const serverB = new VfioUserServer(devB, { logger: log });
    const ca = await client(serverA, BAR2.a);
    const cb = await client(serverB, BAR2.b);
    using ram = SharedMemory.create('ram', 1 << 20);
    await ca.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
    const payload = Buffer.alloc(256 << 10, 0x5a);
    ram.bytes.set(payload);

    // RAM → peer BAR2: the read crosses the upstream link once, the write goes straight across the switch.
    expect(await go(ca, RAM, BAR2.b + 0x1000n, payload.length, devA)).toBe(1);
    expect(Buffer.compare(Buffer.from(devB.endpoint.handle.memory(2).subarray(0x1000, 0x1000 + payload.length)), payload)).toBe(0);
    const up1 = fabric.link('rp0');
    const upBytes1 = up1.upstream.bytes + up1.downstream.bytes;
    fabric.resetCounters();

    // Peer BAR2 → own BAR2 (pure p2p): nothing crosses the upstream link.
    expect(await go(ca, BAR2.b + 0x1000n, BAR2.a, payload.length, devA)).toBe(1);
    expect(Buffer.compare(Buffer.from(devA.endpoint.handle.memory(2).subarray(0, payload.length)), payload)).toBe(0);
    const up2 = fabric.link('rp0');
    expect(up2.upstream.bytes + up2.downstream.bytes).toBe(0);
    expect(upBytes1).toBeGreaterThanOrEqual(payload.length);

    // Memory space off on B: its BAR refuses, the device sees a transfer error.
    await cb.write32(RegionIndex.CONFIG, 0x04, 0x4);
    expect(await go(ca, RAM, BAR2.b, 64, devA)).toBe(2);
    ca.close();
    cb.close();
  });
});

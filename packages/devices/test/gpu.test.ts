import { mib, recordingLogger } from '@p2pkit/base';
import { Fabric, FabricEndpoint, topology } from '@p2pkit/fabric';
import { SharedMemory } from '@p2pkit/native';
import { RegionIndex, VfioUserServer } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import { CeStatus, createGpu, GPU_ID, GpuReg } from '../src/index.ts';
import { connect, RAM, until } from './harness.ts';

const BAR0 = 0xfe00_0000n;
const VRAM = { a: 0x80_0000_0000n, b: 0x80_1000_0000n };
const EFAULT = 14;

type Driver = Awaited<ReturnType<typeof connect>>;

/** Programs the copy engine, waits for it to finish, returns CE_STATUS and clears it. */
async function copy(d: Driver, src: bigint, dst: bigint, length: number): Promise<number> {
  await d.wr64(GpuReg.CE_SRC, src);
  await d.wr64(GpuReg.CE_DST, dst);
  await d.client.write32(RegionIndex.BAR0, GpuReg.CE_LEN, length);
  await d.client.write32(RegionIndex.BAR0, GpuReg.CE_GO, 1);
  let status = CeStatus.BUSY as number;
  await until(async () => {
    status = await d.client.read32(RegionIndex.BAR0, GpuReg.CE_STATUS);
    return !(status & CeStatus.BUSY);
  }, 'copy engine');
  await d.client.write32(RegionIndex.BAR0, GpuReg.CE_STATUS, CeStatus.DONE | CeStatus.ERROR);
  return status;
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('gpu', () => {
  it('validates the VRAM size and declares a 3D controller with a 64-bit prefetchable memfd VRAM BAR', async () => {
    await using dev = await createGpu();
    expect(Buffer.from(dev.endpoint.regionRead(RegionIndex.CONFIG, 0x08n, 4)).readUInt32LE() >>> 8).toBe(0x030200);
    expect(dev.endpoint.bars.layout(2)).toMatchObject({ space: 'memory', size: mib(64), is64: true, prefetchable: true });
    expect(dev.vram.length).toBe(mib(64));
    expect(dev.endpoint.regions().find((r) => r.index === RegionIndex.BAR2)?.fd).toBeDefined();
    await expect(createGpu({ vramSize: mib(3) })).rejects.toThrow(RangeError);
    await expect(createGpu({ vramSize: mib(1) })).rejects.toThrow(RangeError);
  });

  it('copies RAM → VRAM and VRAM → RAM, interrupts on completion, reports unmapped addresses as errors', async () => {
    const log = recordingLogger();
    await using gpu = await createGpu({ vramSize: mib(2) });
    const dev = gpu.endpoint;
    const server = new VfioUserServer(dev, { logger: log });
    using d = await connect(server, { bar0: BAR0, bar2: VRAM.a }, 1);
    using ram = SharedMemory.create('ram', 1 << 20);
    await d.client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });

    expect((await d.client.read32(RegionIndex.CONFIG, 8)) >>> 8).toBe(0x030200);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.ID)).toBe(GPU_ID);
    expect((await d.client.regionRead(RegionIndex.BAR0, GpuReg.VRAM_SIZE, 8)).readBigUInt64LE()).toBe(BigInt(mib(2)));

    const data = pattern(300_000, 3);
    ram.bytes.set(data, 0);
    expect(await copy(d, RAM, VRAM.a + 0x1000n, data.length)).toBe(CeStatus.DONE);
    expect(Buffer.compare(gpu.vram.subarray(0x1000, 0x1000 + data.length), data)).toBe(0);
    expect(Buffer.compare(await d.client.regionRead(RegionIndex.BAR2, 0x1000, 64), data.subarray(0, 64))).toBe(0);
    expect(d.irqs[0]!.drain()).toBe(1n);

    expect(await copy(d, VRAM.a + 0x1000n, RAM + 0x8_0000n, data.length)).toBe(CeStatus.DONE);
    expect(Buffer.compare(ram.bytes.subarray(0x8_0000, 0x8_0000 + data.length), data)).toBe(0);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.CE_COPIES)).toBe(2);
    expect((await d.client.regionRead(RegionIndex.BAR0, GpuReg.CE_BYTES, 8)).readBigUInt64LE()).toBe(BigInt(2 * data.length));
    expect(d.irqs[0]!.drain()).toBe(1n);
    expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);

    // Nothing is mapped (nor exposed by the client) at 0x9000_0000: EFAULT, a guest-error line, still an interrupt.
    expect(await copy(d, 0x9000_0000n, VRAM.a, 4096)).toBe(CeStatus.ERROR);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.CE_ERROR)).toBe(EFAULT);
    expect(await copy(d, VRAM.a, RAM + BigInt(ram.size) - 16n, 64)).toBe(CeStatus.ERROR); // runs off the end of RAM
    expect(log.entries.filter((e) => e.channel === 'guest' && /gpu: copy/.test(e.message))).toHaveLength(2);
    expect(d.irqs[0]!.drain()).toBe(2n);

    // A range straddling the end of VRAM is refused (EINVAL); a good copy clears CE_ERROR.
    expect(await copy(d, RAM, VRAM.a + BigInt(mib(2)) - 8n, 16)).toBe(CeStatus.ERROR);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.CE_ERROR)).toBe(22);
    expect(await copy(d, RAM, VRAM.a, 16)).toBe(CeStatus.DONE);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.CE_ERROR)).toBe(0);

    // Bus mastering off: the engine may not touch the bus.
    await d.client.write32(RegionIndex.CONFIG, 0x04, 0x2);
    expect(await copy(d, RAM, VRAM.a, 16)).toBe(CeStatus.ERROR);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.CE_ERROR)).toBe(1);
    await d.client.dmaUnmap({ address: RAM, size: BigInt(ram.size) });
  });

  it('on a fabric, a VRAM → peer VRAM copy below one switch moves nothing on the upstream link', async () => {
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) =>
          rp.switch('sw0', (sw) => {
            sw.downstream('dn0').attach('gpu0');
            sw.downstream('dn1').attach('gpu1');
          }),
        )
        .build(),
    );
    const log = recordingLogger();
    await using a = await createGpu({ vramSize: mib(2) });
    await using b = await createGpu({ vramSize: mib(2) });
    using fa = new FabricEndpoint(fabric, 'gpu0', a.endpoint);
    using fb = new FabricEndpoint(fabric, 'gpu1', b.endpoint);
    using da = await connect(new VfioUserServer(fa, { logger: log }), { bar0: BAR0, bar2: VRAM.a }, 1);
    using db = await connect(new VfioUserServer(fb, { logger: log }), { bar0: BAR0 + 0x10_0000n, bar2: VRAM.b }, 1);
    using ram = SharedMemory.create('ram', 1 << 20);
    await da.client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
    const data = pattern(256 << 10, 9);
    ram.bytes.set(data);

    // RAM → own VRAM: the read crosses the root port link.
    expect(await copy(da, RAM, VRAM.a, data.length)).toBe(CeStatus.DONE);
    const up = fabric.link('rp0');
    expect(up.upstream.bytes + up.downstream.bytes).toBeGreaterThanOrEqual(data.length);
    fabric.resetCounters();

    // Own VRAM → peer VRAM: straight across the switch.
    expect(await copy(da, VRAM.a, VRAM.b + 0x4_0000n, data.length)).toBe(CeStatus.DONE);
    expect(Buffer.compare(b.vram.subarray(0x4_0000, 0x4_0000 + data.length), data)).toBe(0);
    const up2 = fabric.link('rp0');
    expect(up2.upstream.bytes + up2.downstream.bytes).toBe(0);
    const dn1 = fabric.link('dn1');
    expect(dn1.upstream.bytes + dn1.downstream.bytes).toBeGreaterThanOrEqual(data.length);

    // Peer VRAM → own VRAM (a read of the peer's BAR): also stays below the switch.
    a.vram.fill(0);
    expect(await copy(da, VRAM.b + 0x4_0000n, VRAM.a + 0x10_0000n, data.length)).toBe(CeStatus.DONE);
    expect(Buffer.compare(a.vram.subarray(0x10_0000, 0x10_0000 + data.length), data)).toBe(0);
    const up3 = fabric.link('rp0');
    expect(up3.upstream.bytes + up3.downstream.bytes).toBe(0);
    expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);
    expect(db.irqs[0]!.drain()).toBe(0n);
  });
});

/** The GPU's descriptor queue driven through the TypeScript vfio-user client: COPY, COMPUTE, errors, peers. */
import { mib, recordingLogger } from '@p2pkit/base';
import { Fabric, FabricEndpoint, topology } from '@p2pkit/fabric';
import { SharedMemory } from '@p2pkit/native';
import { RegionIndex, VfioUserServer } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import { createGpu, GpuDesc, GpuDescFlags, GpuDescStatus, type GpuKernel, GpuOp, GpuReg, QueueStatus } from '../src/index.ts';
import { connect, RAM, until } from './harness.ts';

const BAR0 = 0xfe00_0000n;
const VRAM = 0x80_0000_0000n;
type Driver = Awaited<ReturnType<typeof connect>>;

interface Descriptor {
  op: number;
  flags?: number;
  src?: bigint;
  dst?: bigint;
  length?: number;
  kernel?: number;
  arg0?: bigint;
}

/** Writes descriptor `d` at byte `at` of `ring` (as the guest driver would, in whatever memory holds the ring). */
function put(ring: Uint8Array, at: number, d: Descriptor): void {
  const v = new DataView(ring.buffer, ring.byteOffset + at, GpuDesc.SIZE);
  new Uint8Array(ring.buffer, ring.byteOffset + at, GpuDesc.SIZE).fill(0);
  v.setUint32(GpuDesc.OP, d.op, true);
  v.setUint32(GpuDesc.FLAGS, d.flags ?? 0, true);
  v.setBigUint64(GpuDesc.SRC, d.src ?? 0n, true);
  v.setBigUint64(GpuDesc.DST, d.dst ?? 0n, true);
  v.setUint32(GpuDesc.LENGTH, d.length ?? 0, true);
  v.setUint32(GpuDesc.KERNEL, d.kernel ?? 0, true);
  v.setBigUint64(GpuDesc.ARG0, d.arg0 ?? 0n, true);
}

const statusOf = (ring: Uint8Array, i: number) =>
  new DataView(ring.buffer, ring.byteOffset + i * GpuDesc.SIZE).getUint32(GpuDesc.STATUS, true);
const resultOf = (ring: Uint8Array, i: number) =>
  new DataView(ring.buffer, ring.byteOffset + i * GpuDesc.SIZE).getUint32(GpuDesc.RESULT, true);

/** Programs the queue at `base` with `size` entries. */
async function initQueue(d: Driver, base: bigint, size: number): Promise<void> {
  await d.wr64(GpuReg.Q_BASE, base);
  await d.client.write32(RegionIndex.BAR0, GpuReg.Q_SIZE, size);
}

/** Rings the doorbell with `tail` and waits until the engine caught up. */
async function ring(d: Driver, tail: number): Promise<void> {
  await d.client.write32(RegionIndex.BAR0, GpuReg.Q_TAIL, tail);
  await until(async () => (await d.client.read32(RegionIndex.BAR0, GpuReg.Q_HEAD)) === tail, `queue head ${tail}`);
}

// #region kernel
/** Kernel 1: adds ARG0 to every byte, answers the byte sum of the result. */
const addBytes: GpuKernel = (range, { arg0 }) => {
  let sum = 0;
  for (let i = 0; i < range.length; i++) {
    range[i] = ((range[i] as number) + Number(arg0)) & 0xff;
    sum = (sum + (range[i] as number)) >>> 0;
  }
  return sum;
};
// #endregion kernel

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('gpu descriptor queue', () => {
  it('copies RAM → VRAM, computes in VRAM, copies back, writing STATUS/RESULT and interrupting on IRQ descriptors', async () => {
    const log = recordingLogger();
    await using gpu = await createGpu({ vramSize: mib(4), kernels: { 1: addBytes, 3: () => 7 } });
    using d = await connect(new VfioUserServer(gpu.endpoint, { logger: log }), { bar0: BAR0, bar2: VRAM }, 1);
    using ram = SharedMemory.create('ram', 1 << 20);
    await d.client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.KERNELS)).toBe(0b1010);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.VERSION)).toBe(0x0002_0000);

    // #region queue
    const ringBytes = ram.bytes.subarray(0, 8 * GpuDesc.SIZE); // ring at RAM + 0
    const data = pattern(200_000, 5);
    ram.bytes.set(data, 0x1_0000);
    put(ringBytes, 0, { op: GpuOp.COPY, src: RAM + 0x1_0000n, dst: VRAM + 0x2000n, length: data.length });
    put(ringBytes, 64, { op: GpuOp.COMPUTE, kernel: 1, src: 0x2000n, length: data.length, arg0: 3n });
    put(ringBytes, 128, { op: GpuOp.COPY, flags: GpuDescFlags.IRQ, src: VRAM + 0x2000n, dst: RAM + 0x8_0000n, length: data.length });
    await initQueue(d, RAM, 8);
    await ring(d, 3);
    // #endregion queue

    const expected = data.map((b) => (b + 3) & 0xff);
    expect(Buffer.compare(ram.bytes.subarray(0x8_0000, 0x8_0000 + data.length), expected)).toBe(0);
    expect([0, 1, 2].map((i) => statusOf(ringBytes, i))).toEqual([GpuDescStatus.DONE, GpuDescStatus.DONE, GpuDescStatus.DONE]);
    expect(resultOf(ringBytes, 1)).toBe(expected.reduce((a, b) => a + b, 0));
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_DONE)).toBe(3);
    expect((await d.client.regionRead(RegionIndex.BAR0, GpuReg.CE_BYTES, 8)).readBigUInt64LE()).toBe(BigInt(2 * data.length));
    expect(d.irqs[0]!.drain()).toBe(1n); // only the flagged descriptor interrupts
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_STATUS)).toBe(0);
    expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);
  });

  it('a failed descriptor reports its errno and the queue goes on; a throwing kernel is a device bug (EIO)', async () => {
    const log = recordingLogger();
    const boom: GpuKernel = () => {
      throw new Error('kernel bug');
    };
    await using gpu = await createGpu({ vramSize: mib(2), kernels: { 0: boom, 1: addBytes } });
    using d = await connect(new VfioUserServer(gpu.endpoint, { logger: log }), { bar0: BAR0, bar2: VRAM }, 1);
    // The ring lives in VRAM itself: the engine reads it locally, the guest writes it through BAR2.
    const r = gpu.vram.subarray(0x10_0000, 0x10_0000 + 8 * GpuDesc.SIZE);
    put(r, 0, { op: GpuOp.COMPUTE, kernel: 9, length: 16 }); // no kernel 9
    put(r, 64, { op: GpuOp.COMPUTE, kernel: 1, src: BigInt(mib(2) - 8), length: 16 }); // runs off VRAM
    put(r, 128, { op: GpuOp.COPY, src: 0x9000_0000n, dst: VRAM, length: 64 }); // nothing mapped there
    put(r, 192, { op: GpuOp.COMPUTE, kernel: 0, length: 16 });
    put(r, 256, { op: 77 });
    put(r, 320, { op: GpuOp.COMPUTE, kernel: 1, src: 0n, length: 4, arg0: 1n });
    await initQueue(d, VRAM + 0x10_0000n, 8);
    await ring(d, 6);
    const errnos = [0, 1, 2, 3, 4].map((i) => {
      const s = statusOf(r, i);
      expect(s & 0xffff).toBe(GpuDescStatus.ERROR);
      return s >>> 16;
    });
    expect(errnos).toEqual([38, 22, 14, 5, 22]); // ENOSYS, EINVAL, EFAULT, EIO, EINVAL
    expect(statusOf(r, 5)).toBe(GpuDescStatus.DONE);
    expect([...gpu.vram.subarray(0, 4)]).toEqual([1, 1, 1, 1]);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_ERRORS)).toBe(5);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_STATUS)).toBe(QueueStatus.ERROR);
    await d.client.write32(RegionIndex.BAR0, GpuReg.Q_STATUS, QueueStatus.ERROR);
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_STATUS)).toBe(0);
    expect(log.entries.filter((e) => e.channel === 'device').map((e) => e.message)).toEqual([
      expect.stringMatching(/kernel 0 threw: kernel bug/),
    ]);
    expect(log.entries.filter((e) => e.channel === 'guest')).toHaveLength(5);

    await d.client.write32(RegionIndex.BAR0, GpuReg.Q_TAIL, 9); // outside the queue: refused
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_TAIL)).toBe(6);
    await d.client.reset(); // reset forgets the queue
    expect(await d.client.read32(RegionIndex.BAR0, GpuReg.Q_SIZE)).toBe(0);
    await expect(createGpu({ kernels: { 32: addBytes } })).rejects.toThrow(RangeError);
  });

  it('with ring and data in a peer BAR below the same switch, nothing crosses the upstream link', async () => {
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) =>
          rp.switch('sw0', (sw) => {
            sw.downstream('dn0').attach('gpu');
            sw.downstream('dn1').attach('store'); // stands in for an NVMe CMB
          }),
        )
        .build(),
    );
    await using gpu = await createGpu({ vramSize: mib(2), kernels: { 1: addBytes } });
    await using store = await createGpu({ vramSize: mib(2) });
    using fg = new FabricEndpoint(fabric, 'gpu', gpu.endpoint);
    using fs = new FabricEndpoint(fabric, 'store', store.endpoint);
    const STORE = 0x80_1000_0000n;
    using d = await connect(new VfioUserServer(fg), { bar0: BAR0, bar2: VRAM }, 1);
    using _s = await connect(new VfioUserServer(fs), { bar0: BAR0 + 0x10_0000n, bar2: STORE }, 1);
    const data = pattern(256 << 10, 1);
    store.vram.set(data, 0x1000);
    const r = store.vram.subarray(0x10_0000);
    put(r, 0, { op: GpuOp.COPY, src: STORE + 0x1000n, dst: VRAM, length: data.length });
    put(r, 64, { op: GpuOp.COMPUTE, kernel: 1, src: 0n, length: data.length, arg0: 2n });
    put(r, 128, { op: GpuOp.COPY, src: VRAM, dst: STORE + 0x8_0000n, length: data.length });
    await initQueue(d, STORE + 0x10_0000n, 4);
    await ring(d, 3);
    expect(
      Buffer.compare(
        store.vram.subarray(0x8_0000, 0x8_0000 + data.length),
        data.map((b) => (b + 2) & 0xff),
      ),
    ).toBe(0);
    const up = fabric.link('rp0');
    expect(up.upstream.bytes + up.downstream.bytes).toBe(0);
    const peer = fabric.link('dn1');
    expect(peer.upstream.bytes + peer.downstream.bytes).toBeGreaterThanOrEqual(2 * data.length);
  });
});

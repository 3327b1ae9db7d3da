import { recordingLogger } from '@p2pkit/base';
import { SharedMemory } from '@p2pkit/native';
import { RegionIndex, VfioUserServer } from '@p2pkit/vfio-user';
import { expect, it } from 'vitest';
import { cable, createNic, DESCRIPTOR_SIZE, DescFlags, NIC_ID, NicInt, NicReg, NicVector } from '../src/index.ts';
import { connect, RAM, until } from './harness.ts';

type Driver = Awaited<ReturnType<typeof connect>>;

/** Guest RAM layout of one NIC's driver: TX ring, RX ring, TX buffers, RX buffers (2 KiB each). */
const layout = (base: number) => ({ tx: base, rx: base + 0x1000, txBuf: base + 0x1_0000, rxBuf: base + 0x2_0000 });
const RING = 8;
const BUF = 2048;

function descriptor(ram: Uint8Array, ring: number, index: number) {
  return new DataView(ram.buffer, ram.byteOffset + ring + index * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE);
}

async function initRings(d: Driver, l: ReturnType<typeof layout>) {
  await d.wr64(NicReg.TX_BASE, RAM + BigInt(l.tx));
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_SIZE, RING);
  await d.wr64(NicReg.RX_BASE, RAM + BigInt(l.rx));
  await d.client.write32(RegionIndex.BAR0, NicReg.RX_SIZE, RING);
}

/** Posts RX buffers for descriptors [from, to) and moves RX_TAIL to `to`. */
async function postRx(d: Driver, ram: Uint8Array, l: ReturnType<typeof layout>, from: number, to: number) {
  for (let i = from; i < to; i++) {
    const v = descriptor(ram, l.rx, i % RING);
    v.setBigUint64(0, RAM + BigInt(l.rxBuf + (i % RING) * BUF), true);
    v.setUint16(8, BUF, true);
    v.setUint16(10, 0, true);
  }
  await d.client.write32(RegionIndex.BAR0, NicReg.RX_TAIL, to % RING);
}

/** Queues `frames` in TX descriptors [from, ...) and rings the TX doorbell. */
async function send(d: Driver, ram: Uint8Array, l: ReturnType<typeof layout>, from: number, frames: Uint8Array[]) {
  frames.forEach((f, k) => {
    const i = (from + k) % RING;
    ram.set(f, l.txBuf + i * BUF);
    const v = descriptor(ram, l.tx, i);
    v.setBigUint64(0, RAM + BigInt(l.txBuf + i * BUF), true);
    v.setUint16(8, f.length, true);
    v.setUint16(10, 0, true);
  });
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_TAIL, (from + frames.length) % RING);
}

const frame = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
const reg = (d: Driver, off: number) => d.client.read32(RegionIndex.BAR0, off);

it('two cabled NICs exchange frames by DMA through guest RAM, with RX/TX interrupts', async () => {
  const log = recordingLogger();
  await using a = await createNic();
  await using b = await createNic({ mac: '02:00:5e:10:20:30' });
  expect(b.mac).toBe('02:00:5e:10:20:30');
  expect(a.mac).toMatch(/^02:50:32:50:[0-9a-f]{2}:[0-9a-f]{2}$/);
  using da = await connect(new VfioUserServer(a.endpoint, { logger: log }), { bar0: 0xfe00_0000n }, 2);
  using db = await connect(new VfioUserServer(b.endpoint, { logger: log }), { bar0: 0xfe10_0000n }, 2);
  using ram = SharedMemory.create('ram', 1 << 20); // one guest, both NICs in it
  for (const d of [da, db]) await d.client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
  const [la, lb] = [layout(0), layout(0x4_0000)];

  expect((await da.client.read32(RegionIndex.CONFIG, 8)) >>> 8).toBe(0x020000);
  expect(await reg(da, NicReg.ID)).toBe(NIC_ID);
  expect(await reg(db, NicReg.MAC_LO)).toBe(0x105e0002);
  expect(await reg(db, NicReg.MAC_HI)).toBe(0x3020);
  expect(await reg(da, NicReg.MAC_LO)).toBe(0x50325002); // 02:50:32:50:xx:xx, locally administered
  expect(await reg(da, NicReg.LINK)).toBe(0);
  const unplug = cable(a, b);
  expect(await reg(da, NicReg.LINK)).toBe(1);
  expect(await reg(db, NicReg.LINK)).toBe(1);

  for (const [d, l] of [
    [da, la],
    [db, lb],
  ] as const)
    await initRings(d, l);
  await postRx(db, ram.bytes, lb, 0, 4); // B: 4 buffers (RX_TAIL = 4)
  await postRx(da, ram.bytes, la, 0, 2);

  // A → B: three frames in one doorbell.
  const frames = [frame(60, 1), frame(1514, 2), frame(333, 3)];
  await send(da, ram.bytes, la, 0, frames);
  await until(async () => (await reg(db, NicReg.RX_HEAD)) === 3 && (await reg(da, NicReg.TX_HEAD)) === 3, 'A → B');
  frames.forEach((f, i) => {
    const rx = descriptor(ram.bytes, lb.rx, i);
    expect(rx.getUint16(8, true)).toBe(f.length);
    expect(rx.getUint16(10, true)).toBe(DescFlags.DONE);
    expect(Buffer.compare(ram.bytes.subarray(lb.rxBuf + i * BUF, lb.rxBuf + i * BUF + f.length), f)).toBe(0);
    expect(descriptor(ram.bytes, la.tx, i).getUint16(10, true)).toBe(DescFlags.DONE);
  });
  expect(await reg(da, NicReg.TX_FRAMES)).toBe(3);
  expect(await reg(db, NicReg.RX_FRAMES)).toBe(3);
  expect(await reg(db, NicReg.INT_STATUS)).toBe(NicInt.RX);
  expect(await reg(da, NicReg.INT_STATUS)).toBe(NicInt.TX);
  const rxIrqsB = db.irqs[NicVector.RX]!.drain();
  expect(rxIrqsB).toBeGreaterThanOrEqual(1n);
  expect(rxIrqsB).toBeLessThanOrEqual(3n);
  expect(da.irqs[NicVector.TX]!.drain()).toBe(1n); // one batch
  expect(da.irqs[NicVector.RX]!.drain()).toBe(0n);
  expect(db.irqs[NicVector.TX]!.drain()).toBe(0n);
  await db.client.write32(RegionIndex.BAR0, NicReg.INT_STATUS, NicInt.RX);
  expect(await reg(db, NicReg.INT_STATUS)).toBe(0);

  // B → A: one frame back.
  const reply = frame(128, 7);
  await send(db, ram.bytes, lb, 0, [reply]);
  await until(async () => (await reg(da, NicReg.RX_HEAD)) === 1, 'B → A');
  expect(Buffer.compare(ram.bytes.subarray(la.rxBuf, la.rxBuf + reply.length), reply)).toBe(0);
  expect(da.irqs[NicVector.RX]!.drain()).toBe(1n);
  expect(db.irqs[NicVector.TX]!.drain()).toBe(1n);

  // A → B with one buffer left at B: the second frame is dropped, as on a wire.
  await send(da, ram.bytes, la, 3, [frame(100, 4), frame(100, 5)]);
  await until(async () => (await reg(da, NicReg.TX_HEAD)) === 5 && (await reg(db, NicReg.RX_DROPPED)) === 1, 'drop');
  expect(await reg(db, NicReg.RX_HEAD)).toBe(4);
  expect(await reg(db, NicReg.RX_FRAMES)).toBe(4);

  // Unplugged: link down, the TX descriptor completes with ERROR.
  unplug();
  expect(await reg(da, NicReg.LINK)).toBe(0);
  await send(da, ram.bytes, la, 5, [frame(64, 6)]);
  await until(async () => (await reg(da, NicReg.TX_HEAD)) === 6, 'link-down TX');
  expect(descriptor(ram.bytes, la.tx, 5).getUint16(10, true)).toBe(DescFlags.DONE | DescFlags.ERROR);
  expect(await reg(da, NicReg.TX_ERRORS)).toBe(1);
  expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);

  // A TX descriptor pointing at unmapped memory is the driver's mistake: ERROR flag and a guest-error line.
  cable(a, b);
  descriptor(ram.bytes, la.tx, 6).setBigUint64(0, 0x9000_0000n, true);
  descriptor(ram.bytes, la.tx, 6).setUint16(8, 64, true);
  await da.client.write32(RegionIndex.BAR0, NicReg.TX_TAIL, 7);
  await until(async () => (await reg(da, NicReg.TX_HEAD)) === 7, 'bad TX');
  expect(descriptor(ram.bytes, la.tx, 6).getUint16(10, true)).toBe(DescFlags.DONE | DescFlags.ERROR);
  expect(log.entries.filter((e) => e.channel === 'guest' && /nic: TX descriptor 6/.test(e.message))).toHaveLength(1);

  // Reset forgets rings and counters but keeps the cable and the MAC.
  await db.client.reset();
  expect(await reg(db, NicReg.RX_FRAMES)).toBe(0);
  expect(await reg(db, NicReg.LINK)).toBe(1);
  expect(await reg(db, NicReg.MAC_HI)).toBe(0x3020);
});

it('rejects MAC strings that are not six hex octets and objects that are not NICs', async () => {
  await expect(createNic({ mac: '02:00:00:00:00' })).rejects.toThrow(RangeError);
  await using x = await createNic();
  await using y = await createNic();
  expect(x.endpoint.handle.bar(0).size).toBe(0x4000);
  expect(() => cable(x, { handle: { ...x.endpoint.handle } })).toThrow(TypeError);
  cable(x, y);
  const link = (n: typeof x) => n.endpoint.regionRead(RegionIndex.BAR0, BigInt(NicReg.LINK), 4)[0];
  expect(link(y)).toBe(1);
  const mac = (n: typeof x) => n.endpoint.regionRead(RegionIndex.BAR0, BigInt(NicReg.MAC_LO), 8).slice(0, 6);
  expect(Buffer.compare(mac(x), mac(y))).not.toBe(0); // default MACs differ per instance
  expect(x.mac).not.toBe(y.mac);
  await x.close(); // closing one end unplugs the cable
  expect(link(y)).toBe(0);
});

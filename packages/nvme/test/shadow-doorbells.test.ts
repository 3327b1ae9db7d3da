import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/index.ts';
import { makeRig, QueuePair, type Rig } from './helpers.ts';

let rig: Rig;
afterEach(async () => rig?.cleanup());

async function withDbbuf(r: Rig): Promise<void> {
  const { drv } = r;
  await drv.enable();
  await drv.setFeature(7, 0x00030003);
  const db = drv.alloc(4096);
  const ei = drv.alloc(4096);
  expect((await drv.admin({ opcode: 0x7c, prp1: db + 8n, prp2: ei })).status).toBe(Status.InvalidField);
  expect((await drv.admin({ opcode: 0x7c, prp1: db, prp2: ei })).status).toBe(0);
  drv.shadow = { db: drv.ram.view(db, 4096), ei: drv.ram.view(ei, 4096), dbBus: db, eiBus: ei };
}

describe('Doorbell Buffer Config (shadow doorbells + EventIdx)', () => {
  it('lets the driver skip MMIO doorbells while the controller catches up', async () => {
    rig = await makeRig();
    const { drv, ctrl } = rig;
    await withDbbuf(rig);
    const p = await drv.createQueuePair(1, 64);
    const buf = drv.alloc(4096);
    const before = drv.mmioDoorbells;
    const cids: number[] = [];
    for (let i = 0; i < 8; i++) {
      cids.push(drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw10: i, cdw12: 0 }));
      await drv.ringSq(p);
    }
    for (const cid of cids) expect((await drv.take(1, cid)).status).toBe(0);
    const mmio = drv.mmioDoorbells - before;
    // One SQ doorbell for 8 commands, at most one CQ head doorbell for 8 completions.
    expect(mmio).toBeLessThanOrEqual(2);
    expect(ctrl.stats.shadowDoorbellHits).toBeGreaterThan(0);
    // EventIdx for SQ 1 now equals the consumed tail.
    expect(new DataView(drv.shadow!.ei.buffer, drv.shadow!.ei.byteOffset).getUint32(2 * 4, true)).toBe(8);
    // Sequential commands afterwards: the driver must ring each time, and all complete.
    for (let i = 0; i < 5; i++) expect((await drv.rw(1, 2, 1, 0n, 1, buf, 512)).status).toBe(0);
  });

  it('reads the shadow CQ head when the CQ is full', async () => {
    rig = await makeRig();
    const { drv, ctrl } = rig;
    await withDbbuf(rig);
    const cqBus = drv.alloc(64);
    expect((await drv.admin({ opcode: 5, prp1: cqBus, cdw10: (3 << 16) | 1, cdw11: (1 << 16) | 3 })).status).toBe(0);
    const sqBus = drv.alloc(16 * 64);
    expect((await drv.admin({ opcode: 1, prp1: sqBus, cdw10: (15 << 16) | 1, cdw11: (1 << 16) | 1 })).status).toBe(0);
    const p = new QueuePair(1, 16, { bus: sqBus, bytes: drv.ram.view(sqBus, 1024) }, { bus: cqBus, bytes: drv.ram.view(cqBus, 64) }, 4);
    drv.pairs.set(1, p);
    const buf = drv.alloc(4096);
    const cids: number[] = [];
    for (let i = 0; i < 10; i++) cids.push(drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 }));
    await drv.ringSq(p);
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await drv.reap(1)).cid);
    expect(got.sort((a, b) => a - b)).toEqual(cids);
    expect(ctrl.stats.completionQueueFullStalls).toBeGreaterThan(0);
  });

  it('ignores a posted CQ head doorbell that a shadow-buffer update already overtook (no spurious error)', async () => {
    rig = await makeRig();
    const { drv, host } = rig;
    await withDbbuf(rig);
    const errorsBefore = host.guestErrors.length; // withDbbuf provokes one on purpose
    const cqBus = drv.alloc(8 * 16);
    expect((await drv.admin({ opcode: 5, prp1: cqBus, cdw10: (7 << 16) | 1, cdw11: (1 << 16) | 3 })).status).toBe(0);
    const sqBus = drv.alloc(16 * 64);
    expect((await drv.admin({ opcode: 1, prp1: sqBus, cdw10: (15 << 16) | 1, cdw11: (1 << 16) | 1 })).status).toBe(0);
    const p = new QueuePair(1, 16, { bus: sqBus, bytes: drv.ram.view(sqBus, 1024) }, { bus: cqBus, bytes: drv.ram.view(cqBus, 128) }, 8);
    drv.pairs.set(1, p);
    const buf = drv.alloc(4096);
    // 8 commands into a CQ with 7 usable slots: the 8th completion waits for room.
    for (let i = 0; i < 8; i++) drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await drv.ringSq(p);
    for (let i = 0; i < 7; i++) await drv.reap(1, 3000, false);
    // The guest publishes head=7 in the shadow buffer; a 9th command makes the controller look at it.
    const slot = (2 * 1 + 1) * 4;
    new DataView(drv.shadow!.db.buffer, drv.shadow!.db.byteOffset).setUint32(slot, 7, true);
    drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await drv.ringSq(p);
    await drv.reap(1, 3000, false);
    await drv.reap(1, 3000, false);
    // A posted MMIO head write of an older value (2) arrives only now: stale, not a driver error.
    await drv.write32(0x1000 + slot, 2);
    expect(host.guestErrors.slice(errorsBefore)).toEqual([]);
    // The real update for the two entries just reaped is still taken (head 7 → 1, the tail).
    await drv.write32(0x1000 + slot, 1);
    for (let i = 0; i < 7; i++) drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await drv.ringSq(p);
    for (let i = 0; i < 7; i++) expect((await drv.reap(1, 3000, false)).status).toBe(0);
    expect(host.guestErrors.slice(errorsBefore)).toEqual([]);
  });

  it('is not offered with doorbellStrategy "mmio"', async () => {
    rig = await makeRig({ doorbellStrategy: 'mmio' });
    const { drv } = rig;
    await drv.enable();
    const id = await drv.identify(1);
    expect(new DataView(id.data.buffer).getUint16(256, true) & 0x100).toBe(0);
    expect((await drv.admin({ opcode: 0x7c, prp1: drv.alloc(4096), prp2: drv.alloc(4096) })).status).toBe(Status.InvalidOpcode);
  });
});

import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IoOpcode, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

async function withDbbuf(r: NvmeHarness): Promise<void> {
  const { driver } = r;
  await driver.enable();
  await driver.setFeatures(7, 0x00030003);
  const db = driver.memory.alloc(4096);
  const ei = driver.memory.alloc(4096);
  expect((await driver.admin({ opcode: 0x7c, prp1: db + 8n, prp2: ei })).status).toBe(Status.InvalidField);
  await driver.configureShadowDoorbells();
}

describe('Doorbell Buffer Config (shadow doorbells + EventIdx)', () => {
  it('lets the driver skip MMIO doorbells while the controller catches up', async () => {
    // In-memory transport: each REGION_WRITE reply arrives on a microtask, before the controller's
    // queue processing (setImmediate), so the 8 submissions land while the controller is behind.
    // Over a socket the reply waits for the event loop's poll phase and the controller catches up first.
    rig = await startNvmeHarness({ transport: 'memory' });
    const { driver, controller } = rig;
    await withDbbuf(rig);
    await driver.createQueuePair(1, 64);
    const buf = driver.memory.alloc(4096);
    const before = driver.mmioDoorbellWrites;
    const cids: number[] = [];
    for (let i = 0; i < 8; i++) {
      cids.push(driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw10: i, cdw12: 0 }));
      await driver.ringSqTail(1);
    }
    for (const cid of cids) expect((await driver.waitForCompletion(1, cid)).status).toBe(0);
    const mmio = driver.mmioDoorbellWrites - before;
    // One SQ doorbell for 8 commands, at most one CQ head doorbell for 8 completions.
    expect(mmio).toBeLessThanOrEqual(2);
    expect(controller.stats.shadowDoorbellHits).toBeGreaterThan(0);
    // EventIdx for SQ 1 now equals the consumed tail.
    expect(driver.shadowDoorbells!.eventIndex(2)).toBe(8);
    // Sequential commands afterwards: the driver must ring each time, and all complete.
    for (let i = 0; i < 5; i++)
      expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
  });

  it('reads the shadow CQ head when the CQ is full', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await withDbbuf(rig);
    await driver.createQueuePair(1, 16, { completionEntries: 4 });
    const buf = driver.memory.alloc(4096);
    const cids: number[] = [];
    for (let i = 0; i < 10; i++) cids.push(driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 }));
    await driver.ringSqTail(1);
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await driver.reap(1)).cid);
    expect(got.sort((a, b) => a - b)).toEqual(cids);
    expect(controller.stats.completionQueueFullStalls).toBeGreaterThan(0);
  });

  it('ignores a posted CQ head doorbell that a shadow-buffer update already overtook (no spurious error)', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await withDbbuf(rig);
    const errorsBefore = rig.guestErrors.length; // withDbbuf provokes one on purpose
    await driver.createQueuePair(1, 16, { completionEntries: 8 });
    const buf = driver.memory.alloc(4096);
    // 8 commands into a CQ with 7 usable slots: the 8th completion waits for room.
    for (let i = 0; i < 8; i++) driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await driver.ringSqTail(1);
    for (let i = 0; i < 7; i++) await driver.reap(1, { ringCqHead: false });
    // The guest publishes head=7 in the shadow buffer; a 9th command makes the controller look at it.
    const cqHeadDoorbell = 2 * 1 + 1;
    const slot = cqHeadDoorbell * 4;
    driver.shadowDoorbells!.setDoorbell(cqHeadDoorbell, 7);
    driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await driver.ringSqTail(1);
    await driver.reap(1, { ringCqHead: false });
    await driver.reap(1, { ringCqHead: false });
    // A posted MMIO head write of an older value (2) arrives only now: stale, not a driver error.
    await driver.write32(0x1000 + slot, 2);
    expect(rig.guestErrors.slice(errorsBefore)).toEqual([]);
    // The real update for the two entries just reaped is still taken (head 7 → 1, the tail).
    await driver.write32(0x1000 + slot, 1);
    for (let i = 0; i < 7; i++) driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
    await driver.ringSqTail(1);
    for (let i = 0; i < 7; i++) expect((await driver.reap(1, { ringCqHead: false })).status).toBe(0);
    expect(rig.guestErrors.slice(errorsBefore)).toEqual([]);
  });

  it('is not offered with doorbellStrategy "mmio"', async () => {
    rig = await startNvmeHarness({ doorbellStrategy: 'mmio' });
    const { driver } = rig;
    await driver.enable();
    const id = await driver.identify(1);
    expect(new DataView(id.data.buffer).getUint16(256, true) & 0x100).toBe(0);
    expect((await driver.admin({ opcode: 0x7c, prp1: driver.memory.alloc(4096), prp2: driver.memory.alloc(4096) })).status).toBe(
      Status.InvalidOpcode,
    );
  });
});

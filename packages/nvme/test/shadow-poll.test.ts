import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, type QueuePair, type Rig, sleep } from './helpers.ts';

let rig: Rig;
afterEach(async () => rig?.cleanup());

/** Enable, 4 I/O queue pairs allowed, Doorbell Buffer Config (as Linux's nvme_dbbuf_set). */
async function withDbbuf(r: Rig): Promise<void> {
  const { drv } = r;
  await drv.enable();
  expect((await drv.setFeature(7, 0x00030003)).status).toBe(0);
  const db = drv.alloc(4096);
  const ei = drv.alloc(4096);
  expect((await drv.admin({ opcode: 0x7c, prp1: db, prp2: ei })).status).toBe(0);
  drv.shadow = { db: drv.ram.view(db, 4096), ei: drv.ram.view(ei, 4096), dbBus: db, eiBus: ei };
}

const sqEventIdx = (r: Rig, qid: number) => new DataView(r.drv.shadow!.ei.buffer, r.drv.shadow!.ei.byteOffset).getUint32(2 * qid * 4, true);

describe("doorbellStrategy 'shadow-poll' (shadow doorbells + adaptive polling)", () => {
  it('advertises Doorbell Buffer Config', async () => {
    rig = await makeRig({ doorbellStrategy: 'shadow-poll' });
    await rig.drv.enable();
    const id = await rig.drv.identify(1);
    expect(new DataView(id.data.buffer).getUint16(256, true) & 0x100).toBe(0x100);
  });

  it('completes bursts with at most one MMIO doorbell while the controller polls', async () => {
    // A generous idle threshold: on a loaded CI machine a gap between two submissions can exceed
    // the default 10 ms, and a legitimate stop would then (correctly) cost one more doorbell.
    rig = await makeRig({ doorbellStrategy: 'shadow-poll', shadowPoll: { idleStopUs: 1_000_000 } });
    const { drv, ctrl } = rig;
    await withDbbuf(rig);
    const p = await drv.createQueuePair(1, 128);
    const buf = drv.alloc(4096);
    const before = drv.mmioDoorbells;
    const doorbellsBefore = ctrl.stats.doorbellWrites;
    for (let burst = 0; burst < 2; burst++) {
      const cids: number[] = [];
      // Every submission goes through nvme_dbbuf_update_and_check_event (Driver.ringSq).
      for (let i = 0; i < 48; i++) {
        cids.push(drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw10: i, cdw12: 0 }));
        await drv.ringSq(p);
      }
      for (const cid of cids) expect((await drv.take(1, cid)).status).toBe(0);
      await sleep(2); // a pause shorter than idleStopUs: still polling
    }
    expect(drv.mmioDoorbells - before).toBeLessThanOrEqual(1);
    expect(ctrl.stats.doorbellWrites - doorbellsBefore).toBeLessThanOrEqual(1);
    expect(ctrl.stats.shadowPolls).toBeGreaterThan(0);
    expect(ctrl.stats.shadowDoorbellHits).toBeGreaterThan(0);
    // While polling, EventIdx sits one behind the consumed tail (96).
    expect(sqEventIdx(rig, 1)).toBe(95);
  });

  it('stops polling when idle; the next command rings the MMIO doorbell and completes', async () => {
    rig = await makeRig({ doorbellStrategy: 'shadow-poll', shadowPoll: { idleStopUs: 10_000 } });
    const { drv, ctrl } = rig;
    await withDbbuf(rig);
    const p = await drv.createQueuePair(1, 16);
    const buf = drv.alloc(4096);
    for (let round = 0; round < 3; round++) {
      const stopsBefore = ctrl.stats.shadowPollStops;
      for (let i = 0; i < 5; i++) expect((await drv.rw(1, 2, 1, BigInt(i), 1, buf, 512)).status).toBe(0);
      await sleep(60); // > idleStopUs + maxIntervalUs
      // At least this idle period stopped polling (a loaded machine may add stops between commands).
      expect(ctrl.stats.shadowPollStops).toBeGreaterThan(stopsBefore);
      // EventIdx = tail: the driver's next update must ring.
      expect(sqEventIdx(rig, 1)).toBe(p.sqTail);
      const polls = ctrl.stats.shadowPolls;
      await sleep(20);
      expect(ctrl.stats.shadowPolls).toBe(polls); // no timer runs while idle
      const mmio = drv.mmioDoorbells;
      const cid = drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
      await drv.ringSq(p);
      expect(drv.mmioDoorbells - mmio).toBe(1);
      expect((await drv.take(1, cid)).status).toBe(0);
    }
  });

  it('stress: random bursts and pauses on two queues complete every command exactly once', async () => {
    rig = await makeRig({ doorbellStrategy: 'shadow-poll', shadowPoll: { minIntervalUs: 50, maxIntervalUs: 2000, idleStopUs: 5000 } });
    const { drv, ctrl, host } = rig;
    await withDbbuf(rig);
    const pairs = [await drv.createQueuePair(1, 16), await drv.createQueuePair(2, 32)];
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const end = Date.now() + 2000;
    let submitted = 0;
    let completed = 0;
    const run = async (p: QueuePair) => {
      const buf = drv.alloc(4096);
      const outstanding = new Set<number>();
      const reapSome = async (all: boolean) => {
        while (outstanding.size > 0 && (all || drv.posted(p.qid))) {
          const c = await drv.reap(p.qid, 3000);
          expect(c.status).toBe(0);
          expect(outstanding.delete(c.cid), `cid ${c.cid} on SQ ${p.qid} completed twice or never submitted`).toBe(true);
          completed++;
        }
      };
      while (Date.now() < end) {
        const n = 1 + rand(Math.min(12, p.size - 2 - outstanding.size));
        for (let i = 0; i < n; i++) {
          const cid = drv.place(p.qid, { opcode: rand(4) === 0 ? 0 : 2, nsid: 1, prp1: buf, cdw10: rand(1000), cdw12: 0 });
          outstanding.add(cid);
          submitted++;
          if (rand(2) === 0) await drv.ringSq(p);
        }
        await drv.ringSq(p);
        await reapSome(outstanding.size > p.size - 8);
        const pause = rand(6);
        if (pause === 0) await new Promise((r) => setImmediate(r));
        else if (pause <= 2) await sleep(rand(3));
        else if (pause === 3)
          await sleep(5 + rand(10)); // around idleStopUs + maxIntervalUs
        else if (pause === 4) await reapSome(true);
      }
      await reapSome(true);
      await sleep(20);
      expect(drv.posted(p.qid), `spurious CQE on queue ${p.qid}`).toBe(false);
    };
    await Promise.all(pairs.map(run));
    expect(completed).toBe(submitted);
    expect(submitted).toBeGreaterThan(200);
    expect(ctrl.stats.shadowPollStops).toBeGreaterThan(0);
    expect(host.guestErrors).toEqual([]);
  });
});

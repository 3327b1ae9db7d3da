import { setTimeout as sleep } from 'node:timers/promises';
import { type NvmeHarness, type QueuePair, ShadowDoorbellBuffers, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IoOpcode } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

/** Enable, 4 I/O queue pairs allowed, Doorbell Buffer Config (as Linux's nvme_dbbuf_set). */
async function withDbbuf(r: NvmeHarness): Promise<void> {
  const { driver } = r;
  await driver.enable();
  expect((await driver.setFeatures(7, 0x00030003)).status).toBe(0);
  await driver.configureShadowDoorbells();
}

const sqEventIdx = (r: NvmeHarness, qid: number) => r.driver.shadowDoorbells!.eventIndex(ShadowDoorbellBuffers.index(qid, false));

describe("doorbellStrategy 'shadow-poll' (shadow doorbells + adaptive polling)", () => {
  it('advertises Doorbell Buffer Config', async () => {
    rig = await startNvmeHarness({ doorbellStrategy: 'shadow-poll' });
    await rig.driver.enable();
    const id = await rig.driver.identify(1);
    expect(new DataView(id.data.buffer).getUint16(256, true) & 0x100).toBe(0x100);
  });

  it('completes bursts with at most one MMIO doorbell while the controller polls', async () => {
    // A generous idle threshold: on a loaded CI machine a gap between two submissions can exceed
    // the default 10 ms, and a legitimate stop would then (correctly) cost one more doorbell.
    rig = await startNvmeHarness({ doorbellStrategy: 'shadow-poll', shadowPoll: { idleStopUs: 1_000_000 } });
    const { driver, controller } = rig;
    await withDbbuf(rig);
    const p = await driver.createQueuePair(1, 128);
    const buf = driver.memory.alloc(4096);
    const before = driver.mmioDoorbellWrites;
    const doorbellsBefore = controller.stats.doorbellWrites;
    for (let burst = 0; burst < 2; burst++) {
      const cids: number[] = [];
      // Every submission goes through nvme_dbbuf_update_and_check_event (Driver.ringSq).
      for (let i = 0; i < 48; i++) {
        cids.push(driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw10: i, cdw12: 0 }));
        await driver.ringSqTail(p.qid);
      }
      for (const cid of cids) expect((await driver.waitForCompletion(1, cid)).status).toBe(0);
      await sleep(2); // a pause shorter than idleStopUs: still polling
    }
    expect(driver.mmioDoorbellWrites - before).toBeLessThanOrEqual(1);
    expect(controller.stats.doorbellWrites - doorbellsBefore).toBeLessThanOrEqual(1);
    expect(controller.stats.shadowPolls).toBeGreaterThan(0);
    expect(controller.stats.shadowDoorbellHits).toBeGreaterThan(0);
    // While polling, EventIdx sits one behind the consumed tail (96).
    expect(sqEventIdx(rig, 1)).toBe(95);
  });

  it('keeps polling on the next loop turns until the delay has passed, not for a number of polls', async () => {
    // 400 µs doubling to 1000: polls on the next loop turns for 400 + 800 µs after the last activity,
    // then once per millisecond. A backoff counting polls would reach the 1 ms timer after two idle
    // polls (a few loop turns), and a submission in that quiet gap would wait for the timer.
    rig = await startNvmeHarness({
      doorbellStrategy: 'shadow-poll',
      shadowPoll: { minIntervalUs: 400, maxIntervalUs: 1000, idleStopUs: 1_000_000 },
    });
    const { driver, controller } = rig;
    await withDbbuf(rig);
    const p = await driver.createQueuePair(1, 16);
    const buf = driver.memory.alloc(4096);
    const trials: { turns: number; polls: number }[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const cid = driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
      await driver.ringSqTail(p.qid);
      expect((await driver.waitForCompletion(1, cid)).status).toBe(0); // activity: the delay is back at 400 µs
      // A 600 µs quiet gap, one loop turn at a time; a poll takes two turns (the poll, then its drain).
      const polls = controller.stats.shadowPolls;
      const quiet = performance.now();
      let turns = 0;
      for (; performance.now() - quiet < 0.6; turns++) await new Promise((r) => setImmediate(r));
      trials.push({ turns, polls: controller.stats.shadowPolls - polls });
    }
    // The trial with the most loop turns (a loaded machine may stretch some).
    const best = trials.reduce((a, b) => (b.turns > a.turns ? b : a));
    expect(best.turns, JSON.stringify(trials)).toBeGreaterThanOrEqual(8);
    expect(best.polls, JSON.stringify(trials)).toBeGreaterThanOrEqual(Math.floor(best.turns / 2) - 2);
  });

  it('stops polling when idle; the next command rings the MMIO doorbell and completes', async () => {
    rig = await startNvmeHarness({ doorbellStrategy: 'shadow-poll', shadowPoll: { idleStopUs: 10_000 } });
    const { driver, controller } = rig;
    await withDbbuf(rig);
    const p = await driver.createQueuePair(1, 16);
    const buf = driver.memory.alloc(4096);
    for (let round = 0; round < 3; round++) {
      const stopsBefore = controller.stats.shadowPollStops;
      for (let i = 0; i < 5; i++)
        expect(
          (await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: BigInt(i), blocks: 1, buffer: buf, bytes: 512 })).status,
        ).toBe(0);
      await sleep(60); // > idleStopUs + maxIntervalUs
      // At least this idle period stopped polling (a loaded machine may add stops between commands).
      expect(controller.stats.shadowPollStops).toBeGreaterThan(stopsBefore);
      // EventIdx = tail: the driver's next update must ring.
      expect(sqEventIdx(rig, 1)).toBe(p.sqTail);
      const polls = controller.stats.shadowPolls;
      await sleep(20);
      expect(controller.stats.shadowPolls).toBe(polls); // no timer runs while idle
      const mmio = driver.mmioDoorbellWrites;
      const cid = driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 });
      await driver.ringSqTail(p.qid);
      expect(driver.mmioDoorbellWrites - mmio).toBe(1);
      expect((await driver.waitForCompletion(1, cid)).status).toBe(0);
    }
  });

  it('stress: random bursts and pauses on two queues complete every command exactly once', async () => {
    rig = await startNvmeHarness({
      doorbellStrategy: 'shadow-poll',
      shadowPoll: { minIntervalUs: 50, maxIntervalUs: 2000, idleStopUs: 5000 },
    });
    const { driver, controller } = rig;
    await withDbbuf(rig);
    const pairs = [await driver.createQueuePair(1, 16), await driver.createQueuePair(2, 32)];
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
      const buf = driver.memory.alloc(4096);
      const outstanding = new Set<number>();
      const reapSome = async (all: boolean) => {
        while (outstanding.size > 0 && (all || driver.hasCompletion(p.qid))) {
          const c = await driver.reap(p.qid);
          expect(c.status).toBe(0);
          expect(outstanding.delete(c.cid), `cid ${c.cid} on SQ ${p.qid} completed twice or never submitted`).toBe(true);
          completed++;
        }
      };
      while (Date.now() < end) {
        const n = 1 + rand(Math.min(12, p.submissionEntries - 2 - outstanding.size));
        for (let i = 0; i < n; i++) {
          const cid = driver.enqueue(p.qid, { opcode: rand(4) === 0 ? 0 : 2, nsid: 1, prp1: buf, cdw10: rand(1000), cdw12: 0 });
          outstanding.add(cid);
          submitted++;
          if (rand(2) === 0) await driver.ringSqTail(p.qid);
        }
        await driver.ringSqTail(p.qid);
        await reapSome(outstanding.size > p.submissionEntries - 8);
        const pause = rand(6);
        if (pause === 0) await new Promise((r) => setImmediate(r));
        else if (pause <= 2) await sleep(rand(3));
        else if (pause === 3)
          await sleep(5 + rand(10)); // around idleStopUs + maxIntervalUs
        else if (pause === 4) await reapSome(true);
      }
      await reapSome(true);
      await sleep(20);
      expect(driver.hasCompletion(p.qid), `spurious CQE on queue ${p.qid}`).toBe(false);
    };
    await Promise.all(pairs.map(run));
    expect(completed).toBe(submitted);
    expect(submitted).toBeGreaterThan(200);
    expect(controller.stats.shadowPollStops).toBeGreaterThan(0);
    expect(rig.guestErrors).toEqual([]);
  });
});

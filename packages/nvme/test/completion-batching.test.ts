/**
 * Commands fetched together complete as a batch (one CQ pass, one interrupt), but a batch that has
 * run for `completionBatchUs` posts what it has so far before its next command, so the host can
 * work on long commands' completions while the rest of the batch runs.
 */
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/index.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** A vendor I/O command (no data) that keeps the event loop busy for `ms`, as a large transfer does. */
const SLOW = 0x80;

/**
 * Submits `n` slow commands with one doorbell. Returns the interrupts vector 1 received and, per
 * command, whether the host could already see the previous command's completion when it started.
 */
async function slowBatch(r: NvmeHarness, n: number, ms: number): Promise<{ interrupts: number; earlierVisible: boolean[] }> {
  const { controller, driver, interrupts } = r;
  const earlierVisible: boolean[] = [];
  controller.registerIoCommand(
    SLOW,
    (ctx) => {
      if (ctx.entry.cdw10 > 0) earlierVisible.push(driver.hasCompletion(1));
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // Busy on purpose: a synchronous handler, like the zero-copy Read of a large transfer.
      }
      return {};
    },
    { name: 'slow', replace: true },
  );
  await driver.bringUp();
  interrupts.clear();
  const cids = Array.from({ length: n }, (_, i) => driver.enqueue(1, { opcode: SLOW, nsid: 1, cdw10: i }));
  await driver.ringSqTail(1);
  for (const cid of cids) expect((await driver.waitForCompletion(1, cid)).status).toBe(Status.Success);
  return { interrupts: interrupts.count(1), earlierVisible };
}

describe('completion batching', () => {
  it('a batch shorter than completionBatchUs posts once, with one interrupt', async () => {
    rig = await startNvmeHarness({ completionBatchUs: 10_000_000 });
    const { interrupts, earlierVisible } = await slowBatch(rig, 6, 2);
    expect(earlierVisible).toEqual([false, false, false, false, false]);
    expect(interrupts).toBe(1);
    expect(rig.controller.stats.completionsPosted).toBeGreaterThanOrEqual(6);
  });

  it('a longer batch posts as it goes: each completion is visible before the next command runs', async () => {
    rig = await startNvmeHarness({ completionBatchUs: 1000 });
    const { interrupts, earlierVisible } = await slowBatch(rig, 6, 2);
    expect(earlierVisible).toEqual([true, true, true, true, true]);
    expect(interrupts).toBe(6);
  });

  it('rejects a negative or non-finite completionBatchUs', async () => {
    await expect(startNvmeHarness({ completionBatchUs: -1 })).rejects.toThrow(/completionBatchUs/);
    await expect(startNvmeHarness({ completionBatchUs: Number.NaN })).rejects.toThrow(/completionBatchUs/);
  });
});

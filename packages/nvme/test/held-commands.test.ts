/**
 * stats.ioHeldMicros: the time I/O commands spend inside the controller, fetch to completion entry,
 * summed over commands — what the benchmark turns into "how many of the host's I/Os the controller
 * holds" (Little's law).
 */
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/index.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const WAIT = 0x80;
const BUSY = 0x81;
const NOOP = 0x82;

async function run(r: NvmeHarness, opcode: number, n: number): Promise<number> {
  await r.driver.bringUp();
  const before = r.controller.stats.ioHeldMicros;
  const start = performance.now();
  const cids = Array.from({ length: n }, () => r.driver.enqueue(1, { opcode, nsid: 1 }));
  await r.driver.ringSqTail(1);
  for (const cid of cids) expect((await r.driver.waitForCompletion(1, cid)).status).toBe(Status.Success);
  const wallUs = (performance.now() - start) * 1000;
  const held = r.controller.stats.ioHeldMicros - before;
  // Never more than every command held for the whole run.
  expect(held).toBeLessThanOrEqual(n * wallUs);
  return held;
}

describe('ioHeldMicros', () => {
  it('counts each asynchronous command from fetch until its completion is posted', async () => {
    rig = await startNvmeHarness();
    rig.controller.registerIoCommand(WAIT, () => new Promise((resolve) => setTimeout(() => resolve({}), 20)), {
      name: 'wait',
      replace: true,
    });
    const held = await run(rig, WAIT, 4);
    // Four commands in flight together, each held at least its 20 ms.
    expect(held).toBeGreaterThanOrEqual(4 * 19_000);
  });

  it('a command finished early in a batch is held until the batch posts', async () => {
    rig = await startNvmeHarness({ completionBatchUs: 10_000_000 });
    rig.controller.registerIoCommand(
      BUSY,
      () => {
        const until = performance.now() + 2;
        while (performance.now() < until) {
          // Busy on purpose: a synchronous handler.
        }
        return {};
      },
      { name: 'busy', replace: true },
    );
    const held = await run(rig, BUSY, 6);
    // All six post at the batch's end (~12 ms): the first is held ~12 ms, the last ~2 ms — 42 ms in all.
    expect(held).toBeGreaterThanOrEqual(0.9 * 2000 * (6 + 5 + 4 + 3 + 2 + 1));
  });

  it('stops counting at a controller reset', async () => {
    rig = await startNvmeHarness();
    rig.controller.registerIoCommand(WAIT, () => new Promise(() => {}), { name: 'never', replace: true });
    rig.controller.registerIoCommand(NOOP, () => ({}), { name: 'noop', replace: true });
    await rig.driver.bringUp();
    rig.driver.enqueue(1, { opcode: WAIT, nsid: 1 });
    await rig.driver.ringSqTail(1);
    await new Promise((r) => setTimeout(r, 5));
    await rig.driver.enable(); // disables (resets) the enabled controller first
    const afterReset = rig.controller.stats.ioHeldMicros;
    expect(afterReset).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 30));
    // One quick command after the reset: the abandoned one (never completed) adds nothing.
    const held = await run(rig, NOOP, 1);
    expect(held).toBeLessThan(10_000);
    expect(rig.controller.stats.ioHeldMicros - afterReset).toBe(held);
  });
});

/**
 * Interrupt Coalescing (Feature 08h) and Interrupt Vector Configuration (Feature 09h): the values
 * the host reads back, and the MSI-X signals a host actually receives.
 */
import { type NvmeHarness, startNvmeHarness, waitUntil } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FeatureId, IoOpcode, Status } from '../src/index.ts';
import { InterruptController } from '../src/interrupts.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await rig?.close();
  rig = undefined;
});

/** THR (0's based entries) in bits 7:0, TIME (100 µs units) in bits 15:8. */
const coalescing = (thr: number, time: number) => thr | (time << 8);

describe('InterruptController coalescing rules', () => {
  it('counts completion entries, not postings, against THR', () => {
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 4);
    irq.setCoalescing(7, 255);
    irq.notify(1, 5);
    expect(fired).toEqual([]);
    irq.notify(1, 3); // 8 entries: THR + 1
    expect(fired).toEqual([1]);
    irq.reset();
  });

  it('THR 0 or TIME 0 disables coalescing (§5.27.1.8)', () => {
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 4);
    irq.setCoalescing(9, 0);
    irq.notify(1);
    irq.setCoalescing(0, 200);
    irq.notify(2);
    expect(fired).toEqual([1, 2]);
  });

  it('signals a lone completion no later than TIME', () => {
    vi.useFakeTimers();
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 4);
    for (const time of [1, 15, 20, 25, 50, 255]) {
      fired.length = 0;
      irq.setCoalescing(255, time);
      irq.notify(1);
      expect(fired).toEqual([]); // aggregating
      vi.advanceTimersByTime((time * 100) / 1000);
      expect(fired, `TIME ${time}`).toEqual([1]);
    }
  });

  it('a masked vector keeps its coalesced interrupt until INTMC', () => {
    vi.useFakeTimers();
    const fired: number[] = [];
    const irq = new InterruptController((v) => fired.push(v), 4);
    irq.setCoalescing(255, 50);
    irq.setMask(1 << 1);
    irq.notify(1);
    vi.advanceTimersByTime(5);
    expect(fired).toEqual([]);
    irq.clearMask(1 << 1);
    expect(fired).toEqual([1]);
  });
});

describe('Interrupt Coalescing through the host driver', () => {
  /**
   * A harness whose read completions wait at a gate: `release()` lets one through per event-loop
   * turn, so each is posted on its own (without coalescing, each would be its own interrupt).
   */
  async function gatedRig(): Promise<{ r: NvmeHarness; held: (() => void)[]; releaseOneByOne(): Promise<void> }> {
    const r = await startNvmeHarness();
    const held: (() => void)[] = [];
    r.controller.intercept(async (ctx, next) => {
      const outcome = await next();
      if (ctx.entry.opcode === IoOpcode.Read) await new Promise<void>((resolve) => held.push(resolve));
      return outcome;
    });
    const releaseOneByOne = async () => {
      while (held.length > 0) {
        (held.shift() as () => void)();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    return { r, held, releaseOneByOne };
  }

  /** Submits `n` 512-byte reads at once, releases their completions one by one, reaps them all. */
  async function readBatch(g: Awaited<ReturnType<typeof gatedRig>>, n: number): Promise<void> {
    const { driver } = g.r;
    const buf = driver.memory.alloc(4096);
    const cids = Array.from({ length: n }, (_, i) => driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf, cdw10: i }));
    await driver.ringSqTail(1);
    await waitUntil(() => g.held.length === n, `${n} reads held at the gate`);
    await g.releaseOneByOne();
    for (const cid of cids) expect((await driver.waitForCompletion(1, cid)).status).toBe(Status.Success);
  }

  it('Get/Set Features 08h and 09h: values, defaults, CD bit per vector, invalid vectors', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.bringUp();
    expect((await driver.getFeatures(FeatureId.InterruptCoalescing)).dw0).toBe(0);
    expect((await driver.setFeatures(FeatureId.InterruptCoalescing, coalescing(7, 50))).status).toBe(Status.Success);
    expect((await driver.getFeatures(FeatureId.InterruptCoalescing)).dw0).toBe(coalescing(7, 50));
    expect((await driver.getFeatures(FeatureId.InterruptCoalescing, 1)).dw0).toBe(0); // default
    expect((await driver.getFeatures(FeatureId.InterruptVectorConfig, 0, 1)).dw0).toBe(1); // CD clear
    expect((await driver.setFeatures(FeatureId.InterruptVectorConfig, 1 | (1 << 16))).status).toBe(Status.Success);
    expect((await driver.getFeatures(FeatureId.InterruptVectorConfig, 0, 1)).dw0).toBe(1 | (1 << 16));
    expect((await driver.getFeatures(FeatureId.InterruptVectorConfig, 0, 2)).dw0).toBe(2); // other vectors untouched
    expect((await driver.setFeatures(FeatureId.InterruptVectorConfig, 0xffff)).status).toBe(Status.InvalidField);
    // A Controller Level Reset restores both features.
    await driver.enable();
    expect((await driver.getFeatures(FeatureId.InterruptCoalescing)).dw0).toBe(0);
    expect((await driver.getFeatures(FeatureId.InterruptVectorConfig, 0, 1)).dw0).toBe(1);
  });

  it('8 completions posted one by one: 8 interrupts without coalescing, 1 with THR = 7', async () => {
    const g = await gatedRig();
    rig = g.r;
    const { driver, interrupts } = g.r;
    await driver.bringUp();
    interrupts.clear();
    await readBatch(g, 8);
    expect(interrupts.count(1)).toBe(8);

    expect((await driver.setFeatures(FeatureId.InterruptCoalescing, coalescing(7, 255))).status).toBe(Status.Success);
    interrupts.clear();
    await readBatch(g, 8);
    // All 8 are posted within a few event-loop turns, well inside TIME (25.5 ms): one interrupt,
    // a second only if this process stalled for longer than TIME in between.
    expect(interrupts.count(1)).toBeGreaterThanOrEqual(1);
    expect(interrupts.count(1)).toBeLessThanOrEqual(2);
  });

  it('a lone completion below THR is still signalled (TIME expires); the admin CQ is never coalesced', async () => {
    rig = await startNvmeHarness();
    const { driver, interrupts } = rig;
    await driver.bringUp();
    await driver.setFeatures(FeatureId.InterruptCoalescing, coalescing(255, 20)); // 256 entries or 2 ms
    interrupts.clear();
    for (let i = 0; i < 3; i++) expect((await driver.getFeatures(FeatureId.InterruptCoalescing)).dw0).toBe(coalescing(255, 20));
    expect(interrupts.count(0)).toBe(3);
    const buf = driver.memory.alloc(4096);
    expect((await driver.submit(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf })).status).toBe(Status.Success);
    await waitUntil(() => interrupts.count(1) === 1, 'the interrupt of a lone completion after TIME');
  });

  it('Feature 09h CD exempts a vector: 8 interrupts for 8 completions while coalescing is on', async () => {
    const g = await gatedRig();
    rig = g.r;
    const { driver, interrupts } = g.r;
    await driver.bringUp();
    await driver.setFeatures(FeatureId.InterruptCoalescing, coalescing(7, 255));
    await driver.setFeatures(FeatureId.InterruptVectorConfig, 1 | (1 << 16));
    interrupts.clear();
    await readBatch(g, 8);
    expect(interrupts.count(1)).toBe(8);
  });
});

/**
 * The per-namespace timing model: due times in virtual time (exact), latency distributions (seeded,
 * so exact too), the scheduler on an injected clock, and — through the host driver — lower bounds
 * and ordering only, which a loaded machine cannot break.
 */
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  datasheetTiming,
  IoOpcode,
  idleLatencyUs,
  type LatencyDistribution,
  type NamespaceTiming,
  Status,
  type TimedCommand,
} from '../src/index.ts';
import { resolveOptions } from '../src/options.ts';
import { meanLatency, sampleLatency, seededRandom } from '../src/timing/distributions.ts';
import { NamespaceTimingModel } from '../src/timing/model.ts';
import { CompletionScheduler, type TimingClock } from '../src/timing/scheduler.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const read = (bytes: number, outstanding = 0): TimedCommand => ({
  opcode: IoOpcode.Read,
  operation: 'read',
  nsid: 1,
  sqid: 1,
  slba: 0n,
  blocks: bytes / 512,
  bytes,
  outstanding,
});
const write = (bytes: number): TimedCommand => ({ ...read(bytes), opcode: IoOpcode.Write, operation: 'write' });

describe('NamespaceTimingModel (virtual time, µs)', () => {
  it('fixed latency per operation, falling back to `latency`', () => {
    const m = new NamespaceTimingModel({ latency: 50, operations: { read: 80 } });
    expect(m.dueTime(read(4096), 1000)).toBe(1080);
    expect(m.dueTime(write(4096), 1000)).toBe(1050);
    expect(m.dueTime({ ...read(0), opcode: IoOpcode.Flush, operation: 'flush' }, 0)).toBe(50);
  });

  it('channels: at most N in service, the rest wait for the earliest free one', () => {
    const m = new NamespaceTimingModel({ latency: 100, channels: 2 });
    expect([0, 0, 0, 0, 0].map(() => m.dueTime(read(4096), 0))).toEqual([100, 100, 200, 200, 300]);
    // Arriving after the channels freed up: no wait.
    expect(m.dueTime(read(4096), 1000)).toBe(1100);
  });

  it('bandwidth: transfers share one link per direction, after the latency', () => {
    const m = new NamespaceTimingModel({ latency: 500, readBytesPerSecond: 128 * 1024 * 1000, writeBytesPerSecond: 64 * 1024 * 1000 });
    // 128 KiB at 128 KiB/ms: 1 ms each; four at once finish 1 ms apart once the link is busy.
    expect([0, 0, 0, 0].map(() => m.dueTime(read(128 * 1024), 0))).toEqual([1500, 2500, 3500, 4500]);
    // Writes have their own link: 128 KiB at 64 KiB/ms.
    expect(m.dueTime(write(128 * 1024), 0)).toBe(2500);
    // Sustained throughput is the link rate: 100 reads of 128 KiB take 100 ms after the first latency.
    const m2 = new NamespaceTimingModel({ readBytesPerSecond: 128 * 1024 * 1000 });
    let last = 0;
    for (let i = 0; i < 100; i++) last = m2.dueTime(read(128 * 1024), 0);
    expect(last).toBe(100_000);
  });

  it('delayUs: the user function sees the command and the queue depth', () => {
    const seen: TimedCommand[] = [];
    const m = new NamespaceTimingModel({
      delayUs: (c) => {
        seen.push(c);
        return 10 + c.outstanding * 5;
      },
      channels: 1,
    });
    expect(m.dueTime(read(4096, 0), 0)).toBe(10);
    expect(m.dueTime(read(8192, 3), 0)).toBe(10 + 25);
    expect(seen.map((c) => [c.bytes, c.outstanding])).toEqual([
      [4096, 0],
      [8192, 3],
    ]);
  });

  it('bad profiles are refused when the controller options are resolved', () => {
    const bad: NamespaceTiming[] = [
      { latency: -1 },
      { latency: Number.NaN },
      { operations: { read: { kind: 'uniform', minUs: 10, maxUs: 5 } } },
      { latency: { kind: 'lognormal', p50Us: 100, p99Us: 50 } },
      { latency: { kind: 'percentiles', points: [] } },
      {
        latency: {
          kind: 'percentiles',
          points: [
            { percentile: 99, us: 10 },
            { percentile: 50, us: 20 },
          ],
        },
      },
      { readBytesPerSecond: 0 },
      { channels: 0 },
      { channels: 1.5 },
    ];
    for (const timing of bad) {
      expect(() => resolveOptions({ serial: 'T', namespaces: [{ path: '/x', timing }] }), JSON.stringify(timing)).toThrow(RangeError);
    }
  });
});

describe('latency distributions (seeded draws)', () => {
  const draws = (d: LatencyDistribution, n = 20_000) => {
    const random = seededRandom(7);
    return Array.from({ length: n }, () => sampleLatency(d, random)).sort((a, b) => a - b);
  };
  const pct = (sorted: number[], p: number) => sorted[Math.floor((sorted.length - 1) * p)] as number;

  it('the same seed gives the same sequence', () => {
    expect(draws({ kind: 'uniform', minUs: 0, maxUs: 1 }, 5)).toEqual(draws({ kind: 'uniform', minUs: 0, maxUs: 1 }, 5));
  });

  it('uniform stays in range; normal is never negative', () => {
    const u = draws({ kind: 'uniform', minUs: 40, maxUs: 60 });
    expect(u[0]).toBeGreaterThanOrEqual(40);
    expect(u[u.length - 1]).toBeLessThanOrEqual(60);
    const n = draws({ kind: 'normal', meanUs: 10, stddevUs: 10 });
    expect(n[0]).toBeGreaterThanOrEqual(0);
  });

  it('lognormal matches the median and p99 it was given', () => {
    const l = draws({ kind: 'lognormal', p50Us: 80, p99Us: 400 });
    expect(pct(l, 0.5) / 80).toBeCloseTo(1, 1);
    expect(pct(l, 0.99) / 400).toBeCloseTo(1, 1);
    const mean = l.reduce((a, b) => a + b, 0) / l.length;
    expect(mean / meanLatency({ kind: 'lognormal', p50Us: 80, p99Us: 400 })).toBeCloseTo(1, 1);
  });

  it('percentiles follow the datasheet curve', () => {
    const d: LatencyDistribution = {
      kind: 'percentiles',
      points: [
        { percentile: 0, us: 60 },
        { percentile: 50, us: 80 },
        { percentile: 99, us: 200 },
        { percentile: 100, us: 1000 },
      ],
    };
    const s = draws(d);
    expect(s[0]).toBeGreaterThanOrEqual(60);
    expect(pct(s, 0.5)).toBeCloseTo(80, -1);
    expect(pct(s, 0.99)).toBeCloseTo(200, -1);
    expect(s[s.length - 1]).toBeLessThanOrEqual(1000);
    expect(meanLatency(d)).toBeCloseTo((70 * 50 + 140 * 49 + 600 * 1) / 100, 6);
  });
});

describe('datasheetTiming and idleLatencyUs', () => {
  it('channels by Little’s law, links from the sequential rates', () => {
    const t = datasheetTiming({
      readLatencyUs: 80,
      writeLatencyUs: 20,
      randomReadIops: 500_000,
      sequentialReadBytesPerSecond: 3.5e9,
      sequentialWriteBytesPerSecond: 3e9,
    });
    expect(t.channels).toBe(40);
    expect(t.operations).toEqual({ read: 80, write: 20, flush: 20 });
    expect(idleLatencyUs(t, 'read', 4096)).toBeCloseTo(80 + (4096 / 3.5e9) * 1e6, 9);
    expect(idleLatencyUs(t, 'flush', 0)).toBe(20);
    expect(idleLatencyUs({ delayUs: () => 1 }, 'read', 4096)).toBeUndefined();
  });
});

/** A clock the test moves by hand; its timer may fire early, as Node's does. */
function manualClock(): TimingClock & { t: number; timers: { at: number; wake: () => void }[]; advance(us: number): void } {
  const c = {
    t: 0,
    timers: [] as { at: number; wake: () => void }[],
    now: () => c.t,
    setTimer(wake: () => void, delayUs: number) {
      const timer = { at: c.t + delayUs, wake };
      c.timers.push(timer);
      return () => {
        c.timers = c.timers.filter((x) => x !== timer);
      };
    },
    advance(us: number) {
      c.t += us;
      for (const timer of c.timers.filter((x) => x.at <= c.t)) {
        c.timers = c.timers.filter((x) => x !== timer);
        timer.wake();
      }
    },
  };
  return c;
}

describe('CompletionScheduler (injected clock)', () => {
  it('one timer for all waiters; releases everything due, in due order, never early', async () => {
    const clock = manualClock();
    const s = new CompletionScheduler(clock);
    const released: number[] = [];
    for (const due of [300, 100, 200, 100.5]) void s.waitUntil(due).then(() => released.push(due));
    expect(clock.timers).toHaveLength(1);
    expect(clock.timers[0]?.at).toBe(100);
    clock.advance(100.2);
    await Promise.resolve();
    expect(released).toEqual([100]); // 100.5 not yet: re-armed for the rest
    expect(clock.timers).toHaveLength(1);
    clock.advance(150);
    await Promise.resolve();
    expect(released).toEqual([100, 100.5, 200]);
    clock.advance(1000);
    await Promise.resolve();
    expect(released).toEqual([100, 100.5, 200, 300]);
    expect(s.pending).toBe(0);
    expect(clock.timers).toHaveLength(0);
  });

  it('a timer that fires early is re-armed, and past due times resolve at once', async () => {
    const clock = manualClock();
    const s = new CompletionScheduler(clock);
    let done = false;
    void s.waitUntil(1000).then(() => {
      done = true;
    });
    const early = clock.timers[0] as { wake: () => void };
    clock.t = 900;
    clock.timers = [];
    early.wake(); // fired 100 µs early
    await Promise.resolve();
    expect(done).toBe(false);
    expect(clock.timers[0]?.at).toBe(1000);
    clock.advance(100);
    await Promise.resolve();
    expect(done).toBe(true);
    await s.waitUntil(500); // already past
  });
});

describe('timing through the host driver (lower bounds and ordering only)', () => {
  const ms = () => performance.now();

  it('a namespace with a profile completes no earlier than its latency; the other one is not held back', async () => {
    rig = await startNvmeHarness({
      namespaces: [{ sizeBytes: 1 << 20, timing: { operations: { read: 300_000 } } }, { sizeBytes: 1 << 20 }],
    });
    const { driver } = rig;
    await driver.bringUp();
    const buf = driver.memory.alloc(4096);
    const t0 = ms();
    const slow = driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf });
    const fast = driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 2, prp1: buf });
    await driver.ringSqTail(1);
    const first = await driver.reap(1);
    const second = await driver.reap(1);
    expect(ms() - t0).toBeGreaterThanOrEqual(300);
    expect([first.cid, second.cid]).toEqual([fast, slow]);
    expect(second.status).toBe(Status.Success);
    // Writes have no entry in `operations` and no `latency`: not modelled.
    const w = driver.enqueue(1, { opcode: IoOpcode.Write, nsid: 1, prp1: buf });
    const r = driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf });
    await driver.ringSqTail(1);
    expect((await driver.reap(1)).cid).toBe(w);
    expect((await driver.reap(1)).cid).toBe(r);
  });

  it('one channel serializes: 4 reads of 40 ms complete in order, the last ≥ 160 ms after submission', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, timing: { latency: 40_000, channels: 1 } }] });
    const { driver } = rig;
    await driver.bringUp();
    const buf = driver.memory.alloc(4096);
    const t0 = ms();
    const cids = [0, 1, 2, 3].map((i) => driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf, cdw10: i }));
    await driver.ringSqTail(1);
    const order: number[] = [];
    const at: number[] = [];
    for (let i = 0; i < 4; i++) {
      order.push((await driver.reap(1)).cid);
      at.push(ms() - t0);
    }
    expect(order).toEqual(cids);
    at.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(40 * (i + 1));
    });
  });

  it('bandwidth: 64 KiB at 1 MiB/s takes at least 62.5 ms; errors are modelled too', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, timing: { readBytesPerSecond: 1 << 20 } }] });
    const { driver } = rig;
    await driver.bringUp();
    const buf = driver.memory.alloc(64 * 1024);
    const t0 = ms();
    const c = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 128, buffer: buf, bytes: 64 * 1024 });
    expect(c.status).toBe(Status.Success);
    expect(ms() - t0).toBeGreaterThanOrEqual(62.5);
    const t1 = ms();
    const out = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 2040n, blocks: 128, buffer: buf, bytes: 64 * 1024 });
    expect(out.status).toBe(Status.LbaOutOfRange);
    expect(ms() - t1).toBeGreaterThanOrEqual(62.5);
  });
});

import { describe, expect, it } from 'vitest';
import { classify, medianRates, parseSchedstat, parseTaskStat, withHostCpu } from './host-cpu.ts';

/** A /proc/<pid>/task/<tid>/stat line with the given name, utime and stime (ticks). */
const statLine = (tid: number, name: string, utime: number, stime: number) =>
  `${tid} (${name}) S 1 ${tid} ${tid} 0 -1 4194560 3 0 0 0 ${utime} ${stime} 0 0 20 0 4 0 100 1000 200`;

describe('host CPU sampling', () => {
  it('reads user + system time (USER_HZ ticks → ms) and names with spaces and parentheses', () => {
    expect(parseTaskStat(statLine(7, 'CPU 0/TCG', 250, 50))).toEqual({ name: 'CPU 0/TCG', cpuMs: 3000 });
    expect(parseTaskStat(statLine(8, 'a) b (c', 1, 2))).toEqual({ name: 'a) b (c', cpuMs: 30 });
    expect(parseTaskStat('garbage')).toBeUndefined();
  });

  it('reads the run-queue wait of a thread (schedstat: ns running, ns waiting, timeslices → ms waiting)', () => {
    expect(parseSchedstat('1247537547 1051427920 26815\n')).toBeCloseTo(1051.42792, 5);
    expect(parseSchedstat('')).toBeUndefined();
  });

  it('classes QEMU threads: TCG vCPUs, the main loop (tid = pid), the rest', () => {
    expect(classify('CPU 1/TCG', 101, 100)).toBe('vcpus');
    expect(classify('qemu-system-x86', 100, 100)).toBe('qemuMain');
    expect(classify('worker', 102, 100)).toBe('qemuOther');
    expect(classify('IO vfio-user', 103, 100)).toBe('qemuOther');
  });

  it('takes the median rate of the intervals, so start-up and tear-down samples do not count', () => {
    const t = (vcpus: number, bench: number) => ({ vcpus, qemuMain: 0, qemuOther: 0, bench, vcpusWaiting: vcpus / 10 });
    // 500 ms intervals: an idle start (0.1 cores), three steady ones (1.5 / 1.6 / 1.4 cores), an idle end.
    const samples = [
      { atMs: 0, totals: t(0, 0) },
      { atMs: 500, totals: t(50, 10) },
      { atMs: 1000, totals: t(800, 210) },
      { atMs: 1500, totals: t(1600, 410) },
      { atMs: 2000, totals: t(2300, 610) },
      { atMs: 2500, totals: t(2350, 620) },
    ];
    const r = medianRates(samples);
    expect(r.vcpus).toBeCloseTo(1.4, 5);
    expect(r.bench).toBeCloseTo(0.4, 5);
    expect(r.qemuMain).toBe(0);
    expect(r.vcpusWaiting).toBeCloseTo(0.14, 5);
  });

  it('samples this process while the work runs', async () => {
    const { result, hostCpu } = await withHostCpu(process.pid, 50, async () => {
      const until = performance.now() + 500;
      while (performance.now() < until) await new Promise((r) => setImmediate(r));
      return 42;
    });
    expect(result).toBe(42);
    // Busy the whole time: some CPU in every interval, however loaded the host (process.cpuUsage is in µs).
    expect(hostCpu.bench).toBeGreaterThan(0);
    expect(hostCpu.bench).toBeLessThan(4);
    // This process stands in for QEMU (pid = process.pid): its threads were found and classed.
    for (const v of Object.values(hostCpu)) expect(Number.isFinite(v)).toBe(true);
  });
});

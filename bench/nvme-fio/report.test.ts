import { describe, expect, it } from 'vitest';
import { emptyCounters } from './counters.ts';
import type { FioResult } from './fio.ts';
import { formatReport, type RunRecord, summarise, table } from './report.ts';
import { DEVICE_TARGETS, type Target, WORKLOADS } from './workloads.ts';

const target = (key: string) => DEVICE_TARGETS.find((t) => t.key === key) as Target;
const fio = (iops: number, p50us: number): FioResult => ({ iops, mbps: (iops * 4096) / 1e6, p50us, p99us: 2 * p50us, ios: iops });
const run = (t: string, round: number, iops: number, p50us: number, ioCommands?: number): RunRecord => ({
  workload: '4k-randread-qd32',
  target: t,
  round,
  position: 0,
  fio: fio(iops, p50us),
  ...(ioCommands === undefined
    ? {}
    : {
        counters: { ...emptyCounters(), ioCommands, interruptsRaised: ioCommands / 4, ioHeldMicros: ioCommands * 200 },
        serverCost: { busyUs: ioCommands * (round + 10), cpuUs: ioCommands * 5 },
      }),
});

describe('summarise', () => {
  const workload = WORKLOADS.find((w) => w.key === '4k-randread-qd32');
  const records = [
    run('shadow', 0, 1000, 100, 8000),
    run('qemu', 0, 2000, 50),
    run('shadow', 1, 300, 400, 2000),
    run('qemu', 1, 200, 500),
    run('shadow', 2, 900, 110, 6000),
    run('qemu', 2, 1000, 100),
  ];
  const [shadow, qemu] = summarise(records, workload ? [workload] : [], () => [target('shadow'), target('qemu')], 3);

  it('gives medians and ranges per target, and per-round ratios to the reference', () => {
    expect(shadow?.iops).toEqual({ median: 900, min: 300, max: 1000, n: 3 });
    expect(qemu?.iops.median).toBe(1000);
    // Per round 0.5, 1.5, 0.9 → median 0.9 (the ratio of the medians would also be 0.9 here, but
    // round 1's 1.5 shows up as the max).
    expect(shadow?.ratioToReference?.iops).toEqual({ median: 0.9, min: 0.5, max: 1.5, n: 3 });
    expect(shadow?.ratioToReference?.p50us.median).toBeCloseTo(1.1);
    expect(qemu?.ratioToReference).toBeUndefined();
  });

  it('sums the server counters over the rounds and reports them per command', () => {
    expect(shadow?.counters?.ioCommands).toBe(16000);
    expect(qemu?.counters).toBeUndefined();
    expect(shadow?.serverPerCommand?.busyUs).toEqual({ median: 11, min: 10, max: 12, n: 3 });
    expect(shadow?.serverPerCommand?.cpuUs.median).toBe(5);
    // 200 µs per command in the controller × 1000 / 300 / 900 IOPS → 0.2 / 0.06 / 0.18 I/Os held.
    expect(shadow?.held?.usPerCommand).toEqual({ median: 200, min: 200, max: 200, n: 3 });
    expect(shadow?.held?.ios.median).toBeCloseTo(0.18);
    expect(shadow?.held?.ios.min).toBeCloseTo(0.06);
    expect(qemu?.held).toBeUndefined();
    const text = formatReport(
      [shadow, qemu].filter((s) => s !== undefined),
      { workload: (k) => k, target: (k) => k },
    );
    expect(text).toContain('900 (300–1000)');
    expect(text).toMatch(
      /4k-randread-qd32\s+shadow\s+16000\s+0\.000\s+0\.000\s+0\.000\s+0\s+0\.250\s+0\.000\s+5 \(5–5\)\s+11 \(10–12\)\s+200 \(200–200\)\s+0\.18 \(0\.06–0\.20\)$/m,
    );
  });
});

describe('guest CPUs in the steady window', () => {
  it('gives busy cores, CPU 0 idle and busy µs per I/O over the rounds, for every device', () => {
    const workload = WORKLOADS.find((w) => w.key === '4k-randread-qd32');
    const withCpu = (r: RunRecord, busy: number[]): RunRecord => ({ ...r, guestCpu: { busy } });
    const records = [
      withCpu(run('shadow', 0, 10_000, 100), [0.9, 0.1]),
      withCpu(run('shadow', 1, 8_000, 100), [0.8, 0.2]),
      withCpu(run('qemu', 0, 10_000, 100), [1, 0.2]),
      run('qemu', 1, 10_000, 100), // no window recorded: left out
    ];
    const [shadow, qemu] = summarise(records, workload ? [workload] : [], () => [target('shadow'), target('qemu')], 2);
    expect(shadow?.guestCpu?.busyCores).toEqual({ median: 1, min: 1, max: 1, n: 2 });
    expect(shadow?.guestCpu?.cpu0Idle.min).toBeCloseTo(0.1);
    expect(shadow?.guestCpu?.cpu0Idle.max).toBeCloseTo(0.2);
    // 1 core ÷ 10,000 and 8,000 IOPS → 100 and 125 µs of guest CPU per I/O.
    expect(shadow?.guestCpu?.busyUsPerIo).toMatchObject({ min: 100, max: 125, n: 2 });
    expect(qemu?.guestCpu?.busyUsPerIo).toEqual({ median: 120, min: 120, max: 120, n: 1 });
    const text = formatReport(
      [shadow, qemu].filter((s) => s !== undefined),
      { workload: (k) => k, target: (k) => k },
    );
    expect(text).toMatch(/^4k-randread-qd32\s+qemu\s+1\.20\s+0\.0%\s+120$/m);
    expect(text).toMatch(/^4k-randread-qd32\s+shadow\s+1\.00 \(1\.00–1\.00\)\s+15\.0% \(10\.0%–20\.0%\)\s+113 \(100–125\)$/m);
  });
});

describe('table', () => {
  it('aligns the names left and the figures right, and refuses rows that do not fit the header', () => {
    expect(table(['w', 'device', 'IOPS'], [['4k', 'QEMU nvme', '12']]).split('\n')).toEqual([
      'w   device     IOPS',
      '--  ---------  ----',
      '4k  QEMU nvme    12',
    ]);
    expect(() => table(['a', 'b'], [['1', '2', '3']])).toThrow(/3 cells for 2 columns/);
  });
});

describe('--host-cpu', () => {
  it('reports each class as a share of a core and as CPU µs per I/O', () => {
    const workload = WORKLOADS.find((w) => w.key === '4k-randread-qd32');
    const sampled = (t: string, round: number, iops: number): RunRecord => ({
      ...run(t, round, iops, 100),
      hostCpu: { vcpus: 0.8, qemuMain: 0.2, qemuOther: 0.05, bench: t === 'qemu' ? 0.01 : 0.4, vcpusWaiting: t === 'qemu' ? 0.06 : 0.12 },
    });
    const summaries = summarise(
      [sampled('shadow', 0, 4000), sampled('qemu', 0, 5000)],
      workload ? [workload] : [],
      () => [target('shadow'), target('qemu')],
      1,
    );
    expect(summaries[0]?.hostCpu?.bench.usPerIo.median).toBeCloseTo(100, 6); // 0.4 s/s ÷ 4000 IO/s
    expect(summaries[1]?.hostCpu?.vcpus.usPerIo.median).toBeCloseTo(160, 6);
    const text = formatReport(summaries, { workload: (k) => k, target: (k) => k });
    expect(text).toMatch(/host CPU during the runs/);
    expect(summaries[1]?.hostCpu?.vcpusWaiting.median).toBeCloseTo(0.06, 6);
    expect(text).toMatch(/4k-randread-qd32\s+shadow\s+0\.80\s+0\.20\s+0\.05\s+0\.40\s+1\.45\s+0\.12\s+200\s+50\s+13\s+100/);
  });
});

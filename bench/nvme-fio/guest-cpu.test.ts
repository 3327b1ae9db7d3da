import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fioScript } from './fio.ts';
import { busyBetween, type CpuSample, guestCpuSampler, parseCpuSamples, steadyWindow } from './guest-cpu.ts';

/** A sample at `t` s: namespace I/O counts, and per CPU (user, system, idle) jiffies. */
const sample = (t: number, ios: number[], cpus: [number, number, number][]): CpuSample => ({
  t,
  ios,
  cpus: cpus.map(([user, system, idle]) => [user, 0, system, idle, 0, 0, 0, 0, 0, 0]),
});

describe('parseCpuSamples / busyBetween', () => {
  it("reads the sampler's lines and gives each CPU's busy share: all but idle and iowait, guest columns not twice", () => {
    const [a, b] = parseCpuSamples(
      '10.50 7 3 | cpu0 100 0 100 800 0 0 0 0 0 0 | cpu1 0 0 0 1000 0 0 0 0 0 0\n' +
        'cut short | cpu0\n' +
        // CPU 0: user 150, system 30, irq 10, softirq 10 = 200 busy of 1000 (50 guest time is inside user);
        // CPU 1: 100 user, 800 idle, 100 iowait.
        '11.00 90 3 | cpu0 250 0 130 1600 0 10 10 0 50 0 | cpu1 100 0 0 1800 100 0 0 0 0 0\n',
    );
    expect(a).toMatchObject({ t: 10.5, ios: [7, 3] });
    const busy = busyBetween(a as CpuSample, b as CpuSample)?.busy;
    expect(busy?.[0]).toBeCloseTo(0.2, 10);
    expect(busy?.[1]).toBeCloseTo(0.1, 10);
    expect(busyBetween(a as CpuSample, a as CpuSample)).toBeUndefined(); // no time passed
    expect(busyBetween(a as CpuSample, { ...(b as CpuSample), cpus: [] })).toBeUndefined();
  });
});

describe('steadyWindow', () => {
  // Namespace 0 does I/O from t=1 to t=7, namespace 1 from t=7.5 on; CPU 0 is idle before and
  // after, half busy in the ramp, fully busy in the steady state of namespace 0 and 60 % for namespace 1.
  const samples: CpuSample[] = [];
  let user = 0;
  let idle = 0;
  for (let i = 0; i <= 24; i++) {
    const t = i * 0.5;
    const io0 = t < 1 ? 0 : Math.min(t, 7) * 100;
    const io1 = t < 7.5 ? 0 : (t - 7) * 100;
    const busy = t <= 1 ? 0 : t <= 2.5 ? 0.5 : t <= 7 ? 1 : t <= 8.5 ? 0.3 : 0.6;
    user += 50 * busy;
    idle += 50 * (1 - busy);
    samples.push(sample(t, [io0, io1], [[user, 0, idle]]));
  }

  it("cuts each namespace's steady state: after its ramp and half a second more, up to its last rise", () => {
    // Namespace 0: rises first at t=1; window from 1 + 1 + 0.5 = 2.5 to 6.5 (the last sample it still rose after).
    expect(steadyWindow(samples, 0, 1)?.busy[0]).toBeCloseTo(1, 10);
    // Namespace 1: rises at t=7.5 → window from 9 to 11.5 (the samples end while it still runs).
    expect(steadyWindow(samples, 1, 1)?.busy[0]).toBeCloseTo(0.6, 10);
  });

  it('gives nothing for a namespace without I/O or a run too short for a window', () => {
    const quiet = samples.map((s) => ({ ...s, ios: [0, 0] }));
    expect(steadyWindow(quiet, 0, 1)).toBeUndefined();
    expect(steadyWindow(samples, 0, 5)).toBeUndefined(); // window would start at 6.5, after the last rise at 6.5 less than a period
    expect(steadyWindow([], 0, 1)).toBeUndefined();
  });
});

describe('guestCpuSampler', () => {
  it('runs only for measured runs (those with a ramp), in the background of fio, and stops after it', () => {
    const plain = fioScript({ sections: [{ name: 'qemu', serials: ['Q'] }], sizeMiB: 8, args: [], timeoutMs: 1 });
    expect(plain).not.toContain('cpu_sampler');
    const script = fioScript({
      sections: [
        { name: 'shadow', serials: ['P2PK-SHADOW'] },
        { name: 'qemux2', serials: ['QEMU-NVME', 'QEMU-NVME-B'] },
      ],
      sizeMiB: 8,
      args: ['--runtime=5', '--ramp_time=1'],
      timeoutMs: 1,
      rampSeconds: 1,
    });
    expect(script).toMatch(/<"\/sys\/block\/\$\{d2#\/dev\/\}\/stat"; n2=\$\(\(r \+ w\)\)/);
    expect(script.indexOf('cpu_sampler=$!')).toBeLessThan(script.indexOf('\nfio '));
    expect(script.indexOf('kill "$cpu_sampler"')).toBeGreaterThan(script.indexOf('\nfio '));
  });

  it('samples uptime, I/O counts and CPU lines in a POSIX shell without starting a process per read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-guest-cpu-'));
    try {
      // Stand-ins for /proc and /sys/block/<ns>, rooted in `dir`.
      mkdirSync(join(dir, 'x'));
      writeFileSync(join(dir, 'x', 'stat'), '   5 0 0 0    7 0 0 0 0 0 0\n');
      writeFileSync(join(dir, 'uptime'), '123.45 200.00\n');
      writeFileSync(join(dir, 'stat'), 'cpu  9 9 9 9 9\ncpu0 1 0 1 10 0 0 0 0\ncpu1 2 0 2 20 0 0 0 0\nintr 1 2 3\n');
      const sampler = guestCpuSampler(['d0'])
        .replaceAll('/sys/block/', `${dir}/`)
        .replaceAll('/proc/uptime', join(dir, 'uptime'))
        .replaceAll('/proc/stat', join(dir, 'stat'));
      execFileSync('sh', ['-c', `JOB_OUT=${dir}; d0=/dev/x\n${sampler}sleep 0.3; kill "$cpu_sampler"`], { timeout: 10_000 });
      const [first] = parseCpuSamples(readFileSync(join(dir, 'cpu.samples'), 'utf8'));
      expect(first).toEqual({
        t: 123.45,
        ios: [12],
        cpus: [
          [1, 0, 1, 10, 0, 0, 0, 0],
          [2, 0, 2, 20, 0, 0, 0, 0],
        ],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

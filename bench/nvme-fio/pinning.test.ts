import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setThreadAffinity, threadAffinity } from '@p2pkit/native';
import { describe, expect, it } from 'vitest';
import { applyPinning, cpusFor, pinLayout } from './pinning.ts';

describe('--pin layout', () => {
  it('gives vCPU 0 the first allowed CPU alone and everything else the others; needs two CPUs', () => {
    expect(pinLayout([0, 1])).toEqual({ vcpu0: 0, rest: [1] });
    expect(pinLayout([2, 5, 7])).toEqual({ vcpu0: 2, rest: [5, 7] });
    expect(pinLayout([3])).toBeUndefined();
    expect(pinLayout([])).toBeUndefined();
    const layout = { vcpu0: 0, rest: [1, 2] };
    expect(cpusFor('CPU 0/TCG', layout)).toEqual([0]);
    expect(cpusFor('CPU 1/TCG', layout)).toEqual([1, 2]);
    expect(cpusFor('qemu-system-x86', layout)).toEqual([1, 2]);
    expect(cpusFor('CPU 10/TCG', layout)).toEqual([1, 2]);
  });

  it('pins the threads of a running process by name, and this process to the rest', async () => {
    const own = readdirSync('/proc/self/task').map((tid) => ({ tid: Number(tid), cpus: threadAffinity(Number(tid)) }));
    const allowed = threadAffinity(0);
    const layout = pinLayout(allowed);
    if (!layout) return expect(allowed.length).toBe(1); // one CPU: --pin refuses, nothing to check
    // A stand-in for QEMU: its main thread renamed like a TCG vCPU thread, a child `sleep` not.
    const fake = spawn('bash', ['-c', 'printf "CPU 0/TCG" > /proc/self/comm; echo up; while :; do sleep 1; done'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await new Promise((resolve) => fake.stdout.once('data', resolve));
      const pid = fake.pid as number;
      expect(applyPinning(pid, layout)).toBe(1);
      expect(threadAffinity(pid)).toEqual([layout.vcpu0]);
      expect(threadAffinity(0)).toEqual(layout.rest);
      expect(applyPinning(process.pid, layout)).toBe(0); // no vCPU thread: the caller reports the failure
    } finally {
      fake.kill();
      for (const t of own) {
        try {
          setThreadAffinity(t.tid, t.cpus);
        } catch {
          // ended meanwhile
        }
      }
    }
  });
});

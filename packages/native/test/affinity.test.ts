import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { NativeError, setThreadAffinity, threadAffinity } from '../src/index.ts';

/** What the kernel reports for a thread, independent of the binding under test. */
function allowedList(pid: number): string {
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
}

describe('setThreadAffinity / threadAffinity', () => {
  it("moves another process's thread to one CPU and reads the set back", () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      const last = availableParallelism() - 1;
      setThreadAffinity(pid, [last]);
      expect(threadAffinity(pid)).toEqual([last]);
      expect(allowedList(pid)).toBe(String(last));
      const all = Array.from({ length: availableParallelism() }, (_, i) => i);
      setThreadAffinity(pid, all);
      expect(threadAffinity(pid)).toEqual(all);
    } finally {
      child.kill();
    }
  });

  it('reads the calling thread as tid 0', () => {
    expect(threadAffinity(0)).toEqual(threadAffinity(process.pid));
    expect(threadAffinity(0).length).toBeGreaterThan(0);
  });

  it('refuses bad arguments before the call, and reports the kernel refusal as NativeError', () => {
    expect(() => setThreadAffinity(-1, [0])).toThrow(RangeError);
    expect(() => setThreadAffinity(0.5, [0])).toThrow(RangeError);
    expect(() => setThreadAffinity(0, [])).toThrow(RangeError);
    expect(() => setThreadAffinity(0, [1024])).toThrow(RangeError);
    expect(() => setThreadAffinity(0, [-1])).toThrow(RangeError);
    expect(() => threadAffinity(2 ** 53)).toThrow(RangeError);
    // A thread that has ended: ESRCH (the pid of a child that has been reaped).
    const gone = spawnSync('true').pid as number;
    expect(() => threadAffinity(gone)).toThrow(NativeError);
    try {
      threadAffinity(gone);
    } catch (e) {
      expect((e as NativeError).code).toBe('ESRCH');
    }
    // A CPU that is not online (this machine has fewer than 1023): EINVAL, and the set is unchanged.
    const before = threadAffinity(0);
    expect(() => setThreadAffinity(0, [1023])).toThrow(/sched_setaffinity failed: EINVAL/);
    expect(threadAffinity(0)).toEqual(before);
  });
});

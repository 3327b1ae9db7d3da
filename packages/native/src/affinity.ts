/**
 * Which host CPUs a thread may run on (sched_setaffinity(2)). Benchmarks use it to give a guest's
 * busy vCPU a core of its own, away from the device servers and QEMU's other threads, the layout
 * libvirt calls vcpupin / emulatorpin.
 */
import { check } from './errors.ts';
import { libc } from './libc.ts';

/** glibc's cpu_set_t: a bit per CPU, 1024 CPUs. */
const CPU_SET_BYTES = 128;
const MAX_CPUS = CPU_SET_BYTES * 8;

function validTid(tid: number): void {
  if (!Number.isSafeInteger(tid) || tid < 0) throw new RangeError(`thread id ${tid}: expected 0 (the calling thread) or a positive tid`);
}

/**
 * Lets thread `tid` (any process's thread; 0 = the calling thread) run only on `cpus`. Threads it
 * creates afterwards inherit the set. Throws a {@link NativeError}: EINVAL when none of `cpus` is
 * online, ESRCH when the thread has ended, EPERM for another user's thread.
 */
export function setThreadAffinity(tid: number, cpus: readonly number[]): void {
  validTid(tid);
  if (cpus.length === 0) throw new RangeError('setThreadAffinity: expected at least one CPU');
  const mask = Buffer.alloc(CPU_SET_BYTES);
  for (const cpu of cpus) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= MAX_CPUS)
      throw new RangeError(`CPU ${cpu}: expected an integer from 0 to ${MAX_CPUS - 1}`);
    mask[cpu >> 3] = (mask[cpu >> 3] as number) | (1 << (cpu & 7));
  }
  check('sched_setaffinity', libc.sched_setaffinity(tid, CPU_SET_BYTES, mask) as number, `thread ${tid}, CPUs ${cpus.join(',')}`);
}

/** The CPUs thread `tid` (0 = the calling thread) may run on, ascending. Throws a {@link NativeError} (ESRCH: no such thread). */
export function threadAffinity(tid: number): number[] {
  validTid(tid);
  const mask = Buffer.alloc(CPU_SET_BYTES);
  check('sched_getaffinity', libc.sched_getaffinity(tid, CPU_SET_BYTES, mask) as number, `thread ${tid}`);
  const cpus: number[] = [];
  for (let cpu = 0; cpu < MAX_CPUS; cpu++) if ((mask[cpu >> 3] as number) & (1 << (cpu & 7))) cpus.push(cpu);
  return cpus;
}

/**
 * Where the host's cores go during a fio run: QEMU's threads (the guest's TCG vCPUs, QEMU's main
 * loop, its other threads) and this process (the p2pkit servers), from /proc, sampled every
 * `periodMs`. The figure per class is the median of its per-sample rates, so the seconds fio
 * spends starting up and tearing down (a few samples) do not blur the steady state of the I/O.
 * A run whose classes add up to much less than the host's cores is bound by latency (hand-offs
 * between threads and processes), not by CPU. Beside CPU, how long the vCPU threads were runnable
 * but waited for a core (the scheduler's run-queue delay, /proc/…/schedstat): the direct measure
 * of the guest being short of host CPU.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { spread } from './statistics.ts';

/** Linux reports thread CPU time in clock ticks of USER_HZ, which is 100 on every architecture. */
const USER_HZ = 100;

/** Thread classes, in report order. */
export const CPU_CLASSES = ['vcpus', 'qemuMain', 'qemuOther', 'bench'] as const;
export type CpuClass = (typeof CPU_CLASSES)[number];

/**
 * Median share of one core per class during a run (1 = one core fully busy), and `vcpusWaiting`:
 * seconds per second the vCPU threads together spent runnable, waiting for a host core.
 */
export type HostCpu = Record<CpuClass, number> & { vcpusWaiting: number };

/** What is sampled: the classes' CPU and the vCPUs' run-queue wait. */
const MEASURES = [...CPU_CLASSES, 'vcpusWaiting'] as const;
type Measure = (typeof MEASURES)[number];

/** One thread's line of /proc/<pid>/task/<tid>/stat: its name and user + system CPU, ms. */
export function parseTaskStat(line: string): { name: string; cpuMs: number } | undefined {
  // The name is in parentheses and may itself contain spaces or parentheses: split at the last ')'.
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = line.slice(close + 2).split(' ');
  // After the name: state (field 3) ... utime (14), stime (15); fields[0] is field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { name: line.slice(open + 1, close), cpuMs: ((utime + stime) * 1000) / USER_HZ };
}

/** A /proc/<pid>/task/<tid>/schedstat line (ns on the CPU, ns waiting on a run queue, timeslices): the wait, ms. */
export function parseSchedstat(line: string): number | undefined {
  const wait = Number(line.trim().split(/\s+/)[1]);
  return Number.isFinite(wait) ? wait / 1e6 : undefined;
}

/** The guest CPU index of a QEMU TCG vCPU thread (named `CPU <n>/TCG`), or undefined for any other thread. */
export function vcpuIndex(name: string): number | undefined {
  const m = /^CPU (\d+)\/TCG$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Which class a QEMU thread belongs to: the vCPU threads (see {@link vcpuIndex}); the main loop is the process's first thread. */
export function classify(name: string, tid: number, pid: number): Exclude<CpuClass, 'bench'> {
  if (vcpuIndex(name) !== undefined) return 'vcpus';
  return tid === pid ? 'qemuMain' : 'qemuOther';
}

type Totals = Record<Measure, number>;

const zero = (): Totals => ({ vcpus: 0, qemuMain: 0, qemuOther: 0, bench: 0, vcpusWaiting: 0 });

/** The thread ids of a process (`/proc/<pid>/task`), none when the process has ended. */
export function threadIds(pid: number | 'self'): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** A /proc file's text, or undefined when the thread has ended since it was listed. */
export function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** CPU ms so far per class (threads that ended since the last read are simply missing: their last interval is lost). */
function readTotals(qemuPid: number): Totals {
  const t = zero();
  // QEMU gone: no threads, only this process is left to count.
  for (const tid of threadIds(qemuPid)) {
    const line = readProc(`/proc/${qemuPid}/task/${tid}/stat`);
    const s = line === undefined ? undefined : parseTaskStat(line);
    if (!s) continue;
    const c = classify(s.name, Number(tid), qemuPid);
    t[c] += s.cpuMs;
    if (c !== 'vcpus') continue;
    const sched = readProc(`/proc/${qemuPid}/task/${tid}/schedstat`);
    t.vcpusWaiting += (sched === undefined ? undefined : parseSchedstat(sched)) ?? 0;
  }
  const own = process.cpuUsage();
  t.bench = (own.user + own.system) / 1000;
  return t;
}

/** Median per class of the per-interval rates (CPU ms per wall ms) between consecutive samples. */
export function medianRates(samples: readonly { atMs: number; totals: Totals }[]): HostCpu {
  const out = zero();
  for (const c of MEASURES) {
    const rates: number[] = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1] as { atMs: number; totals: Totals };
      const b = samples[i] as { atMs: number; totals: Totals };
      const wall = b.atMs - a.atMs;
      if (wall > 0) rates.push(Math.max(0, b.totals[c] - a.totals[c]) / wall);
    }
    out[c] = spread(rates).median;
  }
  return out;
}

/**
 * Samples QEMU (`qemuPid`) and this process every `periodMs` while `f` runs; returns `f`'s result
 * and the median share of a core per class. Needs at least three samples (a run of ~2 periods).
 */
export async function withHostCpu<T>(qemuPid: number, periodMs: number, f: () => Promise<T>): Promise<{ result: T; hostCpu: HostCpu }> {
  const samples: { atMs: number; totals: Totals }[] = [];
  const sample = () => samples.push({ atMs: performance.now(), totals: readTotals(qemuPid) });
  sample();
  const timer = setInterval(sample, periodMs);
  try {
    const result = await f();
    sample();
    return { result, hostCpu: medianRates(samples) };
  } finally {
    clearInterval(timer);
  }
}

/** V8 CPU profiles of this process (the p2pkit servers run in it) around single fio runs. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** The parts of a V8 `Profiler.Profile` read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * Sampled wall time, µs, the main thread spent busy: outside V8's `(idle)` node and outside the
 * inspector's own native `dispatch` (the profiler serving this very session; it shows up as much in
 * runs where the server does nothing). A busy thread preempted by the OS still counts as busy.
 */
export function busyMicros(profile: CpuProfile): number {
  const notServer = (f: { functionName: string; url: string }) =>
    f.functionName === '(idle)' || (f.functionName === 'dispatch' && f.url === '');
  const idle = new Set(profile.nodes.filter((n) => notServer(n.callFrame)).map((n) => n.id));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let busy = 0;
  // timeDeltas[i] is the time before sample i: charge it to the state that sample found.
  for (let i = 0; i < samples.length; i++) if (!idle.has(samples[i] as number)) busy += deltas[i] ?? 0;
  return busy;
}

/** What a profiled run cost this process. */
export interface ServerCost {
  /** Main-thread busy time from the profile, µs ({@link busyMicros}). */
  busyUs: number;
  /** CPU time of the whole process (all threads, user + system), µs, from `process.cpuUsage()`. */
  cpuUs: number;
}

/**
 * Runs `f` under the sampling profiler, writes `<dir>/<name>.cpuprofile` and returns what the run
 * cost this process with `f`'s result; without `dir` just runs `f`.
 */
export async function profiled<T>(dir: string | undefined, name: string, f: () => Promise<T>): Promise<{ result: T; cost?: ServerCost }> {
  if (dir === undefined) return { result: await f() };
  const cpu0 = process.cpuUsage();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 1 ms, as `node --cpu-prof`: cheap enough to leave the server's pace mostly intact.
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  const stop = async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    return profile;
  };
  let result: T;
  try {
    result = await f();
  } catch (e) {
    await stop();
    throw e;
  }
  const cpu = process.cpuUsage(cpu0);
  return { result, cost: { busyUs: busyMicros(await stop()), cpuUs: cpu.user + cpu.system } };
}

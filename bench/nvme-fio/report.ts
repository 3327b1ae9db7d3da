/** Summaries of the repeated runs (medians, spreads, per-round ratios to QEMU's nvme) as text tables and JSON. */
import { accumulate, type Counters, emptyCounters, messageCount } from './counters.ts';
import type { FioResult, GuestCounters } from './fio.ts';
import type { GuestCpu } from './guest-cpu.ts';
import { CPU_CLASSES, type CpuClass, type HostCpu } from './host-cpu.ts';
import type { ServerCost } from './profile.ts';
import { roundRatios, type Spread, spread } from './statistics.ts';
import type { Target, Workload } from './workloads.ts';

/** One measured fio run. */
export interface RunRecord {
  workload: string;
  target: string;
  /** 0-based round, and the run's place in that round's device order for this workload. */
  round: number;
  position: number;
  fio: FioResult;
  /** p2pkit targets only: server counter deltas over the run (ramp included), summed over the target's devices. */
  counters?: Counters;
  /** `--profile`: what the fio run cost the bench process (the p2pkit server; for QEMU runs, the baseline). */
  serverCost?: ServerCost;
  /** `--host-cpu`: median share of a core per thread class during the run. */
  hostCpu?: HostCpu;
  /** What the guest kernel counted for the target's devices over the run (fio start-up and ramp included). */
  guest?: GuestCounters;
  /** The guest CPUs in the run's steady window (ramp excluded). */
  guestCpu?: GuestCpu;
}

const METRICS = ['iops', 'mbps', 'p50us', 'p99us'] as const;

/** Column names of the --host-cpu table. */
const CLASS_LABELS: Record<CpuClass, string> = { vcpus: 'vCPUs', qemuMain: 'QEMU main', qemuOther: 'QEMU other', bench: 'server' };
type Metric = (typeof METRICS)[number];

/** One workload on one target over all rounds. */
export interface Summary {
  workload: string;
  target: string;
  rounds: number;
  iops: Spread;
  mbps: Spread;
  p50us: Spread;
  p99us: Spread;
  /** target / reference per round, summarised (absent for the reference itself, or with no reference runs). */
  ratioToReference?: Record<Metric, Spread>;
  /** p2pkit targets: counters summed over all rounds. */
  counters?: Counters;
  /**
   * p2pkit targets, per round: mean µs an I/O command spent in the controller (fetch to completion
   * entry), and × IOPS (Little's law) how many of fio's outstanding I/Os the controller held on average.
   */
  held?: { usPerCommand: Spread; ios: Spread };
  /** `--profile`: per I/O command, the server process's CPU µs and its main thread's busy µs, over the rounds. */
  serverPerCommand?: { cpuUs: Spread; busyUs: Spread };
  /** Guest kernel's interrupts and completed I/Os for the target's devices, summed over the rounds. */
  guest?: GuestCounters;
  /**
   * The guest CPUs in each run's steady window, over the rounds: busy cores (all vCPUs), CPU 0's
   * idle share (fio's CPU under --pin) and busy µs per I/O (busy cores ÷ IOPS).
   */
  guestCpu?: { busyCores: Spread; cpu0Idle: Spread; busyUsPerIo: Spread };
  /** `--host-cpu`: per thread class, the share of a core and the CPU µs per I/O (share ÷ IOPS), over the rounds. */
  hostCpu?: Record<CpuClass, { cores: Spread; usPerIo: Spread }> & { vcpusWaiting: Spread };
}

const valuesOf = (runs: readonly RunRecord[], m: Metric) => runs.map((r) => r.fio[m]);

/** Per-round series (index = round; NaN where the round has no run) of one target's runs of a workload. */
function byRound(runs: readonly RunRecord[], rounds: number, m: Metric): number[] {
  const out = new Array<number>(rounds).fill(Number.NaN);
  for (const r of runs) out[r.round] = r.fio[m];
  return out;
}

/** Summaries per workload and target, in the given orders. */
export function summarise(
  records: readonly RunRecord[],
  workloads: readonly Workload[],
  targetsOf: (w: Workload) => readonly Target[],
  rounds: number,
): Summary[] {
  const out: Summary[] = [];
  for (const w of workloads) {
    const targets = targetsOf(w);
    const reference = targets.find((t) => t.reference);
    const refRuns = reference ? records.filter((r) => r.workload === w.key && r.target === reference.key) : [];
    for (const t of targets) {
      const runs = records.filter((r) => r.workload === w.key && r.target === t.key);
      if (runs.length === 0) continue;
      const s: Summary = {
        workload: w.key,
        target: t.key,
        rounds: runs.length,
        iops: spread(valuesOf(runs, 'iops')),
        mbps: spread(valuesOf(runs, 'mbps')),
        p50us: spread(valuesOf(runs, 'p50us')),
        p99us: spread(valuesOf(runs, 'p99us')),
      };
      if (!t.reference && refRuns.length > 0) {
        const ratio = (m: Metric) => roundRatios(byRound(runs, rounds, m), byRound(refRuns, rounds, m));
        s.ratioToReference = { iops: ratio('iops'), mbps: ratio('mbps'), p50us: ratio('p50us'), p99us: ratio('p99us') };
      }
      const counted = runs.filter((r) => r.counters);
      if (counted.length > 0) s.counters = counted.reduce((acc, r) => accumulate(acc, r.counters as Counters), emptyCounters());
      const timed = counted.filter((r) => (r.counters as Counters).ioCommands > 0);
      if (timed.length > 0) {
        const us = (r: RunRecord) => (r.counters as Counters).ioHeldMicros / (r.counters as Counters).ioCommands;
        s.held = { usPerCommand: spread(timed.map(us)), ios: spread(timed.map((r) => (us(r) * r.fio.iops) / 1e6)) };
      }
      const profiled = timed.filter((r) => r.serverCost);
      const perCommand = (k: keyof ServerCost) =>
        spread(profiled.map((r) => (r.serverCost as ServerCost)[k] / (r.counters as Counters).ioCommands));
      if (profiled.length > 0) s.serverPerCommand = { cpuUs: perCommand('cpuUs'), busyUs: perCommand('busyUs') };
      const seen = runs.filter((r) => r.guest);
      if (seen.length > 0)
        s.guest = seen.reduce(
          (acc, r) => ({
            interrupts: acc.interrupts + (r.guest as GuestCounters).interrupts,
            ios: acc.ios + (r.guest as GuestCounters).ios,
          }),
          { interrupts: 0, ios: 0 },
        );
      const windowed = runs.filter((r) => r.guestCpu && r.fio.iops > 0);
      if (windowed.length > 0) {
        const cores = (r: RunRecord) => (r.guestCpu as GuestCpu).busy.reduce((a, b) => a + b, 0);
        s.guestCpu = {
          busyCores: spread(windowed.map(cores)),
          cpu0Idle: spread(windowed.map((r) => 1 - ((r.guestCpu as GuestCpu).busy[0] ?? Number.NaN))),
          busyUsPerIo: spread(windowed.map((r) => (cores(r) * 1e6) / r.fio.iops)),
        };
      }
      const sampled = runs.filter((r) => r.hostCpu && r.fio.iops > 0);
      if (sampled.length > 0) {
        const of = (c: CpuClass) => ({
          cores: spread(sampled.map((r) => (r.hostCpu as HostCpu)[c])),
          usPerIo: spread(sampled.map((r) => ((r.hostCpu as HostCpu)[c] * 1e6) / r.fio.iops)),
        });
        s.hostCpu = {
          vcpus: of('vcpus'),
          qemuMain: of('qemuMain'),
          qemuOther: of('qemuOther'),
          bench: of('bench'),
          // Runs recorded before the wait was sampled have none: NaN prints as '-'.
          vcpusWaiting: spread(sampled.map((r) => (r.hostCpu as HostCpu).vcpusWaiting ?? Number.NaN)),
        };
      }
      out.push(s);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------- text

const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
/** Latency: whole µs from 100 µs up. */
const micros = (v: number) => fixed(v, Math.abs(v) >= 100 ? 0 : 1);
const withSpread = (s: Spread, fmt: (v: number) => string) =>
  s.n === 0 ? '-' : s.n === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const ragged = rows.find((r) => r.length !== header.length);
  if (ragged) throw new Error(`table: a row has ${ragged.length} cells for ${header.length} columns`);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i <= 1 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** The report: results, ratios, per-command counters, vfio-user messages by command. */
export function formatReport(
  summaries: readonly Summary[],
  labels: { workload: (k: string) => string; target: (k: string) => string },
): string {
  const out: string[] = [];
  const name = (s: Summary) => [labels.workload(s.workload), labels.target(s.target)];
  out.push('median (min–max) over the rounds; MB/s = 10^6 B/s; completion latency (clat) in µs\n');
  out.push(
    table(
      ['workload', 'device', 'IOPS', 'MB/s', 'clat p50 µs', 'clat p99 µs'],
      summaries.map((s) => [
        ...name(s),
        withSpread(s.iops, (v) => fixed(v, 0)),
        withSpread(s.mbps, (v) => fixed(v, 1)),
        withSpread(s.p50us, micros),
        withSpread(s.p99us, micros),
      ]),
    ),
  );
  const rated = summaries.filter((s) => s.ratioToReference);
  if (rated.length > 0) {
    out.push(
      '\nratio to QEMU nvme, median (min–max) of the per-round ratios (IOPS, MB/s: > 1 = p2pkit faster; p50, p99: > 1 = p2pkit slower)\n',
    );
    const r2 = (v: number) => fixed(v, 2);
    out.push(
      table(
        ['workload', 'device', 'IOPS', 'MB/s', 'p50', 'p99'],
        rated.map((s) => {
          const r = s.ratioToReference as Record<Metric, Spread>;
          return [...name(s), withSpread(r.iops, r2), withSpread(r.mbps, r2), withSpread(r.p50us, r2), withSpread(r.p99us, r2)];
        }),
      ),
    );
  }
  const seen = summaries.filter((s) => s.guest && s.guest.ios > 0);
  if (seen.length > 0) {
    out.push("\nwhat the guest kernel counted per device (all rounds): its queues' interrupts per I/O it completed\n");
    out.push(
      table(
        ['workload', 'device', 'guest I/Os', 'interrupts', 'interrupts/IO'],
        seen.map((s) => {
          const g = s.guest as GuestCounters;
          return [...name(s), String(g.ios), String(g.interrupts), (g.interrupts / g.ios).toFixed(3)];
        }),
      ),
    );
  }
  const windowed = summaries.filter((s) => s.guestCpu);
  if (windowed.length > 0) {
    out.push(
      "\nthe guest's CPUs between the end of the ramp and the end of the run (/proc/stat in the guest; idle time is exact), " +
        "median (min–max) over rounds: busy cores = both vCPUs together; CPU 0 idle = the share of the time fio's CPU (with --pin) " +
        "had nothing to run, i.e. waited on the device; busy µs/IO = busy cores ÷ IOPS, the guest's own work per I/O\n",
    );
    out.push(
      table(
        ['workload', 'device', 'busy cores', 'CPU 0 idle', 'busy µs/IO'],
        windowed.map((s) => {
          const c = s.guestCpu as NonNullable<Summary['guestCpu']>;
          return [
            ...name(s),
            withSpread(c.busyCores, (v) => fixed(v, 2)),
            withSpread(c.cpu0Idle, (v) => `${fixed(v * 100, 1)}%`),
            withSpread(c.busyUsPerIo, (v) => fixed(v, 0)),
          ];
        }),
      ),
    );
  }
  const sampled = summaries.filter((s) => s.hostCpu);
  if (sampled.length > 0) {
    out.push(
      '\nhost CPU during the runs (--host-cpu): share of one core, median of 0.5 s samples, then median (min–max) over rounds; ' +
        "µs/IO = share ÷ IOPS; a total well below the host's core count means the run waits on hand-offs between threads, not on CPU; " +
        'vCPUs waiting = seconds per second the vCPU threads were runnable but had no host core (the guest short of CPU)\n',
    );
    const share = (v: number) => fixed(v, 2);
    out.push(
      table(
        [
          'workload',
          'device',
          ...CPU_CLASSES.map((c) => `${CLASS_LABELS[c]} cores`),
          'total cores',
          'vCPUs waiting',
          ...CPU_CLASSES.map((c) => `${CLASS_LABELS[c]} µs/IO`),
        ],
        sampled.map((s) => {
          const h = s.hostCpu as NonNullable<Summary['hostCpu']>;
          const total = CPU_CLASSES.reduce((a, c) => a + h[c].cores.median, 0);
          return [
            ...name(s),
            ...CPU_CLASSES.map((c) => withSpread(h[c].cores, share)),
            share(total),
            withSpread(h.vcpusWaiting, share),
            ...CPU_CLASSES.map((c) => withSpread(h[c].usPerIo, (v) => fixed(v, 0))),
          ];
        }),
      ),
    );
  }
  const counted = summaries.filter((s) => s.counters && s.counters.ioCommands > 0);
  if (counted.length > 0) {
    out.push(
      '\nserver-side counters per I/O command the controller executed (all rounds, ramps included). With --profile, per command, ' +
        'median (min–max) over rounds: server CPU µs = CPU time of the bench process (all threads; includes fio start-up), ' +
        'loop busy µs = wall time its main thread was not idle (includes time preempted by other processes); ' +
        'held µs = mean time a command spent in the controller, fetch to completion entry, and I/Os held = that × IOPS ' +
        "(Little's law): how many of fio's outstanding I/Os the controller held on average, median (min–max) over rounds; " +
        'the rest were in the guest or in transit\n',
    );
    out.push(
      table(
        [
          'workload',
          'device',
          'io cmds',
          'MMIO doorbells',
          'shadow hits',
          'polls',
          'poll stops',
          'irqs',
          'vfio-user msgs',
          'server CPU µs',
          'loop busy µs',
          'held µs',
          'I/Os held',
        ],
        counted.map((s) => {
          const c = s.counters as Counters;
          const per = (v: number) => (v / c.ioCommands).toFixed(3);
          return [
            ...name(s),
            String(c.ioCommands),
            per(c.doorbellWrites),
            per(c.shadowDoorbellHits),
            per(c.shadowPolls),
            String(c.shadowPollStops),
            per(c.interruptsRaised),
            per(messageCount(c)),
            s.serverPerCommand ? withSpread(s.serverPerCommand.cpuUs, (v) => fixed(v, 0)) : '-',
            s.serverPerCommand ? withSpread(s.serverPerCommand.busyUs, (v) => fixed(v, 0)) : '-',
            s.held ? withSpread(s.held.usPerCommand, (v) => fixed(v, 0)) : '-',
            s.held ? withSpread(s.held.ios, (v) => fixed(v, 2)) : '-',
          ];
        }),
      ),
    );
    out.push('\nvfio-user messages handled by the server, by command (all rounds)\n');
    out.push(
      table(
        ['workload', 'device', 'messages'],
        counted.map((s) => [
          ...name(s),
          Object.entries((s.counters as Counters).messages)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k}=${v}`)
            .join(' ') || '(none)',
        ]),
      ),
    );
  }
  return out.join('\n');
}

/**
 * The guest's CPUs during the steady part of each fio section. A background loop in the guest job
 * records, twice a second, the guest's uptime, the I/Os each namespace has completed and the
 * per-CPU lines of /proc/stat (read with shell builtins; the only process a period starts is its
 * `sleep`). Afterwards each section's window is cut from the samples where its namespace was doing
 * I/O: from the ramp plus half a second after its first I/O to the last sample after which it still rose. The guest kernel counts idle time exactly (it stops its tick while
 * idle), so a CPU's busy share is exact where user/system splits are sampled. It tells the two
 * kinds of limit apart: a guest CPU busy all the time is the bound (the device can then only change
 * the guest's work per I/O), one that idles is waiting on the device.
 */

/** Busy share (neither idle nor iowait), 0–1, of each guest CPU over one section's window, in CPU order. */
export interface GuestCpu {
  busy: number[];
}

/** Seconds between samples. */
const PERIOD_S = 0.5;

/** Shell that stops the loop {@link guestCpuSampler} started. */
export const GUEST_CPU_SAMPLER_STOP = 'kill "$cpu_sampler"\n';

/**
 * Shell that starts the sampling loop in the background (pid in `$cpu_sampler`) for the namespaces
 * whose device paths are in the shell variables `variables` (`d0`, …), appending to `$JOB_OUT/cpu.samples` one line per sample:
 * `<uptime s> <I/Os of each namespace> | cpuN … | cpuM …`.
 */
export function guestCpuSampler(variables: readonly string[]): string {
  const reads = variables.map((v, i) => `read -r r _ _ _ w _ <"/sys/block/\${${v}#/dev/}/stat"; n${i}=$((r + w))`).join('; ');
  const counts = variables.map((_, i) => `$n${i}`).join(' ');
  return `(
  while :; do
    read -r up _ </proc/uptime; ${reads}
    line="$up ${counts}"
    while read -r l; do case $l in cpu[0-9]*) line="$line | $l" ;; esac; done </proc/stat
    echo "$line" >>"$JOB_OUT/cpu.samples"
    sleep ${PERIOD_S}
  done
) &
cpu_sampler=$!
`;
}

/** One sample: guest uptime, I/Os completed per namespace (script order), /proc/stat counters per CPU. */
export interface CpuSample {
  t: number;
  ios: number[];
  cpus: number[][];
}

/** The sampler's lines → samples (lines that do not parse, e.g. one cut short, are left out). */
export function parseCpuSamples(text: string): CpuSample[] {
  const out: CpuSample[] = [];
  for (const line of text.split('\n')) {
    const [head, ...cpuParts] = line.split('|').map((p) => p.trim());
    const nums = (head ?? '').split(/\s+/).map(Number);
    if (nums.length < 2 || !nums.every(Number.isFinite) || cpuParts.length === 0) continue;
    const cpus = cpuParts.map((p) => /^cpu\d+\s+(.*)$/.exec(p)?.[1]?.split(/\s+/).map(Number));
    if (!cpus.every((c): c is number[] => c !== undefined && c.length >= 5 && c.every(Number.isFinite))) continue;
    out.push({ t: nums[0] as number, ios: nums.slice(1), cpus });
  }
  return out;
}

/** Each CPU's busy share between two samples; undefined when they do not cover the same CPUs over some time. */
export function busyBetween(a: CpuSample, b: CpuSample): GuestCpu | undefined {
  if (a.cpus.length === 0 || a.cpus.length !== b.cpus.length) return undefined;
  const busy: number[] = [];
  for (const [i, y] of b.cpus.entries()) {
    const x = a.cpus[i] as number[];
    // Columns past steal (guest, guest_nice) are already inside user and nice.
    const d = y.slice(0, 8).map((v, k) => v - (x[k] ?? 0));
    const total = d.reduce((s, v) => s + v, 0);
    if (!(total > 0)) return undefined;
    busy.push((total - (d[3] ?? 0) - (d[4] ?? 0)) / total);
  }
  return { busy };
}

/**
 * The guest CPUs while namespace `index` (of the sampler's) was in its steady state: from the
 * first sample at least `rampSeconds` + ½ s after its I/O count first rose, to the last sample
 * after which it still rose. Undefined when that leaves less than one sampling period.
 */
export function steadyWindow(samples: readonly CpuSample[], index: number, rampSeconds: number): GuestCpu | undefined {
  const count = (i: number) => samples[i]?.ios[index] ?? Number.NaN;
  const rising = samples.findIndex((_, i) => count(i) > count(0));
  if (rising < 0) return undefined;
  let last = samples.length - 2;
  while (last > rising && !(count(last + 1) > count(last))) last--;
  const startT = (samples[rising] as CpuSample).t + rampSeconds + PERIOD_S;
  const start = samples.findIndex((s, i) => i <= last && s.t >= startT);
  const a = samples[start];
  const b = samples[last];
  if (start < 0 || !a || !b || b.t - a.t < PERIOD_S) return undefined;
  return busyBetween(a, b);
}

/** fio inside the guest: the job script, and its JSON output reduced to the figures the report needs. */
import type { Guest, JobResult } from '@p2pkit/testbed';
import { GUEST_CPU_SAMPLER_STOP, type GuestCpu, guestCpuSampler, parseCpuSamples, steadyWindow } from './guest-cpu.ts';

/** The benchmark cannot go on (a failed job, unreadable fio output); printed as `nvme-fio: <message>`. */
export class BenchError extends Error {
  override name = 'BenchError';
}

/** One fio run's figures (all jobs of the run together). */
export interface FioResult {
  iops: number;
  /** 10^6 bytes per second. */
  mbps: number;
  /** Completion latency percentiles, µs (NaN when fio did not report them). */
  p50us: number;
  p99us: number;
  ios: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;

/** fio may print warnings around the JSON document. */
function extractJson(text: string, what: string): Json {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new BenchError(`${what}: no JSON object in fio output: ${text.slice(0, 500)}`);
  try {
    const v: unknown = JSON.parse(text.slice(start, end + 1));
    if (!isObj(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new BenchError(`${what}: cannot parse fio JSON (${(e as Error).message}): ${text.slice(0, 500)}`);
  }
}

function percentile(clat: Json | undefined, p: number, scaleToUs: number): number {
  const table = clat?.percentile;
  if (!isObj(table)) return Number.NaN;
  for (const [k, v] of Object.entries(table)) if (Math.abs(Number(k) - p) < 1e-6) return num(v) * scaleToUs;
  return Number.NaN;
}

/**
 * The "read" or "write" section of job `jobName` in fio's JSON output (with `--group_reporting`
 * fio reports each stonewalled group once, under the name of its first job, all its jobs together).
 * Throws when fio reported an error or moved no data in that direction.
 */
export function parseFio(text: string, what: string, direction: 'read' | 'write', jobName: string): FioResult {
  const doc = extractJson(text, what);
  const jobs = doc.jobs;
  if (!Array.isArray(jobs) || jobs.length === 0) throw new BenchError(`${what}: fio JSON has no jobs`);
  const job = jobs.find((j) => isObj(j) && j.jobname === jobName);
  if (!isObj(job)) throw new BenchError(`${what}: fio JSON has no job named ${JSON.stringify(jobName)}`);
  const err = num(job.error);
  if (err !== 0 && !Number.isNaN(err)) throw new BenchError(`${what}: fio job reported error ${err}`);
  const section = job[direction];
  if (!isObj(section)) throw new BenchError(`${what}: fio JSON job has no "${direction}" section`);
  const ioBytes = num(section.io_bytes);
  if (!(ioBytes > 0)) throw new BenchError(`${what}: fio moved no data (${direction} io_bytes=${String(section.io_bytes)})`);
  // fio ≥ 3 reports clat_ns; older versions clat in µs.
  const clatNs = isObj(section.clat_ns) ? section.clat_ns : undefined;
  const clat = clatNs ?? (isObj(section.clat) ? section.clat : undefined);
  const scale = clatNs ? 1e-3 : 1;
  const bwBytes = Number.isFinite(num(section.bw_bytes)) ? num(section.bw_bytes) : num(section.bw) * 1024;
  const ios = num(section.total_ios);
  return {
    iops: num(section.iops),
    mbps: bwBytes / 1e6,
    p50us: percentile(clat, 50, scale),
    p99us: percentile(clat, 99, scale),
    ios: Number.isFinite(ios) ? ios : 0,
  };
}

function jobFailure(what: string, r: JobResult): BenchError {
  const err = r.files.get('fio.err')?.toString().trim();
  return new BenchError(
    `${what}: guest job failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''})\n` +
      `--- stdout\n${r.stdout.trim()}\n--- stderr\n${r.stderr.trim()}${err ? `\n--- fio stderr\n${err}` : ''}` +
      (r.dmesg ? dmesgExcerpt(r.dmesg) : ''),
  );
}

/**
 * The guest kernel log of a failed job: its first warning or oops (header and 40 lines: the call
 * trace names the code that complained) and the last 30 lines, which name the failed I/O.
 */
export function dmesgExcerpt(dmesg: string): string {
  const lines = dmesg.trim().split('\n');
  const tail = lines.slice(-30);
  const first = lines.findIndex((l) => /\] (WARNING:|BUG:|Oops|general protection fault|kernel BUG)/.test(l));
  const head = first >= 0 && first < lines.length - 30 ? lines.slice(first, Math.min(first + 40, lines.length - 30)) : [];
  return (head.length ? `\n--- dmesg (first warning)\n${head.join('\n')}` : '') + `\n--- dmesg (tail)\n${tail.join('\n')}`;
}

/** One job section of a fio invocation: the namespaces of the controllers with these serials. */
export interface FioSection {
  /** fio job name (letters, digits, `-`, `_`); the name its results are reported under. */
  name: string;
  serials: readonly string[];
}

/** One fio invocation whose sections run one after another (stonewalled), in the order given. */
export interface FioRun {
  sections: readonly FioSection[];
  /** fio range per device, MiB (from offset 0). */
  sizeMiB: number;
  /** Options of every section (`--rw`, `--bs`, `--iodepth`, `--numjobs`, `--runtime`, ...). */
  args: readonly string[];
  timeoutMs: number;
  /** The `--ramp_time` in `args`: when set, the guest CPUs are sampled and each section's steady window is cut out. */
  rampSeconds?: number;
}

/**
 * What the guest kernel counted for one controller: the interrupts of its queues (the
 * `nvme<N>q<k>` lines of /proc/interrupts, all CPUs) and the I/Os its namespace completed (reads +
 * writes of /sys/block/<ns>/stat). Measured the same way for every device, QEMU's nvme included.
 */
export interface GuestCounters {
  interrupts: number;
  ios: number;
}

/** Every serial of a run once, in section order: the script's `$d<i>`/`$c<i>` and the sampler's namespaces. */
function serialsOf(run: FioRun): string[] {
  return [...new Set(run.sections.flatMap((s) => s.serials))];
}

/**
 * The guest shell script of a run: libaio, O_DIRECT; a section with several devices spreads every
 * job's I/O over all of them (round-robin), `--size` being the total. One fio process for all
 * sections: fio's start-up in a TCG guest costs seconds, paid once per run instead of per device.
 * Before and after fio it writes each device's {@link GuestCounters} to counters.before/after.
 */
export function fioScript(run: FioRun): string {
  const serials = serialsOf(run);
  const variable = (serial: string) => `$d${serials.indexOf(serial)}`;
  const lookups = serials
    .map((s, i) => `d${i}=$(nvme_ns_by_serial ${s}) || exit 3\nc${i}=$(nvme_ctrl_by_serial ${s}) || exit 3`)
    .join('\n');
  const sections = run.sections.map(
    (s) =>
      `    --name=${s.name} --filename="${s.serials.map(variable).join(':')}" --size=${run.sizeMiB * s.serials.length}M --stonewall --new_group \\`,
  );
  const counted = serials.map((s, i) => `${s}:$c${i}:\${d${i}#/dev/}`).join(' ');
  const sampled = run.rampSeconds !== undefined;
  const [startSampler, stopSampler] = sampled ? [guestCpuSampler(serials.map((_, i) => `d${i}`)), GUEST_CPU_SAMPLER_STOP] : ['', ''];
  return `${lookups}
guest_counters() {
  for e in ${counted}; do
    serial=\${e%%:*}; rest=\${e#*:}; ctrl=\${rest%%:*}; ns=\${rest#*:}
    irqs=$(awk -v q="^\${ctrl}q[0-9]+$" '$NF ~ q { for (i = 2; i <= NF; i++) { if ($i !~ /^[0-9]+$/) break; t += $i } } END { print t + 0 }' /proc/interrupts)
    ios=$(awk '{ print $1 + $5 }' "/sys/block/$ns/stat")
    echo "$serial $irqs $ios"
  done >"$JOB_OUT/$1"
}
guest_counters counters.before
${startSampler}fio --name=global --ioengine=libaio --direct=1 --group_reporting --offset=0 --percentile_list=50:99 ${run.args.join(' ')} \\
${sections.join('\n')}
    --output-format=json --output="$JOB_OUT/fio.json" 2>"$JOB_OUT/fio.err"
rc=$?
${stopSampler}guest_counters counters.after
echo "fio_rc=$rc"
exit $rc`;
}

/** `serial interrupts ios` lines → counters by serial (lines that do not parse are left out). */
export function parseGuestCounters(text: string): Map<string, GuestCounters> {
  const out = new Map<string, GuestCounters>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 3 || !fields.slice(1).every((f) => /^\d+$/.test(f))) continue;
    out.set(fields[0] as string, { interrupts: Number(fields[1]), ios: Number(fields[2]) });
  }
  return out;
}

/** What the guest counted for `serials` between the two snapshots (summed), or undefined if a serial is missing. */
export function guestCountersBetween(
  before: Map<string, GuestCounters>,
  after: Map<string, GuestCounters>,
  serials: readonly string[],
): GuestCounters | undefined {
  let interrupts = 0;
  let ios = 0;
  for (const s of serials) {
    const a = before.get(s);
    const b = after.get(s);
    if (!a || !b) return undefined;
    interrupts += b.interrupts - a.interrupts;
    ios += b.ios - a.ios;
  }
  return { interrupts, ios };
}

/** Runs fio in the guest; returns the job, fio's JSON output and the guest's counters before and after. */
export async function runFio(
  guest: Guest,
  run: FioRun,
  what: string,
): Promise<{
  job: JobResult;
  json: string;
  guestBefore: Map<string, GuestCounters>;
  guestAfter: Map<string, GuestCounters>;
  /** By section name: the guest CPUs in its steady window (sections without a complete window are missing). */
  guestCpu: Map<string, GuestCpu>;
}> {
  const job = await guest.run(fioScript(run), { timeoutMs: run.timeoutMs });
  if (job.exitCode !== 0 || job.timedOut) throw jobFailure(what, job);
  const json = job.files.get('fio.json')?.toString();
  if (!json) throw jobFailure(`${what}: no fio.json`, job);
  const counters = (name: string) => parseGuestCounters(job.files.get(name)?.toString() ?? '');
  const guestCpu = new Map<string, GuestCpu>();
  if (run.rampSeconds !== undefined) {
    const samples = parseCpuSamples(job.files.get('cpu.samples')?.toString() ?? '');
    const serials = serialsOf(run);
    for (const s of run.sections) {
      const cpu = steadyWindow(samples, serials.indexOf(s.serials[0] as string), run.rampSeconds);
      if (cpu) guestCpu.set(s.name, cpu);
    }
  }
  return { job, json, guestBefore: counters('counters.before'), guestAfter: counters('counters.after'), guestCpu };
}

/** Command-line options of `npm run bench:nvme`; every bad value is a one-line {@link UsageError}. */
import { parseArgs } from 'node:util';
import { type Coalescing, parseCoalescing } from './coalescing.ts';
import { DEVICE_TARGETS, WORKLOADS } from './workloads.ts';

/** A bad command line: the message is printed as one line, without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface BenchOptions {
  /** Measured seconds per fio run (after the ramp). */
  seconds: number;
  /** fio ramp seconds per run (not measured). */
  rampSeconds: number;
  /** Rounds; every round runs every workload once on every device (order rotated per round). */
  reps: number;
  /** Namespace size and fio range per device, MiB. */
  sizeMiB: number;
  /** `--devices` names, in report order. */
  devices: string[];
  /** `--workloads` names, in run order. */
  workloads: string[];
  /** Write the per-run results and summary as JSON to this file. */
  json?: string;
  /** Write a V8 .cpuprofile of the server (this process) per workload and round to this directory. */
  profile?: string;
  /** Sample the host CPU of QEMU's threads and of the server during each run (one fio process per device). */
  hostCpu: boolean;
  /** Give the guest's vCPU 0 (where fio runs) a host CPU of its own (bench/nvme-fio/pinning.ts). */
  pin: boolean;
  /** Interrupt Coalescing the guest asks of every device (QEMU's nvme included) before the runs. */
  coalescing?: Coalescing;
  /** 'shadow-poll' tuning (shadowPoll.minIntervalUs / maxIntervalUs / idleStopUs). */
  poll: { minIntervalUs: number; maxIntervalUs: number; idleStopUs: number };
  help: boolean;
}

export const USAGE = `usage: npm run bench:nvme -- [options]
  --seconds N        measured seconds per fio run (default 5)
  --ramp N           fio ramp seconds per run, not measured (default 1)
  --reps N           rounds, ≥ 1; each runs every workload on every device, order rotated (default 3)
  --size-mib N       namespace size and fio range per device, ≥ 8 (default 64)
  --devices LIST     comma-separated, from: ${DEVICE_TARGETS.map((t) => t.key).join(', ')} (default: all; qemu is always added)
  --workloads LIST   comma-separated, from: ${WORKLOADS.map((w) => w.key).join(', ')} (default: all)
  --json FILE        write every run and the summary as JSON (for comparing runs)
  --profile DIR      write a .cpuprofile of the server per workload and round (summarise: npx tsx bench/cpu-profile-summary.ts FILE)
  --host-cpu         also report where the host's cores went during each device's runs: guest vCPUs, QEMU's
                     main loop and other threads, the server (one fio process per device, as with --profile)
  --pin              fio on the guest's vCPU 0, that vCPU's thread alone on the first host CPU, QEMU's other
                     threads and the servers on the others (libvirt's vcpupin/emulatorpin layout; ≥ 2 CPUs)
  --coalescing E,US  the guest asks every device (QEMU's nvme too) for NVMe Interrupt Coalescing before the
                     runs: an interrupt per E completions or after US µs (a multiple of 100); reset value: off
  --poll-min-us N, --poll-max-us N, --poll-idle-us N   'shadow-poll' tuning (default 50, 1000, 10000)
  --help`;

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  return n;
}

function list(name: string, raw: string | undefined, known: readonly string[]): string[] {
  if (raw === undefined) return [...known];
  const items = raw.split(',').map((s) => s.trim());
  const unknown = items.filter((s) => !known.includes(s));
  if (items.length === 0 || items.some((s) => s === '') || unknown.length > 0)
    throw new UsageError(
      `--${name} ${JSON.stringify(raw)}: ${unknown.length ? `unknown ${unknown.join(', ')}; ` : ''}expected a comma-separated list of ${known.join(', ')}`,
    );
  // Known order, without duplicates: the report reads the same whatever order was typed.
  return known.filter((k) => items.includes(k));
}

/** Parses `argv` (without node and the script). */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seconds: { type: 'string' },
        ramp: { type: 'string' },
        reps: { type: 'string' },
        'size-mib': { type: 'string' },
        devices: { type: 'string' },
        workloads: { type: 'string' },
        json: { type: 'string' },
        profile: { type: 'string' },
        'host-cpu': { type: 'boolean' },
        pin: { type: 'boolean' },
        coalescing: { type: 'string' },
        'poll-min-us': { type: 'string' },
        'poll-max-us': { type: 'string' },
        'poll-idle-us': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    // node:util's messages are one line already; keep them, drop the stack.
    throw new UsageError((e as Error).message.split('\n')[0] ?? String(e));
  }
  const str = (k: string) => values[k] as string | undefined;
  const devices = list(
    'devices',
    str('devices'),
    DEVICE_TARGETS.map((t) => t.key),
  );
  // Every ratio divides by QEMU's nvme measured in the same round.
  if (!devices.includes('qemu')) devices.push('qemu');
  const path = (k: string) => {
    const v = str(k);
    if (v !== undefined && v.trim() === '') throw new UsageError(`--${k}: expected a path`);
    return v;
  };
  const poll = {
    minIntervalUs: integer('poll-min-us', str('poll-min-us'), 50, 1, 1_000_000),
    maxIntervalUs: integer('poll-max-us', str('poll-max-us'), 1000, 1, 1_000_000),
    idleStopUs: integer('poll-idle-us', str('poll-idle-us'), 10_000, 1, 10_000_000),
  };
  if (poll.maxIntervalUs < poll.minIntervalUs)
    throw new UsageError(`--poll-max-us ${poll.maxIntervalUs} is below --poll-min-us ${poll.minIntervalUs}`);
  const options: BenchOptions = {
    seconds: integer('seconds', str('seconds'), 5, 1, 3600),
    rampSeconds: integer('ramp', str('ramp'), 1, 0, 600),
    reps: integer('reps', str('reps'), 3, 1, 100),
    sizeMiB: integer('size-mib', str('size-mib'), 64, 8, 16_384),
    devices,
    workloads: list(
      'workloads',
      str('workloads'),
      WORKLOADS.map((w) => w.key),
    ),
    poll,
    hostCpu: values['host-cpu'] === true,
    pin: values.pin === true,
    help: values.help === true,
  };
  const json = path('json');
  const profile = path('profile');
  if (json !== undefined) options.json = json;
  if (profile !== undefined) options.profile = profile;
  const coalescing = str('coalescing');
  if (coalescing !== undefined) {
    const c = parseCoalescing(coalescing);
    if (!c)
      throw new UsageError(
        `--coalescing ${JSON.stringify(coalescing)}: expected ENTRIES,MICROSECONDS — 1 to 256 entries, 100 to 25500 µs in steps of 100`,
      );
    options.coalescing = c;
  }
  return options;
}

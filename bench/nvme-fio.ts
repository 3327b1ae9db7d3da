/**
 * Benchmark: fio inside one TCG guest against four NVMe controllers below one PCIe switch
 * (rp0 → sw0 → dn0..dn3), measured one after another (never concurrently), in one run and one boot:
 *
 *   p2pkit shadow  p2pkit's NVMe controller, doorbellStrategy 'shadow' (default; Doorbell Buffer Config
 *                  advertised, so the Linux driver writes SQ tails/CQ heads to shadow slots in guest RAM
 *                  and rings the MMIO doorbell only when the EventIdx asks for it)
 *   p2pkit poll    p2pkit's NVMe controller, doorbellStrategy 'shadow-poll' (shadow doorbells as above, and
 *                  while I/O is active the controller polls the shadow SQ tails itself — next event-loop
 *                  turns backing off to 1 ms timers, and after every command retirement — stopping after
 *                  10 ms idle, keeping EventIdx out of the driver's
 *                  way, so the driver rings MMIO doorbells only when polling has stopped)
 *   p2pkit mmio    p2pkit's NVMe controller, doorbellStrategy 'mmio' (every doorbell is an MMIO write,
 *                  i.e. one vfio-user REGION_WRITE message to the TypeScript server)
 *   QEMU nvme      QEMU's own emulated nvme (in-process C, same guest, same switch) — the reference
 *
 * Workloads (libaio, direct=1, 1 job, time-based after a ramp; the range is pre-filled first with
 * sequential 128 KiB writes so reads return written data, not holes):
 *   4k-randread   4 KiB random reads, QD 32  → IOPS, clat p50/p99
 *   128k-seqread  128 KiB sequential reads, QD 8 → MB/s (10^6 B/s), clat p50/p99
 *
 * How to read the ratios (p2pkit / QEMU nvme, same workload, same guest):
 *   IOPS, MB/s   > 1 means p2pkit is faster than QEMU's nvme, < 1 slower (0.25 = a quarter of QEMU's rate).
 *   p50, p99     completion-latency ratios: > 1 means p2pkit completes I/O slower, < 1 faster.
 * The guest is TCG (no KVM) on a 2-core host, so the absolute numbers are mostly emulation cost; the
 * ratios are the point. Other guests running on the host make every number noisy — compare ratios from
 * the same run, and repeat the run before drawing conclusions from differences below ~20 %.
 *
 * Server-side counters (per measured run, deltas): NVMe `doorbellWrites` (MMIO doorbell writes seen by
 * the controller), `shadowDoorbellHits` (SQ tails found in the shadow buffer without an MMIO write),
 * I/O commands executed, interrupts raised, and the vfio-user messages the server handled, by command
 * (`rig.servers.get(id).session.stats`), and for 'shadow-poll' the controller's polls and poll stops.
 * They explain the doorbell strategy: with 'mmio' every submission and every CQ head update costs a
 * REGION_WRITE round through QEMU's vCPU thread and our event loop; with 'shadow' most of them become
 * plain guest-RAM stores; with 'shadow-poll' nearly all of them, at the price of timer polls.
 *
 * Run:  npx tsx --conditions=source bench/nvme-fio.ts
 * Env:  BENCH_SECONDS (10) measured seconds per run, BENCH_SEQ_SECONDS (= BENCH_SECONDS),
 *       BENCH_RAMP_SECONDS (2), BENCH_SIZE_MIB (64) namespace size and fio range,
 *       BENCH_RR_QD (32), BENCH_SEQ_QD (8), BENCH_POLL_MIN_US / BENCH_POLL_MAX_US / BENCH_POLL_IDLE_US
 *       ('shadow-poll' shadowPoll.minIntervalUs / maxIntervalUs / idleStopUs; controller defaults). Defaults take ≈ 2 min of wall time on a 2-core host.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@p2pkit/base';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice, type NvmeStats } from '@p2pkit/nvme';
import { boot, type Guest, type JobResult, provision, Rig } from '@p2pkit/testbed';

class BenchError extends Error {}

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`nvme-fio: ${name}=${JSON.stringify(raw)}: expected an integer ≥ ${min}`);
    process.exit(2);
  }
  return n;
}

const SECONDS = envInt('BENCH_SECONDS', 10, 1);
const SEQ_SECONDS = envInt('BENCH_SEQ_SECONDS', SECONDS, 1);
const RAMP = envInt('BENCH_RAMP_SECONDS', 2, 0);
const SIZE_MIB = envInt('BENCH_SIZE_MIB', 64, 8);
const RR_QD = envInt('BENCH_RR_QD', 32, 1);
const SEQ_QD = envInt('BENCH_SEQ_QD', 8, 1);
const POLL = {
  minIntervalUs: envInt('BENCH_POLL_MIN_US', 50, 1),
  maxIntervalUs: envInt('BENCH_POLL_MAX_US', 1000, 1),
  idleStopUs: envInt('BENCH_POLL_IDLE_US', 10_000, 1),
};
const MiB = 1 << 20;

interface Target {
  id: string;
  label: string;
  serial: string;
  nvme?: NvmeDevice;
}

interface Workload {
  key: string;
  label: string;
  fio: string;
  seconds: number;
}

const WORKLOADS: Workload[] = [
  {
    key: 'rr4k',
    label: `4k randread QD${RR_QD}`,
    fio: `--rw=randread --bs=4k --iodepth=${RR_QD} --norandommap --randrepeat=0`,
    seconds: SECONDS,
  },
  { key: 'seq128k', label: `128k seqread QD${SEQ_QD}`, fio: `--rw=read --bs=128k --iodepth=${SEQ_QD}`, seconds: SEQ_SECONDS },
];

// ---------------------------------------------------------------------------------------------- fio

interface FioResult {
  iops: number;
  mbps: number;
  /** Completion latency percentiles in microseconds (NaN when fio did not report them). */
  p50us: number;
  p99us: number;
  ios: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;

/** fio may print warnings around the JSON document (e.g. with --output-format=json on old versions). */
function extractJson(text: string, what: string): Json {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new BenchError(`${what}: no JSON object in fio output:\n${text.slice(0, 2000)}`);
  try {
    const v: unknown = JSON.parse(text.slice(start, end + 1));
    if (!isObj(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new BenchError(`${what}: cannot parse fio JSON (${(e as Error).message}):\n${text.slice(0, 2000)}`);
  }
}

function percentile(clat: Json | undefined, p: number, scaleToUs: number): number {
  const table = clat?.percentile;
  if (!isObj(table)) return Number.NaN;
  for (const [k, v] of Object.entries(table)) if (Math.abs(Number(k) - p) < 1e-6) return num(v) * scaleToUs;
  return Number.NaN;
}

function parseFio(text: string, what: string): FioResult {
  const doc = extractJson(text, what);
  const jobs = doc.jobs;
  if (!Array.isArray(jobs) || jobs.length === 0) throw new BenchError(`${what}: fio JSON has no jobs`);
  const job = jobs[0];
  if (!isObj(job)) throw new BenchError(`${what}: fio JSON job is not an object`);
  const err = num(job.error);
  if (err !== 0 && !Number.isNaN(err)) throw new BenchError(`${what}: fio job reported error ${err}`);
  const read = job.read;
  if (!isObj(read)) throw new BenchError(`${what}: fio JSON job has no "read" section`);
  const ios = num(read.total_ios) || num(read.short_ios) || 0;
  const ioBytes = num(read.io_bytes);
  if (!(ioBytes > 0)) throw new BenchError(`${what}: fio read no data (io_bytes=${String(read.io_bytes)})`);
  // fio ≥ 3 reports clat_ns; older versions clat in µs.
  const clatNs = isObj(read.clat_ns) ? read.clat_ns : undefined;
  const clatUs = !clatNs && isObj(read.clat) ? read.clat : undefined;
  const clat = clatNs ?? clatUs;
  const scale = clatNs ? 1e-3 : 1;
  const bwBytes = Number.isFinite(num(read.bw_bytes)) ? num(read.bw_bytes) : num(read.bw) * 1024;
  return {
    iops: num(read.iops),
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
      (r.dmesg ? `\n--- dmesg (tail)\n${r.dmesg.trim().split('\n').slice(-30).join('\n')}` : ''),
  );
}

async function runFio(guest: Guest, t: Target, name: string, args: string, timeoutMs: number): Promise<JobResult> {
  const script = `d=$(nvme_ns_by_serial ${t.serial}) || exit 3
fio --name=${name} --filename="$d" --ioengine=libaio --direct=1 --numjobs=1 --group_reporting \\
    --offset=0 --size=${SIZE_MIB}M --percentile_list=50:99 ${args} \\
    --output-format=json --output="$JOB_OUT/fio.json" 2>"$JOB_OUT/fio.err"
rc=$?
echo "fio_rc=$rc"
exit $rc`;
  const r = await guest.run(script, { timeoutMs });
  if (r.exitCode !== 0 || r.timedOut) throw jobFailure(`${name} on ${t.label}`, r);
  return r;
}

// ----------------------------------------------------------------------------------------- counters

interface Counters {
  nvme?: Pick<
    NvmeStats,
    'doorbellWrites' | 'shadowDoorbellHits' | 'shadowPolls' | 'shadowPollStops' | 'completionsPosted' | 'interruptsRaised'
  > & { ioCommands: number };
  messages?: Map<string, number>;
}

function snapshot(rig: Rig, t: Target): Counters {
  if (!t.nvme) return {};
  const s = t.nvme.controller.stats;
  const io = Object.values(s.ioCommands).reduce((a, b) => a + b, 0);
  return {
    nvme: {
      doorbellWrites: s.doorbellWrites,
      shadowDoorbellHits: s.shadowDoorbellHits,
      shadowPolls: s.shadowPolls,
      shadowPollStops: s.shadowPollStops,
      completionsPosted: s.completionsPosted,
      interruptsRaised: s.interruptsRaised,
      ioCommands: io,
    },
    messages: new Map(rig.servers.get(t.id)?.session?.stats ?? []),
  };
}

function delta(a: Counters, b: Counters): Counters {
  if (!a.nvme || !b.nvme) return {};
  const messages = new Map<string, number>();
  for (const [k, v] of b.messages ?? []) {
    const d = v - (a.messages?.get(k) ?? 0);
    if (d !== 0) messages.set(k, d);
  }
  return {
    nvme: {
      doorbellWrites: b.nvme.doorbellWrites - a.nvme.doorbellWrites,
      shadowDoorbellHits: b.nvme.shadowDoorbellHits - a.nvme.shadowDoorbellHits,
      shadowPolls: b.nvme.shadowPolls - a.nvme.shadowPolls,
      shadowPollStops: b.nvme.shadowPollStops - a.nvme.shadowPollStops,
      completionsPosted: b.nvme.completionsPosted - a.nvme.completionsPosted,
      interruptsRaised: b.nvme.interruptsRaised - a.nvme.interruptsRaised,
      ioCommands: b.nvme.ioCommands - a.nvme.ioCommands,
    },
    messages,
  };
}

// ---------------------------------------------------------------------------------------- formatting

const f = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-');
function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = performance.now();
  const provisioned = await provision();
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-bench-nvme-'));
  const log = recordingLogger();
  let rig: Rig | undefined;
  const targets: Target[] = [
    { id: 'nvmeShadow', label: 'p2pkit shadow', serial: 'P2PK-SHADOW' },
    { id: 'nvmePoll', label: 'p2pkit poll', serial: 'P2PK-POLL' },
    { id: 'nvmeMmio', label: 'p2pkit mmio', serial: 'P2PK-MMIO' },
    { id: 'qemu', label: 'QEMU nvme', serial: 'QEMU-NVME' },
  ];
  let guest: Guest | undefined;
  try {
    for (const [t, strategy] of [
      [targets[0], 'shadow'],
      [targets[1], 'shadow-poll'],
      [targets[2], 'mmio'],
    ] as const) {
      if (!t) continue;
      t.nvme = await createNvme({
        serial: t.serial,
        model: `p2pkit NVMe ${strategy}`,
        doorbellStrategy: strategy,
        shadowPoll: POLL,
        maxIoQueues: 8,
        namespaces: [{ path: join(dir, `${t.id}.img`), sizeBytes: SIZE_MIB * MiB }],
      });
    }
    const [shadow, poll, mmio, qemu] = targets as [Target, Target, Target, Target];
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach(shadow.id);
          sw.downstream('dn1').attach(poll.id);
          sw.downstream('dn2').attach(mmio.id);
          sw.downstream('dn3').attach(qemuNvme({ serial: qemu.serial, sizeMiB: SIZE_MIB, id: qemu.id }));
        }),
      ),
      devices: { [shadow.id]: shadow.nvme as NvmeDevice, [poll.id]: poll.nvme as NvmeDevice, [mmio.id]: mmio.nvme as NvmeDevice },
      logger: log,
    });
    const tBoot = performance.now();
    guest = await boot(rig.topology, { provisioned, waitForNvme: 4 });
    const bootS = (performance.now() - tBoot) / 1000;
    process.stderr.write(
      `[bench] guest ready in ${bootS.toFixed(1)} s; ${SIZE_MIB} MiB per namespace, ${RAMP} s ramp, ${SECONDS}/${SEQ_SECONDS} s per run; ` +
        `shadow-poll ${POLL.minIntervalUs}..${POLL.maxIntervalUs} µs, stop after ${POLL.idleStopUs} µs idle\n`,
    );

    // Pre-fill every namespace so reads hit written blocks (a hole reads back as zeros without I/O cost
    // on QEMU's sparse image, which would flatter it).
    for (const t of targets) {
      const r = await runFio(guest, t, 'prefill', '--rw=write --bs=128k --iodepth=8', 180_000);
      const doc = extractJson(r.files.get('fio.json')?.toString() ?? '', `prefill on ${t.label}`);
      const job = Array.isArray(doc.jobs) && isObj(doc.jobs[0]) ? doc.jobs[0] : undefined;
      const written = isObj(job?.write) ? num(job.write.io_bytes) : Number.NaN;
      if (num(job?.error) !== 0 || written < SIZE_MIB * MiB)
        throw new BenchError(`prefill on ${t.label}: wrote ${written} of ${SIZE_MIB * MiB} bytes`);
      process.stderr.write(`[bench] prefilled ${t.label}: ${SIZE_MIB} MiB in ${(r.durationMs / 1000).toFixed(1)} s\n`);
    }

    const results = new Map<string, { fio: FioResult; counters: Counters; wallS: number }>();
    for (const w of WORKLOADS) {
      for (const t of targets) {
        const before = snapshot(rig, t);
        const r = await runFio(
          guest,
          t,
          w.key,
          `${w.fio} --time_based --runtime=${w.seconds} --ramp_time=${RAMP}`,
          (w.seconds + RAMP) * 1000 + 90_000,
        );
        const counters = delta(before, snapshot(rig, t));
        const text = r.files.get('fio.json')?.toString();
        if (!text) throw jobFailure(`${w.key} on ${t.label}: no fio.json`, r);
        const fio = parseFio(text, `${w.key} on ${t.label}`);
        results.set(`${w.key}/${t.id}`, { fio, counters, wallS: r.durationMs / 1000 });
        process.stderr.write(`[bench] ${w.label.padEnd(18)} ${t.label.padEnd(14)} ${f(fio.iops)} IOPS ${f(fio.mbps, 1)} MB/s\n`);
      }
    }

    const get = (w: Workload, t: Target) => results.get(`${w.key}/${t.id}`) as { fio: FioResult; counters: Counters; wallS: number };

    console.log(
      `\nfio in a TCG guest (2 vCPU), libaio direct=1, 1 job, ${RAMP} s ramp, ${SIZE_MIB} MiB pre-filled range; MB/s = 10^6 B/s; clat in µs\n`,
    );
    console.log(
      table(
        ['workload', 'device', 'IOPS', 'MB/s', 'clat p50 µs', 'clat p99 µs'],
        WORKLOADS.flatMap((w) =>
          targets.map((t) => {
            const r = get(w, t).fio;
            return [`${w.label} ${w.seconds}s`, t.label, f(r.iops), f(r.mbps, 1), f(r.p50us, 1), f(r.p99us, 1)];
          }),
        ),
      ),
    );
    console.log('\nratios p2pkit / QEMU nvme (IOPS, MB/s: >1 = p2pkit faster; p50, p99 latency: >1 = p2pkit slower)\n');
    console.log(
      table(
        ['workload', 'device', 'IOPS', 'MB/s', 'p50', 'p99'],
        WORKLOADS.flatMap((w) =>
          [shadow, poll, mmio].map((t) => {
            const a = get(w, t).fio;
            const b = get(w, qemu).fio;
            return [
              w.label,
              `${t.label} / QEMU`,
              ratio(a.iops, b.iops),
              ratio(a.mbps, b.mbps),
              ratio(a.p50us, b.p50us),
              ratio(a.p99us, b.p99us),
            ];
          }),
        ),
      ),
    );
    console.log('\nserver-side counters per measured run (ramp included; per cmd = per I/O command the controller executed)\n');
    console.log(
      table(
        [
          'workload',
          'device',
          'io cmds',
          'MMIO doorbells',
          '/cmd',
          'shadow hits',
          '/cmd',
          'polls',
          '/cmd',
          'poll stops',
          'irqs',
          '/cmd',
          'vfio-user msgs',
          '/cmd',
        ],
        WORKLOADS.flatMap((w) =>
          [shadow, poll, mmio].map((t) => {
            const c = get(w, t).counters;
            const n = c.nvme;
            if (!n) return [w.label, t.label, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
            const msgs = [...(c.messages ?? new Map<string, number>()).values()].reduce((a, b) => a + b, 0);
            const per = (v: number) => (n.ioCommands > 0 ? (v / n.ioCommands).toFixed(3) : '-');
            return [
              w.label,
              t.label,
              String(n.ioCommands),
              String(n.doorbellWrites),
              per(n.doorbellWrites),
              String(n.shadowDoorbellHits),
              per(n.shadowDoorbellHits),
              String(n.shadowPolls),
              per(n.shadowPolls),
              String(n.shadowPollStops),
              String(n.interruptsRaised),
              per(n.interruptsRaised),
              String(msgs),
              per(msgs),
            ];
          }),
        ),
      ),
    );
    console.log('\nvfio-user messages handled by the server, by command (per measured run)');
    for (const w of WORKLOADS) {
      for (const t of [shadow, poll, mmio]) {
        const m = get(w, t).counters.messages ?? new Map<string, number>();
        const parts = [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`);
        console.log(`  ${w.label.padEnd(18)} ${t.label.padEnd(14)} ${parts.join(' ') || '(none)'}`);
      }
    }
    const issues = log.entries.filter((e) => e.channel !== 'info');
    if (issues.length) {
      console.log(`\nlog entries on guest/client/device channels: ${issues.length}`);
      for (const e of issues.slice(0, 10))
        console.log(
          `  ${e.channel}: ${e.message} ${e.detail ? JSON.stringify(e.detail, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)) : ''}`,
        );
    }
    console.log(
      `\nwall time ${((performance.now() - t0) / 1000).toFixed(1)} s (boot ${bootS.toFixed(1)} s); other guests on this host make these numbers noisy`,
    );
    if (log.entries.some((e) => e.channel === 'device')) throw new BenchError('device-bug log entries during the run (see above)');
  } finally {
    await guest?.shutdown().catch(() => {});
    rig?.close();
    for (const t of targets) await t.nvme?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof BenchError ? `nvme-fio: ${e.message}` : e);
    process.exit(1);
  },
);

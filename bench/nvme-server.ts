/**
 * Benchmark: p2pkit's NVMe controller without a guest — the TypeScript NVMe driver of
 * `@p2pkit/nvme/testing` against the controller over a real UNIX socket (vfio-user), guest RAM a
 * DMA_MAPped memfd, doorbellStrategy 'shadow-poll' with Doorbell Buffer Config (so the driver writes
 * doorbells to guest RAM and the controller polls them: no REGION_WRITE per command), all in ONE
 * process on ONE core (driver and server share the event loop, so every figure includes the
 * driver's own cost — the server alone is faster than this); ctrl-Nw alone moves the controllers
 * to worker threads.
 *
 * Workloads (random offsets in a pre-filled namespace, QD 32 unless said otherwise):
 *   4k-mem      4 KiB reads, namespace image on tmpfs (/dev/shm) → IOPS, p50/p99 latency
 *   4k-file     4 KiB reads, namespace image on the disk filesystem (page-cache resident)
 *   128k-mem    128 KiB reads, QD 8, tmpfs image → GB/s (10^9 B/s), ratio to memcpy
 *   128k-scattered  the same with every buffer made of 32 separate pages, as a guest's are (one
 *               PRP list entry and one data segment per page: preadv in one call, or 32 reads)
 *   *-copy      the same with the data path before zero-copy (a promise read of the image into a
 *               Buffer on the thread pool, then a copy to the host pages): before/after in one run
 *   ctrl-N      N controllers (1, 2, 4, 8) served by this one process, 4 KiB reads QD 32 each,
 *               tmpfs images → aggregate IOPS and the worst per-device p99
 *   ctrl-Nw     the same load with each controller served from its own worker thread
 *               (`startNvmeWorkerHarness`); the N drivers stay on the main thread. Reported with
 *               the ratio to ctrl-N inside each repetition (this checkout only: no @baseline twin)
 * Device workloads also report cpuUsPerCmd: this process's CPU time (driver + controller, all
 * threads) per command, the figure other processes' load disturbs least.
 *   memcpy      Buffer.copy of 128 KiB blocks (distinct source/target, cycling over 32 MiB) →
 *               GB/s: the bandwidth ceiling of this machine measured in the same run
 *
 * Every workload runs `--reps` times (default 3), rounds interleaved (rep 1 of all workloads, then
 * rep 2, …), so load from other processes spreads across all of them; reported: median, min–max,
 * and ratios taken inside each repetition (128 KiB ÷ memcpy; X ÷ X@baseline).
 * `--baseline <checkout>` also runs every selected device workload against another checkout's
 * controller and driver (`<name>@baseline`, right after its twin): before/after of a change in one
 * process and one run.
 *
 * Run:  npm run bench:server [-- --seconds 3 --reps 3 --only 4k-mem,128k-mem --json]
 * `--poll-us N` fixes the controllers' shadow-doorbell poll interval (no backoff; < 1000 polls on
 * every event-loop turn), e.g. to see what the adaptive backoff costs a controller alone on a thread.
 * Profile: node --cpu-prof --cpu-prof-dir=.tmp/prof --import tsx --conditions=source bench/nvme-server.ts --only 4k-mem --reps 1
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { IoOpcode } from '@p2pkit/nvme';
import type { NvmeHarness, NvmeHarnessOptions } from '@p2pkit/nvme/testing';
import * as current from '@p2pkit/nvme/testing';

function parseFlags() {
  return parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      reps: { type: 'string', default: '3' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      'size-mib': { type: 'string', default: '64' },
      /**
       * The controllers' shadow-doorbell poll interval, µs (min = max, so no backoff): below 1000 every
       * poll runs on the next event-loop turn. Default: the controller's adaptive 50–1000 µs.
       */
      'poll-us': { type: 'string' },
      /** Writes a .cpuprofile of the measured part of each run (no start-up, no warm-up) to this directory. */
      profile: { type: 'string' },
      /**
       * Another checkout of p2pkit (its own node_modules/@p2pkit links): every selected workload also
       * runs against that checkout's controller and driver, as `<name>@baseline`, interleaved in this
       * process — before/after of a change in one run.
       */
      baseline: { type: 'string' },
    },
  });
}
/** A bad flag is a one-line error and exit status 2, not a stack trace. */
function flagsOrExit(): ReturnType<typeof parseFlags>['values'] {
  try {
    return parseFlags().values;
  } catch (e) {
    process.stderr.write(
      `bench:server: ${(e as Error).message} (flags: --seconds --reps --only --json --size-mib --poll-us --profile --baseline)\n`,
    );
    process.exit(2);
  }
}
const args = flagsOrExit();
/** The parts of `@p2pkit/nvme/testing` the bench uses (this checkout's, or a baseline's). */
type Testing = Pick<typeof current, 'startNvmeHarness' | 'prpsFor'>;
const baseline: Testing | undefined = args.baseline
  ? ((await import(join(resolve(args.baseline), 'packages/nvme/src/testing/index.ts'))) as Testing)
  : undefined;
const SECONDS = Number(args.seconds);
const REPS = Number(args.reps);
const NS_BYTES = Number(args['size-mib']) << 20;
const POLL_US = args['poll-us'] === undefined ? undefined : Number(args['poll-us']);
if (POLL_US !== undefined && !(POLL_US > 0 && POLL_US <= 1_000_000)) {
  process.stderr.write(`bench:server: --poll-us must be a number of µs in (0, 1000000], got ${args['poll-us']}\n`);
  process.exit(2);
}

interface Result {
  ops: number;
  bytes: number;
  seconds: number;
  p50us: number;
  p99us: number;
}

const debug = (m: string) => {
  if (process.env.BENCH_DEBUG) console.error(`[${(performance.now() / 1000).toFixed(3)}] ${m}`);
};
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/** A served controller with one namespace (pre-filled image at `imagePath`) and I/O queue 1 on shadow doorbells. */
interface Rig {
  /** The host side (the controller in this thread, or on a worker thread). */
  h: Pick<NvmeHarness, 'driver' | 'close'>;
  /** The controller's counters, for diagnostics (unreachable when it runs on a worker thread). */
  stats(): unknown;
  /** One data buffer per queue slot, with its PRPs built once (a PRP list per buffer when needed). */
  buffers: { prp1: bigint; prp2?: bigint }[];
}

/** How a rig is built: which checkout, the pre-zero-copy data path, buffers as scattered pages. */
interface Variant {
  testing: Testing;
  copyPath?: boolean;
  /** Each buffer is every other 4 KiB page of a larger area, as a guest's pages are (one segment per page). */
  scattered?: boolean;
  /** The controller on its own worker thread (this checkout's `startNvmeWorkerHarness`). */
  worker?: boolean;
}

/** PRPs of a buffer of `bytes` made of every other page of a fresh area (PRP list when > 2 pages). */
function scatteredPrps(memory: NvmeHarness['driver']['memory'], bytes: number): Rig['buffers'][number] {
  const pages = bytes / 4096;
  const base = memory.alloc(2 * bytes);
  const page = (i: number) => base + BigInt(2 * i * 4096);
  if (pages === 1) return { prp1: base };
  if (pages === 2) return { prp1: base, prp2: page(1) };
  const list = memory.alloc(4096);
  const entries = memory.dataView(list, 4096);
  for (let i = 1; i < pages; i++) entries.setBigUint64((i - 1) * 8, page(i), true);
  return { prp1: base, prp2: list };
}

async function rig(directory: string, name: string, qd: number, blockBytes: number, variant: Variant): Promise<Rig> {
  const { testing, copyPath, scattered, worker } = variant;
  const imagePath = join(directory, `${name}.raw`);
  const fill = Buffer.alloc(NS_BYTES);
  for (let i = 0; i < NS_BYTES; i += 4096) fill.writeUInt32LE(i >>> 12, i);
  writeFileSync(imagePath, fill);
  debug(`rig ${name}`);
  const options = {
    namespaces: [{ path: imagePath, lbaSize: 4096 as const }],
    doorbellStrategy: 'shadow-poll',
    shadowPoll: { idleStopUs: 1_000_000, ...(POLL_US === undefined ? {} : { minIntervalUs: POLL_US, maxIntervalUs: POLL_US }) },
    memory: { size: 64 << 20 },
  } satisfies NvmeHarnessOptions;
  let h: Rig['h'];
  let stats: Rig['stats'];
  if (worker) {
    h = await current.startNvmeWorkerHarness(options);
    stats = () => 'on its worker thread';
  } else {
    const local = await testing.startNvmeHarness(options);
    // The data path before zero-copy (for before/after in one run): image → Buffer by a promise read
    // on the thread pool, then copied to the host pages.
    if (copyPath) local.controller.transfer.views = () => undefined;
    h = local;
    stats = () => local.controller.stats;
  }
  debug('enable');
  await h.driver.enable();
  await h.driver.setFeatures(7, 0x00030003);
  await h.driver.configureShadowDoorbells();
  await h.driver.createQueuePair(1, 128);
  debug('ready');
  const buffers = Array.from({ length: qd }, () =>
    scattered
      ? scatteredPrps(h.driver.memory, blockBytes)
      : testing.prpsFor(h.driver.memory, h.driver.memory.alloc(blockBytes), blockBytes),
  );
  return { h, stats, buffers };
}

/** Random reads of `blockBytes` at queue depth `qd` on each rig for `seconds`; one shared event loop. */
async function readLoad(rigs: Rig[], blockBytes: number, seconds: number): Promise<Result[]> {
  const blocks = NS_BYTES / 4096;
  const perCmd = blockBytes / 4096;
  const end = performance.now() + seconds * 1000;
  return Promise.all(
    rigs.map(async ({ h, stats, buffers }) => {
      const { driver } = h;
      const started = new Map<number, { t: number; buf: Rig['buffers'][number] }>();
      const lat: number[] = [];
      let ops = 0;
      let turns = 0;
      let unrung = 0;
      let lastCompletion = performance.now();
      const submit = (buf: Rig['buffers'][number]) => {
        const slba = Math.floor(Math.random() * (blocks / perCmd)) * perCmd;
        // No object spread here: one that adds and overrides properties measured ~2.5 µs in Node 20.
        const cid = driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buf.prp1, prp2: buf.prp2, cdw10: slba, cdw12: perCmd - 1 });
        started.set(cid, { t: performance.now(), buf });
      };
      for (const b of buffers) submit(b);
      await driver.ringSqTail(1);
      const t0 = performance.now();
      let stop = false;
      while (started.size > 0) {
        let reaped = 0;
        while (driver.hasCompletion(1)) {
          const c = await driver.reap(1, { ringCqHead: false });
          const s = started.get(c.cid);
          if (!s) throw new Error(`unexpected cid ${c.cid}`);
          if (c.status !== 0) throw new Error(`read failed: status 0x${c.status.toString(16)}`);
          started.delete(c.cid);
          const now = performance.now();
          lat.push(now - s.t);
          lastCompletion = now;
          ops++;
          reaped++;
          if (!stop && now >= end) stop = true;
          if (!stop) {
            submit(s.buf);
            unrung++;
          }
        }
        if (reaped > 0) {
          await driver.ringCqHead(1);
          // Ring for what was resubmitted, even when the run ended half-way through this batch.
          if (unrung > 0) await driver.ringSqTail(1);
          unrung = 0;
        } else {
          turns++;
          if (performance.now() - lastCompletion > 10_000) {
            throw new Error(`no completion for 10 s with ${started.size} commands outstanding: ${JSON.stringify(stats())}`);
          }
          await nextTurn();
        }
      }
      const elapsed = (performance.now() - t0) / 1000;
      if (process.env.BENCH_DEBUG) console.error({ mmio: driver.mmioDoorbellWrites, turns, stats: stats() });
      const sorted = Float64Array.from(lat).sort();
      return {
        ops,
        bytes: ops * blockBytes,
        seconds: elapsed,
        p50us: percentile(sorted, 0.5) * 1000,
        p99us: percentile(sorted, 0.99) * 1000,
      };
    }),
  );
}

function memcpy(seconds: number, blockBytes: number): number {
  const src = Buffer.alloc(32 << 20, 1);
  const dst = Buffer.alloc(32 << 20);
  const n = src.length / blockBytes;
  let bytes = 0;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 64; k++) {
      const off = ((i * 7919) % n) * blockBytes; // not the same block twice in a row
      src.copy(dst, ((i + n / 2) % n) * blockBytes, off, off + blockBytes);
      i++;
      bytes += blockBytes;
    }
  }
  return bytes / ((performance.now() - t0) / 1000) / 1e9;
}

/**
 * CPU time (user + system) of this process: per command it is the figure the load of other
 * processes disturbs least (wall-clock rates and profiles count the time the process waits for a core).
 */
const cpuUs = (u: NodeJS.CpuUsage) => u.user + u.system;

type Workload = { name: string; run: () => Promise<Record<string, number>> };

let profiled = 0;
/** Runs `f` under the V8 CPU profiler when --profile is given. */
async function profiling<T>(name: string, f: () => Promise<T>): Promise<T> {
  if (!args.profile) return f();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  try {
    return await f();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(args.profile, { recursive: true });
    writeFileSync(join(args.profile, `${name}.${profiled++}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

async function withRigs<T>(
  count: number,
  dir: string,
  qd: number,
  blockBytes: number,
  f: (r: Rig[]) => Promise<T>,
  variant: Variant,
): Promise<T> {
  const rigs: Rig[] = [];
  try {
    for (let i = 0; i < count; i++) rigs.push(await rig(dir, `ns${i}`, qd, blockBytes, variant));
    await readLoad(rigs, blockBytes, Math.min(0.3, SECONDS)); // warm-up
    return await f(rigs);
  } finally {
    for (const r of rigs) {
      debug('closing');
      await r.h.close();
      debug('closed');
    }
  }
}

async function main(): Promise<void> {
  const shmDir = await mkdtemp('/dev/shm/p2pkit-bench-');
  const diskDir = await mkdtemp(join(process.cwd(), '.bench-nvme-server-'));
  const iops = (count: number, dir: string, variant: Variant, label: string) => () =>
    withRigs(
      count,
      dir,
      32,
      4096,
      async (rigs) => {
        const cpu = process.cpuUsage();
        const rs = await profiling(label, () => readLoad(rigs, 4096, SECONDS));
        const total = rs.reduce((a, r) => a + r.ops / r.seconds, 0);
        return {
          iops: total,
          p50us: Math.max(...rs.map((r) => r.p50us)),
          p99us: Math.max(...rs.map((r) => r.p99us)),
          cpuUsPerCmd: cpuUs(process.cpuUsage(cpu)) / rs.reduce((a, r) => a + r.ops, 0),
        };
      },
      variant,
    );
  const bandwidth = (variant: Variant, label: string) => () =>
    withRigs(
      1,
      shmDir,
      8,
      128 << 10,
      async (rigs) => {
        const cpu = process.cpuUsage();
        const [r] = (await profiling(label, () => readLoad(rigs, 128 << 10, SECONDS))) as [Result];
        return { gbps: r.bytes / r.seconds / 1e9, p50us: r.p50us, p99us: r.p99us, cpuUsPerCmd: cpuUs(process.cpuUsage(cpu)) / r.ops };
      },
      variant,
    );
  /** The device workloads against one checkout; `suffix` names the baseline's. */
  const deviceWorkloads = (testing: Testing, suffix: string): Workload[] => [
    { name: `4k-mem${suffix}`, run: iops(1, shmDir, { testing }, `4k-mem${suffix}`) },
    { name: `4k-file${suffix}`, run: iops(1, diskDir, { testing }, `4k-file${suffix}`) },
    { name: `4k-mem-copy${suffix}`, run: iops(1, shmDir, { testing, copyPath: true }, `4k-mem-copy${suffix}`) },
    { name: `128k-mem${suffix}`, run: bandwidth({ testing }, `128k-mem${suffix}`) },
    { name: `128k-scattered${suffix}`, run: bandwidth({ testing, scattered: true }, `128k-scattered${suffix}`) },
    { name: `128k-mem-copy${suffix}`, run: bandwidth({ testing, copyPath: true }, `128k-mem-copy${suffix}`) },
    ...[1, 2, 4, 8].map((n) => ({ name: `ctrl-${n}${suffix}`, run: iops(n, shmDir, { testing }, `ctrl-${n}${suffix}`) })),
  ];
  /** ctrl-N with each controller on its own worker thread, keyed by the ctrl-N it follows. */
  const threaded = new Map(
    [1, 2, 4, 8].map((n) => [`ctrl-${n}`, { name: `ctrl-${n}w`, run: iops(n, shmDir, { testing: current, worker: true }, `ctrl-${n}w`) }]),
  );
  // A baseline's workload, and a threaded one, run right after its twin, so they see the same load.
  const ours = deviceWorkloads(current, '');
  const theirs = baseline ? deviceWorkloads(baseline, '@baseline') : [];
  const workloads: Workload[] = [
    { name: 'memcpy', run: async () => ({ gbps: memcpy(Math.min(1, SECONDS), 128 << 10) }) },
    ...ours.flatMap((w, i) => [w, ...(theirs[i] ? [theirs[i]] : []), ...[threaded.get(w.name)].filter((t) => t !== undefined)]),
  ];
  const only = args.only?.split(',');
  const selected = workloads.filter((w) => !only || only.includes(w.name.replace(/@baseline$/, '')));
  const samples = new Map<string, Record<string, number>[]>();
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const w of selected) {
        const r = await w.run();
        samples.set(w.name, [...(samples.get(w.name) ?? []), r]);
        console.error(
          `rep ${rep + 1}/${REPS} ${w.name}: ${JSON.stringify(r, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v))}`,
        );
      }
    }
  } finally {
    await rm(shmDir, { recursive: true, force: true });
    await rm(diskDir, { recursive: true, force: true });
  }
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)] as number, min: s[0] as number, max: s[s.length - 1] as number };
  };
  const summary: Record<string, Record<string, { median: number; min: number; max: number }>> = {};
  for (const [name, rs] of samples) {
    summary[name] = {};
    for (const key of Object.keys(rs[0] ?? {})) (summary[name] as Record<string, unknown>)[key] = stat(rs.map((r) => r[key] as number));
  }
  // Ratios inside each repetition (the same rep's numbers, so the load they saw is comparable).
  const perRep = (a: string, b: string, metric: string): number[] => {
    const xs = samples.get(a);
    const ys = samples.get(b);
    if (!xs || !ys) return [];
    return xs.flatMap((x, i) => {
      const y = ys[i]?.[metric === 'memcpy' ? 'gbps' : metric];
      const v = x[metric === 'memcpy' ? 'gbps' : metric];
      return v !== undefined && y ? [v / y] : [];
    });
  };
  const ratios: Record<string, { median: number; min: number; max: number; reps: number[] }> = {};
  for (const name of ['128k-mem', '128k-scattered', '128k-mem-copy', '128k-mem@baseline', '128k-scattered@baseline']) {
    const rs = perRep(name, 'memcpy', 'memcpy');
    if (rs.length) ratios[`${name} GB/s ÷ memcpy GB/s`] = { ...stat(rs), reps: rs };
  }
  for (const name of samples.keys()) {
    if (name.endsWith('@baseline') || name === 'memcpy') continue;
    for (const metric of [name.startsWith('128k') ? 'gbps' : 'iops', 'cpuUsPerCmd']) {
      const rs = perRep(name, `${name}@baseline`, metric);
      if (rs.length) ratios[`${name} ÷ ${name}@baseline (${metric})`] = { ...stat(rs), reps: rs };
    }
  }
  for (const n of [1, 2, 4, 8]) {
    for (const metric of ['iops', 'cpuUsPerCmd']) {
      const rs = perRep(`ctrl-${n}w`, `ctrl-${n}`, metric);
      if (rs.length) ratios[`ctrl-${n}w ÷ ctrl-${n} (${metric})`] = { ...stat(rs), reps: rs };
    }
  }
  const memcpyGbps = summary.memcpy?.gbps?.median;
  const readGbps = summary['128k-mem']?.gbps?.median;
  const ratio = memcpyGbps && readGbps ? readGbps / memcpyGbps : undefined;
  const copyGbps = summary['128k-mem-copy']?.gbps?.median;
  const copyRatio = memcpyGbps && copyGbps ? copyGbps / memcpyGbps : undefined;
  const iopsGain = (summary['4k-mem']?.iops?.median ?? Number.NaN) / (summary['4k-mem-copy']?.iops?.median ?? Number.NaN);
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          seconds: SECONDS,
          reps: REPS,
          nsBytes: NS_BYTES,
          summary,
          ratio128kToMemcpy: ratio,
          ratio128kCopyPathToMemcpy: copyRatio,
          iops4kZeroCopyOverCopyPath: iopsGain,
          ratios,
          samples: Object.fromEntries(samples),
        },
        null,
        2,
      ),
    );
    return;
  }
  const fmt = (v: number) => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3));
  console.log(`\n${SECONDS} s per run, ${REPS} interleaved reps: median (min–max)\n`);
  console.log('| workload | metric | median | min–max |');
  console.log('|---|---|---|---|');
  for (const [name, metrics] of Object.entries(summary)) {
    for (const [metric, s] of Object.entries(metrics))
      console.log(`| ${name} | ${metric} | ${fmt(s.median)} | ${fmt(s.min)}–${fmt(s.max)} |`);
  }
  if (Object.keys(ratios).length) {
    console.log('\nRatios within each repetition: median (min–max) [per rep]\n');
    for (const [k, r] of Object.entries(ratios))
      console.log(
        `- ${k}: ${r.median.toFixed(3)} (${r.min.toFixed(3)}–${r.max.toFixed(3)}) [${r.reps.map((x) => x.toFixed(3)).join(', ')}]`,
      );
  }
  if (ratio !== undefined) console.log(`\n128 KiB read GB/s / memcpy GB/s (medians) = ${ratio.toFixed(3)}`);
  if (copyRatio !== undefined) console.log(`128 KiB read GB/s (copy path) / memcpy GB/s = ${copyRatio.toFixed(3)}`);
  if (Number.isFinite(iopsGain)) console.log(`4 KiB IOPS zero-copy / copy path = ${iopsGain.toFixed(2)}`);
}

await main();

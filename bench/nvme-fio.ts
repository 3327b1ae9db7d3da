/**
 * Benchmark: fio inside one TCG guest against p2pkit NVMe controllers and QEMU's own nvme (the
 * reference), all below one PCIe switch, in one boot, measured one run at a time (never concurrently).
 *
 * Devices (`--devices`; bench/nvme-fio/workloads.ts):
 *   shadow   p2pkit, doorbellStrategy 'shadow' (the default: Doorbell Buffer Config, so the Linux driver
 *            writes SQ tails/CQ heads to shadow slots in guest RAM and rings the MMIO doorbell only
 *            when the EventIdx asks for it)
 *   poll     p2pkit, 'shadow-poll' (while I/O is active the controller polls the shadow SQ tails itself
 *            and keeps EventIdx out of the driver's way)
 *   mmio     p2pkit, 'mmio' (every doorbell is an MMIO write: one vfio-user REGION_WRITE to the server)
 *   cmb      p2pkit, 'shadow' with a 16 MiB Controller Memory Buffer: the Linux driver puts its I/O
 *            SQs there, so every SQ entry it writes is an MMIO write into the BAR (checked: the run
 *            fails if the controller saw no SQ created in its CMB)
 *   cmb-poll the same CMB with 'shadow-poll': QEMU sends every BAR write of a device with an
 *            mmappable BAR synchronously, so a doorbell the controller does not need is a round
 *            trip the vCPU does not wait for
 *   qemu     QEMU's in-process C nvme, same guest, same switch: every ratio divides by it
 *
 * Workloads (`--workloads`; libaio, direct=1, time-based after a ramp, on a range pre-filled with
 * sequential 128 KiB writes so reads return written data, not holes):
 *   4k-randread-qd1, 4k-randread-qd32, 4k-randwrite-qd32   → IOPS, clat p50/p99
 *   128k-read-qd8, 128k-write-qd8 (sequential)             → MB/s (10^6 B/s), clat p50/p99
 *   4k-randread-qd32-2dev-1job / -4job   1 or 4 fio jobs, each spreading its I/O over two devices
 *            (a second 'shadow' controller, a second QEMU nvme): how the cost grows with work
 *
 * Repetition: `--reps` rounds (default 3); in round r every workload runs once on every device, the
 * device order rotated by r, so background load and guest state drift spread over all devices.
 * Reported: median (min–max) over the rounds of IOPS, MB/s, p50/p99 completion latency, and the
 * ratio to QEMU nvme as the median of per-round ratios (a ratio of numbers measured seconds apart).
 * IOPS, MB/s ratios > 1 mean p2pkit is faster; latency ratios > 1 mean p2pkit is slower. The guest
 * is TCG on a busy host: absolute numbers are mostly emulation cost, the ratios are the point.
 *
 * Server-side counters (p2pkit devices; summed over rounds, per I/O command): MMIO doorbell writes,
 * shadow-doorbell hits, 'shadow-poll' polls, interrupts, and the vfio-user messages the server handled.
 *
 * Run:  npm run bench:nvme [-- --seconds 5 --reps 3 --devices shadow,cmb --workloads 4k-randread-qd32 --json out.json]
 *       npm run bench:nvme -- --help   (all options; bench/nvme-fio/args.ts)
 * Profile the server (it runs in this process): --profile <dir> runs one fio process per device and
 * writes a .cpuprofile of each; the report then adds the server's CPU and event-loop time per I/O command.
 * Where the host's cores go: --host-cpu (also one fio process per device) samples QEMU's threads and
 * this process during each run and reports the share of a core of the guest's vCPUs, QEMU's main
 * loop, QEMU's other threads and the server, and their CPU µs per I/O command.
 * --pin gives the guest's vCPU 0 (fio's) a host CPU of its own, the rest of QEMU and the servers the
 * other CPUs (bench/nvme-fio/pinning.ts): the same layout for every device.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogDetail, type RecordingLogger, recordingLogger } from '@p2pkit/base';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { threadAffinity } from '@p2pkit/native';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { boot, type Guest, provision, Rig } from '@p2pkit/testbed';
import { type BenchOptions, parseBenchArgs, USAGE, UsageError } from './nvme-fio/args.ts';
import { describeCoalescing, requestCoalescing } from './nvme-fio/coalescing.ts';
import { accumulate, type Counters, difference, emptyCounters, snapshot } from './nvme-fio/counters.ts';
import { BenchError, guestCountersBetween, parseFio, runFio } from './nvme-fio/fio.ts';
import { type HostCpu, withHostCpu } from './nvme-fio/host-cpu.ts';
import { applyPinning, currentPinLayout, describePinning, FIO_PIN_ARGS } from './nvme-fio/pinning.ts';
import { profiled } from './nvme-fio/profile.ts';
import { formatReport, type RunRecord, summarise } from './nvme-fio/report.ts';
import { rotated } from './nvme-fio/statistics.ts';
import {
  DEVICE_TARGETS,
  type DeviceSpec,
  fioWorkloadArgs,
  pairOf,
  type Target,
  WORKLOADS,
  type Workload,
  writes,
} from './nvme-fio/workloads.ts';

const MiB = 1 << 20;
/** Guest-side slack per fio run beyond ramp + runtime (job start, fio start-up, a loaded host). */
const RUN_SLACK_MS = 90_000;
/** Typical host seconds from sending a fio job to the guest to fio's first I/O, and back from its end. */
const FIO_START_S = 8;
/** --host-cpu sampling period: a 5 s run gives ~10 samples of its steady state. */
const HOST_CPU_PERIOD_MS = 500;

function plan(o: BenchOptions) {
  const singles = DEVICE_TARGETS.filter((t) => o.devices.includes(t.key));
  const pairs = singles.map(pairOf).filter((t): t is Target => t !== undefined);
  const workloads = WORKLOADS.filter((w) => o.workloads.includes(w.key));
  const targetsOf = (w: Workload): readonly Target[] => (w.devicesPerTarget === 1 ? singles : pairs);
  const devices = new Map<string, DeviceSpec>();
  for (const w of workloads) for (const t of targetsOf(w)) for (const d of t.devices) devices.set(d.id, d);
  return { workloads, targetsOf, devices: [...devices.values()] };
}

async function main(o: BenchOptions): Promise<void> {
  const t0 = performance.now();
  const { workloads, targetsOf, devices } = plan(o);
  const runs = workloads.reduce((n, w) => n + targetsOf(w).length, 0) * o.reps;
  // Each fio process costs a few seconds of start-up in a TCG guest on a loaded host.
  const perDevice = o.profile !== undefined || o.hostCpu;
  const fioProcesses = perDevice ? runs : workloads.length * o.reps;
  const estimateS = runs * (o.seconds + o.rampSeconds) + fioProcesses * FIO_START_S;
  process.stderr.write(
    `[bench] ${devices.length} devices, ${workloads.length} workloads, ${runs} runs of ${o.rampSeconds}+${o.seconds} s ` +
      `(≈ ${Math.ceil(estimateS / 60)} min plus boot and pre-fill)\n`,
  );
  const layout = o.pin ? currentPinLayout() : undefined;
  if (o.pin && !layout)
    throw new BenchError(`--pin needs at least 2 host CPUs this process may use; it has ${threadAffinity(0).join(',')}`);
  const provisioned = await provision();
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-bench-nvme-'));
  const log = recordingLogger();
  const served = new Map<string, NvmeDevice>();
  let rig: Rig | undefined;
  let guest: Guest | undefined;
  try {
    for (const d of devices) {
      if (d.kind !== 'p2pkit') continue;
      served.set(
        d.id,
        await createNvme({
          serial: d.serial,
          model: `p2pkit NVMe ${d.strategy}${d.cmbMiB ? ' CMB' : ''}`,
          doorbellStrategy: d.strategy,
          shadowPoll: o.poll,
          maxIoQueues: 8,
          namespaces: [{ path: join(dir, `${d.id}.img`), sizeBytes: o.sizeMiB * MiB }],
          ...(d.cmbMiB ? { cmb: { size: d.cmbMiB * MiB } } : {}),
        }),
      );
    }
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          devices.forEach((d, i) => {
            sw.downstream(`dn${i}`).attach(d.kind === 'qemu' ? qemuNvme({ serial: d.serial, sizeMiB: o.sizeMiB, id: d.id }) : d.id);
          });
        }),
      ),
      devices: Object.fromEntries(served),
      logger: log,
    });
    const tBoot = performance.now();
    guest = await boot(rig.topology, { provisioned, waitForNvme: devices.length });
    const bootS = (performance.now() - tBoot) / 1000;
    process.stderr.write(`[bench] guest ready in ${bootS.toFixed(1)} s\n`);
    const qemuPid = guest.process.pid;
    const pin = () => {
      if (!layout) return;
      if (qemuPid === undefined || applyPinning(qemuPid, layout) !== 1)
        throw new BenchError('--pin: found no QEMU thread named "CPU 0/TCG" to pin');
    };
    pin();
    if (layout) process.stderr.write(`[bench] ${describePinning(layout)}\n`);

    // Pre-fill every namespace so reads hit written blocks (a hole reads back as zeros without I/O
    // cost on QEMU's sparse image, which would flatter it).
    const prefill = await runFio(
      guest,
      {
        sections: devices.map((d) => ({ name: d.id, serials: [d.serial] })),
        sizeMiB: o.sizeMiB,
        args: ['--rw=write', '--bs=128k', '--iodepth=8'],
        timeoutMs: 600_000 + devices.length * 60_000,
      },
      'prefill',
    );
    for (const d of devices) parseFio(prefill.json, `prefill on ${d.serial}`, 'write', d.id);
    process.stderr.write(`[bench] prefilled ${devices.length} × ${o.sizeMiB} MiB in ${(prefill.job.durationMs / 1000).toFixed(1)} s\n`);
    const coalescing = o.coalescing
      ? describeCoalescing(
          o.coalescing,
          await requestCoalescing(
            guest,
            devices.map((d) => ({ serial: d.serial, mustTake: d.kind === 'p2pkit' })),
            o.coalescing,
          ),
        )
      : undefined;
    if (coalescing) process.stderr.write(`[bench] ${coalescing}\n`);
    for (const d of devices) {
      const stats = served.get(d.id)?.controller.stats;
      if (d.cmbMiB && stats && stats.ioSqCreatedInCmb === 0)
        throw new BenchError(`${d.serial}: the guest driver created no I/O SQ in the CMB (${stats.ioSqCreated} SQs in host memory)`);
    }

    const counters = (t: Target): Counters | undefined => {
      const own = t.devices.filter((d) => served.has(d.id));
      if (own.length === 0 || !rig) return undefined;
      const r = rig;
      return own.reduce((acc, d) => accumulate(acc, snapshot(r, d.id, served.get(d.id) as NvmeDevice)), emptyCounters());
    };
    const records: RunRecord[] = [];
    for (let round = 0; round < o.reps; round++) {
      for (const w of workloads) {
        // One fio process per workload and round, one stonewalled section per device in this round's
        // order; p2pkit counters only move while their own device's section runs, so the deltas over
        // the whole fio run are that section's. Profiling runs one fio process per device instead, so
        // every profile (and the server CPU time taken from it) covers one device.
        const order = rotated(targetsOf(w), round);
        const batches = perDevice ? order.map((t) => [t]) : [order];
        for (const batch of batches) {
          const before = batch.map(counters);
          const what = `${w.key} (round ${round + 1})`;
          const g = guest;
          const profileName = `${w.key}.${batch.map((t) => t.key).join('-')}.r${round + 1}`;
          const fio = () =>
            runFio(
              g,
              {
                sections: batch.map((t) => ({ name: t.key, serials: t.devices.map((d) => d.serial) })),
                sizeMiB: o.sizeMiB,
                args: [
                  ...fioWorkloadArgs(w),
                  ...(layout ? FIO_PIN_ARGS : []),
                  '--time_based',
                  `--runtime=${o.seconds}`,
                  `--ramp_time=${o.rampSeconds}`,
                ],
                timeoutMs: batch.length * (o.seconds + o.rampSeconds) * 1000 + RUN_SLACK_MS,
                rampSeconds: o.rampSeconds,
              },
              // A failure names the devices the job ran on (with --host-cpu or --profile: one).
              `${what} on ${batch.map((t) => t.label).join(', ')}`,
            );
          let hostCpu: HostCpu | undefined;
          pin(); // threads QEMU or the servers started since the last run
          const { result, cost } = await profiled(o.profile, profileName, async () => {
            if (!o.hostCpu || g.process.pid === undefined) return fio();
            const sampled = await withHostCpu(g.process.pid, HOST_CPU_PERIOD_MS, fio);
            hostCpu = sampled.hostCpu;
            return sampled.result;
          });
          for (const [i, t] of batch.entries()) {
            const fio = parseFio(result.json, `${what} on ${t.label}`, writes(w) ? 'write' : 'read', t.key);
            const record: RunRecord = { workload: w.key, target: t.key, round, position: order.indexOf(t), fio };
            const b = before[i];
            const a = counters(t);
            if (a && b) record.counters = difference(b, a);
            // QEMU runs too: what the bench process spends when the server has nothing to do.
            if (cost) record.serverCost = cost;
            if (hostCpu) record.hostCpu = hostCpu;
            const seen = guestCountersBetween(
              result.guestBefore,
              result.guestAfter,
              t.devices.map((d) => d.serial),
            );
            if (seen) record.guest = seen;
            const cpu = result.guestCpu.get(t.key);
            if (cpu) record.guestCpu = cpu;
            records.push(record);
            process.stderr.write(
              `[bench] r${round + 1} ${w.label.padEnd(30)} ${t.label.padEnd(16)} ${fio.iops.toFixed(0).padStart(7)} IOPS ${fio.mbps.toFixed(1).padStart(7)} MB/s\n`,
            );
          }
        }
      }
    }

    const summaries = summarise(records, workloads, targetsOf, o.reps);
    const allTargets = [...DEVICE_TARGETS, ...DEVICE_TARGETS.map(pairOf)];
    const labels = {
      workload: (k: string) => WORKLOADS.find((w) => w.key === k)?.label ?? k,
      target: (k: string) => allTargets.find((t) => t?.key === k)?.label ?? k,
    };
    console.log(
      `\nfio in a TCG guest (2 vCPU), libaio direct=1, ${o.rampSeconds} s ramp + ${o.seconds} s per run, ${o.reps} rounds, ` +
        `${o.sizeMiB} MiB pre-filled range per device; host: ${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(1)} at the end` +
        `${layout ? `\n${describePinning(layout)}` : ''}${coalescing ? `\n${coalescing}` : ''}\n`,
    );
    console.log(formatReport(summaries, labels));
    printLogIssues(log.entries);
    const wallS = (performance.now() - t0) / 1000;
    console.log(`\nwall time ${wallS.toFixed(1)} s (boot ${bootS.toFixed(1)} s); other guests on this host make these numbers noisy`);
    if (o.json !== undefined) {
      const { seconds, rampSeconds, reps, sizeMiB, devices: deviceKeys, workloads: workloadKeys, poll, hostCpu } = o;
      writeFileSync(
        o.json,
        `${JSON.stringify(
          {
            bench: 'nvme-fio',
            date: new Date().toISOString(),
            options: {
              seconds,
              rampSeconds,
              reps,
              sizeMiB,
              devices: deviceKeys,
              workloads: workloadKeys,
              poll,
              hostCpu,
              pin: layout ?? false,
              coalescing: o.coalescing ?? false,
            },
            host: { cpus: cpus().length, loadAverageAtEnd: loadavg() },
            bootSeconds: bootS,
            wallSeconds: wallS,
            workloads,
            targets: workloads.map((w) => ({ workload: w.key, targets: targetsOf(w) })),
            runs: records,
            summary: summaries,
          },
          null,
          2,
        )}\n`,
      );
      console.log(`JSON: ${o.json}`);
    }
    if (log.entries.some((e) => e.channel === 'device')) throw new BenchError('device-bug log entries during the run (see above)');
  } catch (e) {
    // What the servers logged (guest errors, device bugs) is half of the story of a failed run.
    printLogIssues(log.entries);
    throw e;
  } finally {
    await guest?.shutdown().catch(() => {});
    rig?.close();
    for (const d of served.values()) await d.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The servers' log entries on the guest/client/device channels (the first 10). */
function printLogIssues(entries: RecordingLogger['entries']): void {
  const issues = entries.filter((e) => e.channel !== 'info');
  if (issues.length === 0) return;
  console.log(`\nlog entries on guest/client/device channels: ${issues.length}`);
  for (const e of issues.slice(0, 10)) console.log(`  ${e.channel}: ${e.message}${formatLogDetail(e.detail)}`);
}

let options: BenchOptions;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`nvme-fio: ${e.message} (--help lists the options)`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
main(options).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof BenchError ? `nvme-fio: ${e.message}` : e);
    process.exit(1);
  },
);

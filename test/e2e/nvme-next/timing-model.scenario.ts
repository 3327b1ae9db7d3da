/**
 * A namespace that behaves like a datasheet says (NamespaceOptions.timing), measured by fio in the
 * guest: QD1 4 KiB random reads at the modelled latency, queue depth scaling up to the number of
 * channels, 128 KiB sequential reads at the modelled bandwidth. Then Interrupt Coalescing set and
 * read back with nvme-cli. Each figure is printed next to what the profile predicts.
 *
 * The profile is slow on purpose. On a loaded 2-core host, the TCG guest's own path and the host's
 * scheduling add a few milliseconds to some I/Os (timers fire late when the process waits for a
 * core): the median of a 100 ms latency shrugs that off, a 2 ms one would not. Means at QD1 carry
 * those stalls, so they are bounded from below (never faster than the profile) and reported; what
 * is held to 10 % is the median latency and the throughput of queued I/O, which the model's virtual
 * time keeps exact across stalls.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme, idleLatencyUs, type NamespaceTiming } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv, type ScenarioContext } from '@p2pkit/testbed';

/**
 * 100 ms per read, two in service at once, 1 MB/s to the host: rates a TCG guest on a loaded host
 * still exceeds several times over (it managed 59 QD1 IOPS alone in the worst run seen), so the
 * model, not the guest, sets the pace.
 */
const profile: NamespaceTiming = { operations: { read: 100_000 }, channels: 2, readBytesPerSecond: 1e6 };
const KIB = 1024;
const TOLERANCE = 0.1;
/** Modelled QD1 4 KiB read, µs: latency plus 4 KiB at the link rate. */
const qd1LatencyUs = idleLatencyUs(profile, 'read', 4 * KIB) as number;

interface FioRead {
  iops: number;
  bw_bytes: number;
  clat_ns: { mean: number; percentile?: Record<string, number> };
  lat_ns: { mean: number };
}

/** One fio job against namespace `nsid` (by NSID: the kernel's nvme0n<k> numbering is not the NSID), its JSON `read` section. */
async function fio(ctx: ScenarioContext, name: string, nsid: number, args: string): Promise<FioRead | undefined> {
  const r = await ctx.guest.run(
    `d=$(nvme_ns_by_serial P2PKIT-T ${nsid})
     fio --name=${name} --filename=$d --direct=1 --ioengine=libaio --time_based --ramp_time=1 \
         ${args} --output-format=json > $JOB_OUT/fio.json; echo "fio=$?"`,
    { timeoutMs: 180_000 },
  );
  ctx.jobOk(`fio ${name}`, r);
  ctx.equal(`fio ${name} exit`, kv(r.stdout).fio, '0');
  const json = r.files.get('fio.json')?.toString() ?? '';
  try {
    const job = (JSON.parse(json.slice(json.indexOf('{'))) as { jobs: { error: number; read: FioRead }[] }).jobs[0];
    ctx.equal(`fio ${name} errors`, job?.error, 0);
    if (job)
      ctx.log(
        `fio ${name}: ${JSON.stringify({ iops: job.read.iops, bw_bytes: job.read.bw_bytes, clat_ns: job.read.clat_ns.mean, lat_ns: job.read.lat_ns.mean })}`,
      );
    return job?.read;
  } catch (err) {
    ctx.check(`fio ${name} JSON`, false, `${(err as Error).message}: ${json.slice(0, 200)}`);
    return undefined;
  }
}

const p50Us = (r: FioRead) => (r.clat_ns.percentile?.['50.000000'] ?? Number.NaN) / 1000;

/** Prints `measured` next to `expected` and checks their ratio is within TOLERANCE of 1. */
function within(ctx: ScenarioContext, name: string, measured: number, expected: number): void {
  const ratio = measured / expected;
  const line = `${name}: profile ${expected.toFixed(1)}, fio ${measured.toFixed(1)}, ratio ${ratio.toFixed(3)}`;
  ctx.log(line);
  console.info(`[timing-model] ${line}`);
  ctx.check(`${name} within ${TOLERANCE * 100}% of the profile`, Math.abs(ratio - 1) <= TOLERANCE, line);
}

/** Prints a figure that is reported, not checked against the profile. */
function report(ctx: ScenarioContext, line: string): void {
  ctx.log(line);
  console.info(`[timing-model] ${line}`);
}

/** `nvme get-feature -f <fid>`'s current value as hex digits (nvme-cli prints 0 without the 0x). */
const currentValue = (fid: number) =>
  `$(nvme get-feature $c -f ${fid} | sed -n 's/.*Current value:\\(0x\\)\\{0,1\\}\\([0-9a-fA-F][0-9a-fA-F]*\\).*/\\2/p')`;

/** Interrupts the guest took on the controller's I/O queues so far (/proc/interrupts, nvme<n>q<k>, k ≥ 1). */
const ioInterrupts = `$(grep -E "$(basename $c)q[1-9]" /proc/interrupts | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break } END { print s + 0 }')`;

export default defineScenario({
  name: 'NVMe timing model: a datasheet profile as fio sees it',
  topology: topology().rootPort('rp0', (rp) => rp.attach('nvme0')),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: 'P2PKIT-T',
      model: 'p2pkit timed NVMe',
      maxIoQueues: 4,
      namespaces: [
        { path: join(dir, 'timed.img'), sizeBytes: 256 << 20, timing: profile },
        { path: join(dir, 'untimed.img'), sizeBytes: 256 << 20 },
      ],
    }),
  }),
  guest: { cpus: 2 },
  steps: {
    'QD1 4 KiB random reads: p50 latency matches the profile; IOPS and mean never beat it': async (ctx) => {
      const base = await fio(ctx, 'qd1-untimed', 2, '--rw=randread --bs=4k --iodepth=1 --runtime=4');
      const read = await fio(ctx, 'qd1', 1, '--rw=randread --bs=4k --iodepth=1 --runtime=10');
      if (!base || !read) return;
      report(
        ctx,
        `guest alone (namespace 2, no profile): ${base.iops.toFixed(1)} IOPS, ` +
          `completion latency mean ${(base.clat_ns.mean / 1000).toFixed(1)} µs, p50 ${p50Us(base).toFixed(1)} µs`,
      );
      within(ctx, 'QD1 4 KiB p50 completion latency µs', p50Us(read), qd1LatencyUs);
      const iops = 1e6 / qd1LatencyUs;
      report(ctx, `QD1 4 KiB IOPS: profile ${iops.toFixed(1)}, fio ${read.iops.toFixed(1)}, ratio ${(read.iops / iops).toFixed(3)}`);
      report(
        ctx,
        `QD1 4 KiB mean completion latency µs: profile ${qd1LatencyUs.toFixed(1)}, fio ${(read.clat_ns.mean / 1000).toFixed(1)}, ` +
          `ratio ${(read.clat_ns.mean / 1000 / qd1LatencyUs).toFixed(3)}`,
      );
      ctx.atMost('QD1 IOPS never above the profile', read.iops, iops * (1 + 0.01));
      ctx.atLeast('QD1 mean completion latency never below the profile', read.clat_ns.mean / 1000, qd1LatencyUs);
    },

    'QD16 4 KiB random reads: two channels, twice the QD1 rate': async (ctx) => {
      const read = await fio(ctx, 'qd16', 1, '--rw=randread --bs=4k --iodepth=16 --runtime=10');
      if (!read) return;
      within(ctx, 'QD16 4 KiB IOPS (2 channels)', read.iops, ((profile.channels ?? 1) * 1e6) / qd1LatencyUs);
    },

    '128 KiB sequential reads at QD16: throughput is the modelled bandwidth': async (ctx) => {
      const read = await fio(ctx, 'seq128k', 1, '--rw=read --bs=128k --iodepth=16 --runtime=10');
      if (!read) return;
      within(ctx, '128 KiB sequential MB/s', read.bw_bytes / 1e6, (profile.readBytesPerSecond ?? 0) / 1e6);
    },

    'nvme set-feature -f 8 sets Interrupt Coalescing, get-feature reads it back, I/O still completes': async (ctx) => {
      const ctrl = ctx.devices.nvme0.controller;
      const burst = (name: string) =>
        `before=${ioInterrupts}
         fio --name=${name} --filename=$d --direct=1 --ioengine=libaio --rw=randread --bs=4k --iodepth=32 \\
             --time_based --runtime=3 --output-format=terse --terse-version=3 > /tmp/${name}.terse
         echo "${name}_interrupts=$((${ioInterrupts} - before))"
         echo "${name}_ios=$(($(cut -d';' -f6 /tmp/${name}.terse) / 4))"`; // terse v3 field 6: KiB read
      /** Runs `script` in the guest; the controller's interrupts and completions meanwhile. */
      const job = async (name: string, script: string) => {
        const before = { raised: ctrl.stats.interruptsRaised, posted: ctrl.stats.completionsPosted };
        const r = await ctx.guest.run(`set -e\n c=/dev/$(nvme_ctrl_by_serial P2PKIT-T); d=$(nvme_ns_by_serial P2PKIT-T 2)\n ${script}`, {
          timeoutMs: 120_000,
        });
        ctx.jobOk(name, r);
        return {
          v: kv(r.stdout),
          raised: ctrl.stats.interruptsRaised - before.raised,
          posted: ctrl.stats.completionsPosted - before.posted,
        };
      };
      const plain = await job('fio burst without coalescing', `echo "default=${currentValue(8)}"\n ${burst('plain')}`);
      const coalesced = await job(
        'nvme set-feature, get-feature, fio burst with coalescing',
        `nvme set-feature $c -f 8 --value=0x321f\n echo "current=${currentValue(8)}"\n ${burst('coalesced')}`,
      );
      ctx.equal('default (THR 0, TIME 0)', plain.v.default, '00000000');
      ctx.equal('read back (THR 31, TIME 50 × 100 µs)', coalesced.v.current, '0000321f');
      ctx.equal('the controller has it', ctrl.interrupts.coalescing, { threshold: 31, time: 50 });
      ctx.atLeast('I/Os completed with coalescing on', Number(coalesced.v.coalesced_ios), 100);
      ctx.atLeast('interrupts the guest took for them', Number(coalesced.v.coalesced_interrupts), 1);
      // A slow TCG guest already takes one interrupt for many completions (MSIs arriving while it
      // handles one merge), so the guest-side ratios are reported, not compared; the unit tests count
      // the signals exactly (packages/nvme/test/interrupt-coalescing.test.ts).
      for (const [name, b] of [
        ['without coalescing', plain],
        ['with THR 31 / TIME 5 ms', coalesced],
      ] as const) {
        const key = b === plain ? 'plain' : 'coalesced';
        report(
          ctx,
          `QD32 ${name}: guest took ${b.v[`${key}_interrupts`]} interrupts for ${b.v[`${key}_ios`]} I/Os; ` +
            `controller raised ${b.raised} for ${b.posted} completions (${(b.raised / b.posted).toFixed(3)} per completion)`,
        );
      }
    },
  },
});

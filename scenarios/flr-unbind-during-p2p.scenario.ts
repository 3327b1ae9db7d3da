/**
 * Resets and driver unbinds while peer-to-peer I/O is in flight: fio writes controller B with its
 * buffers in controller A's CMB (p2pmem), and meanwhile the guest resets (FLR) or unbinds A or B.
 * The kernel must finish the reset or unbind without hanging or oopsing, revoke the user mapping of
 * a provider that goes away, and every device must work again afterwards (a fresh p2p copy verifies).
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { defineScenario, type JobResult, parseKeyValues as kv, type ScenarioContext } from '@p2pkit/testbed';
import { MiB } from './lib.ts';

/** fio writing B with buffers in A's p2pmem, in the background; `$fpid` is its pid. */
const P2P_FIO = `b=$(nvme_ns_by_serial FLR-B); p=$(p2pmem_dir FLR-A)
  fio --name=p2p --filename=$b --direct=1 --ioengine=psync --rw=write --bs=128k --size=64M --loops=2 \\
      --iomem=mmapshared:$p/allocate --verify=crc32c --do_verify=1 --verify_fatal=1 \\
      --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse 2> $JOB_OUT/fio.err &
  fpid=$!
  sleep 2
  echo "running_at_event=$(kill -0 $fpid 2>/dev/null && echo yes || echo no)"`;

/** Kernel trouble in a log: oopses, BUGs, WARNs, hung tasks. */
const KERNEL_TROUBLE = /(BUG:|Oops|WARNING: CPU|INFO: task .* blocked|general protection fault)/;

/** After an event: the kernel stayed healthy and a fresh p2p copy A's CMB → B verifies. */
async function recovered(ctx: ScenarioContext, what: string): Promise<void> {
  const again = await ctx.guest.run(
    `wait_for "$(p2pmem_dir FLR-A)/allocate" 20; b=$(nvme_ns_by_serial FLR-B)
     p2p-copy "$(p2pmem_dir FLR-A)/allocate" "$b" "$b" ${MiB} 17 0 ${160 * MiB}`,
    { timeoutMs: 60_000 },
  );
  ctx.jobOk(`${what}: a fresh p2p copy afterwards`, again);
  ctx.equal(`${what}: fresh copy result`, kv(again.stdout).result, 'PASS');
  const dmesg = await ctx.guest.dmesg();
  ctx.check(
    `${what}: no oops, BUG, WARN or hung task in dmesg`,
    !KERNEL_TROUBLE.test(dmesg),
    dmesg.split('\n').find((l) => KERNEL_TROUBLE.test(l)),
  );
}

const fioSummary = (r: JobResult) =>
  `fio exit ${kv(r.stdout).fio}; ${(r.files.get('fio.err') ?? '').toString().trim().split('\n').slice(-3).join(' | ')}`;

export default defineScenario({
  name: 'FLR and unbind during p2p I/O',
  description: 'FLR of the client and of the provider, unbind of the provider and of the client, each while fio moves data through p2pmem',
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('nvmeA');
      sw.downstream('dn1').attach('nvmeB');
    }),
  ),
  devices: async ({ dir }) => ({
    nvmeA: await createNvme({
      serial: 'FLR-A',
      cmb: { size: 64 * MiB },
      maxIoQueues: 4,
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 256 * MiB }],
    }),
    nvmeB: await createNvme({ serial: 'FLR-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 256 * MiB }] }),
  }),
  steps: {
    'FLR of the client (B) while it DMAs from p2pmem: the driver recovers, fio completes and verifies': async (ctx) => {
      const resets = ctx.devices.nvmeB.functionResets;
      const r = await ctx.guest.run(
        `${P2P_FIO}
         echo "reset_method=$(cat /sys/bus/pci/devices/$(nvme_bdf_by_serial FLR-B)/reset_method)"
         echo 1 > /sys/bus/pci/devices/$(nvme_bdf_by_serial FLR-B)/reset; echo "reset_rc=$?"
         wait $fpid; echo "fio=$?"`,
        { timeoutMs: 240_000 },
      );
      const v = kv(r.stdout);
      ctx.log(fioSummary(r));
      ctx.equal('fio was running when the reset came', v.running_at_event, 'yes');
      ctx.match('reset method', v.reset_method, /flr/);
      ctx.equal('the sysfs reset succeeded', v.reset_rc, '0');
      ctx.equal('the FLR reached the function', ctx.devices.nvmeB.functionResets - resets, 1);
      ctx.equal('fio completed and verified (I/O in flight was retried)', v.fio, '0');
      await recovered(ctx, 'after FLR of B');
    },

    'FLR of the provider (A) while its CMB is the DMA buffer: the reset completes and A works again': async (ctx) => {
      const resets = ctx.devices.nvmeA.functionResets;
      const r = await ctx.guest.run(
        `${P2P_FIO}
         echo 1 > /sys/bus/pci/devices/$(nvme_bdf_by_serial FLR-A)/reset; echo "reset_rc=$?"
         wait $fpid; echo "fio=$?"
         echo "published=$(cat $(p2pmem_dir FLR-A)/published)"`,
        { timeoutMs: 240_000 },
      );
      const v = kv(r.stdout);
      ctx.log(fioSummary(r)); // the buffers live in the reset function's BAR: fio's verdict is recorded, not judged
      ctx.equal('fio was running when the reset came', v.running_at_event, 'yes');
      ctx.equal('the sysfs reset succeeded', v.reset_rc, '0');
      ctx.equal('the FLR reached the function', ctx.devices.nvmeA.functionResets - resets, 1);
      ctx.check('fio ended (no hang)', v.fio !== undefined, fioSummary(r));
      ctx.equal('p2pmem still published', v.published, '1');
      await recovered(ctx, 'after FLR of A');
    },

    'unbind of the provider (A) during p2p I/O: unbind completes, the mapping is revoked, rebind republishes': async (ctx) => {
      const r = await ctx.guest.run(
        `${P2P_FIO}
         a=$(nvme_bdf_by_serial FLR-A)
         t0=$(cut -d' ' -f1 /proc/uptime)
         timeout 60 sh -c "echo $a > /sys/bus/pci/drivers/nvme/unbind"; echo "unbind_rc=$?"
         echo "unbind_s=$(awk -v a=$t0 '{ print $1 - a }' /proc/uptime)"
         echo "p2pmem_after_unbind=$([ -e /sys/bus/pci/devices/$a/p2pmem ] && echo present || echo gone)"
         wait $fpid; echo "fio=$?"
         echo $a > /sys/bus/pci/drivers/nvme/bind; echo "bind_rc=$?"
         wait_for /sys/bus/pci/devices/$a/p2pmem/published 20
         echo "published=$(cat /sys/bus/pci/devices/$a/p2pmem/published)"`,
        { timeoutMs: 240_000 },
      );
      const v = kv(r.stdout);
      ctx.log(fioSummary(r));
      ctx.equal('fio was running when the unbind came', v.running_at_event, 'yes');
      ctx.equal('unbind returned (no hang waiting for p2p pages)', v.unbind_rc, '0');
      ctx.log(`unbind took ${v.unbind_s} s`);
      ctx.equal('p2pmem is gone with the driver', v.p2pmem_after_unbind, 'gone');
      // The kernel zaps the user mapping of a provider that goes away: fio's next access to its
      // buffers is a SIGBUS (fio's job process dies of signal 7; fio itself may still exit 0) or an I/O error.
      const revoked = /got signal=7/.test((r.files.get('fio.err') ?? '').toString()) || (v.fio !== undefined && v.fio !== '0');
      ctx.check('fio lost its p2pmem buffers (SIGBUS or an I/O error)', revoked, fioSummary(r));
      ctx.equal('rebind', v.bind_rc, '0');
      ctx.equal('p2pmem published again', v.published, '1');
      await recovered(ctx, 'after unbind/rebind of A');
    },

    'unbind of the client (B) during p2p I/O: I/O fails cleanly, unbind completes, rebind restores the namespace': async (ctx) => {
      const r = await ctx.guest.run(
        `${P2P_FIO}
         bdf=$(nvme_bdf_by_serial FLR-B)
         timeout 60 sh -c "echo $bdf > /sys/bus/pci/drivers/nvme/unbind"; echo "unbind_rc=$?"
         wait $fpid; echo "fio=$?"
         echo $bdf > /sys/bus/pci/drivers/nvme/bind; echo "bind_rc=$?"
         i=0; until nvme_ns_by_serial FLR-B >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.2; i=$((i + 1)); done
         echo "namespace=$(nvme_ns_by_serial FLR-B 2>/dev/null || echo none)"`,
        { timeoutMs: 240_000 },
      );
      const v = kv(r.stdout);
      ctx.log(fioSummary(r));
      ctx.equal('fio was running when the unbind came', v.running_at_event, 'yes');
      ctx.equal('unbind returned', v.unbind_rc, '0');
      ctx.check('fio saw its device go away (non-zero exit)', v.fio !== undefined && v.fio !== '0', fioSummary(r));
      ctx.equal('rebind', v.bind_rc, '0');
      ctx.match('namespace back', v.namespace, /^\/dev\/nvme\d+n1$/);
      await recovered(ctx, 'after unbind/rebind of B');
    },
  },
});

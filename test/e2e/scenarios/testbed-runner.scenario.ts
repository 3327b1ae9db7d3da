/**
 * The testbed itself: deferred driver binding (`modules: []`), the job runner's failure paths
 * (timeouts attach the kernel log, `check: true` throws JobError), and a shutdown that leaves only
 * logs behind.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

const MiB = 1024 * 1024;

export default defineScenario({
  name: 'testbed: deferred binding, job failures, teardown',
  topology: topology().rootPort('rp0', (rp) => rp.attach(qemuNvme({ serial: 'late0', cmbMiB: 16 }))),
  guest: { modules: [] },
  steps: {
    'boots with nvme unbound, then binds it from a job': async (ctx) => {
      const r = await ctx.guest.run(
        `bdf=$(lspci -D -d ::0108 | cut -d' ' -f1)
         echo "bdf=$bdf"
         echo "bound_before=$([ -e /sys/bus/pci/devices/$bdf/driver ] && echo yes || echo no)"
         echo "bar2_bytes=$(stat -c %s /sys/bus/pci/devices/$bdf/resource2)"
         modprobe nvme && wait_for "/sys/bus/pci/devices/$bdf/p2pmem/published" 20
         echo "driver_after=$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")"
         echo "published=$(cat /sys/bus/pci/devices/$bdf/p2pmem/published)"`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('bind from a job', r);
      const v = kv(r.stdout);
      ctx.match('found', v.bdf, /^0000:/);
      ctx.equal('no driver before', v.bound_before, 'no');
      ctx.equal('CMB BAR size', Number(v.bar2_bytes), 16 * MiB);
      ctx.equal('driver after modprobe', v.driver_after, 'nvme');
      ctx.equal('published', v.published, '1');
    },

    'a job timeout is reported with dmesg attached, and the guest keeps serving jobs': async (ctx) => {
      const r = await ctx.guest.run('echo started; sleep 30', { timeoutMs: 1_000 });
      ctx.equal('timedOut', r.timedOut, true);
      ctx.equal('exit code', r.exitCode, 124);
      ctx.equal('stdout so far', r.stdout, 'started\n');
      ctx.match('dmesg attached', r.dmesg, /Linux version/);
      const ok = await ctx.guest.run('echo alive');
      ctx.equal('next job', ok.stdout, 'alive\n');
    },

    'check: true throws JobError with the job’s exit code and stderr': async (ctx) => {
      const err = await ctx.guest.run('echo boom >&2; exit 3', { check: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      ctx.equal('JobError', (err as Error | undefined)?.name, 'JobError');
      ctx.match('message', String(err), /exited with 3[\s\S]*boom/);
    },

    'shutdown stops QEMU and leaves only logs in the run folder': async (ctx) => {
      const guest = ctx.guest;
      await guest.shutdown();
      ctx.check('QEMU exited', guest.process.exitCode !== null || guest.process.signalCode !== null);
      ctx.equal('control socket removed', existsSync(join(guest.runDir, 'ctl.sock')), false);
      ctx.equal('run folder', readdirSync(guest.runDir).sort(), ['console.log', 'qemu.log']);
      ctx.match('console log', guest.consoleLog(), /P2PKIT: initramfs reached/);
    },
  },
});

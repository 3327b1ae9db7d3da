/**
 * p2pkit's NVMe controller driven by the guest's stock nvme driver and Debian's nvme-cli, e2fsprogs
 * and fio. Everything checked is what the guest's tools reported.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

export default defineScenario({
  name: 'p2pkit NVMe with the stock Linux driver',
  topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('nvme0'))),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: 'P2PKIT-A',
      model: 'p2pkit NVMe',
      maxIoQueues: 8,
      namespaceDirectory: dir,
      totalCapacityBytes: 8 * 2 ** 30,
      namespaces: [{ path: join(dir, 'nvme0-ns1.img'), sizeBytes: 1024 << 20 }],
    }),
  }),
  guest: { cpus: 4 },
  steps: {
    'binds the nvme driver; nvme list, id-ctrl, id-ns, smart-log, error-log and get-feature work': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-A); c=/dev/$(nvme_ctrl_by_serial P2PKIT-A)
         echo "driver=$(basename $(readlink /sys/bus/pci/devices/$(nvme_bdf_by_serial P2PKIT-A)/driver))"
         nvme list
         nvme id-ctrl $c | grep -E '^(sn|mn|mdts|oacs|sgls) '
         nvme id-ns $d | grep -E '^(nsze|ncap|nlbaf) |in use'
         nvme smart-log $c | grep -E '^(critical_warning|temperature|data_units_written)'
         nvme error-log $c -e 1 | head -5
         nvme get-feature $c -f 7 -H
         echo "vwc=$(nvme get-feature $c -f 6 | sed -n 's/.*Current value:\\(0x[0-9a-f]*\\).*/\\1/p')"`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('nvme-cli', r);
      const v = kv(r.stdout);
      ctx.equal('driver', v.driver, 'nvme');
      ctx.match('nvme list', r.stdout, /\/dev\/nvme\dn1\s+\S*\s*P2PKIT-A\s+p2pkit NVMe/);
      ctx.match('id-ctrl sn', r.stdout, /^sn\s+: P2PKIT-A/m);
      ctx.match('id-ns nsze (1 GiB of 512-byte blocks)', r.stdout, /^nsze\s+: 0x200000/m);
      ctx.match('smart-log temperature', r.stdout, /^temperature\s+: \d+/m);
      // One I/O queue pair per guest CPU, as the driver asks.
      ctx.match('queues allocated', r.stdout, /Number of IO Submission Queues Allocated \(NSQA\): 4/);
      ctx.match('error count', r.stdout, /^error_count\s+: 0/m);
      ctx.match('critical warning', r.stdout, /^critical_warning\s+: 0/m);
      ctx.match('volatile write cache feature', v.vwc, /^0x0000000[01]$/);
    },

    'creates, attaches, detaches and deletes a namespace at run time; the guest rescans': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         c=/dev/$(nvme_ctrl_by_serial P2PKIT-A); n=$(basename $c)
         cntlid=$(nvme id-ctrl $c | sed -n 's/^cntlid *: *//p')
         nvme create-ns $c --nsze=131072 --ncap=131072 --flbas=0
         nvme attach-ns $c -n 2 -c $cntlid
         nvme ns-rescan $c; sleep 1
         echo "after_attach=$([ -b /dev/\${n}n2 ] && echo 1 || echo 0)"
         nvme id-ns $c -n 2 | grep '^nsze'
         nvme detach-ns $c -n 2 -c $cntlid
         nvme delete-ns $c -n 2
         nvme ns-rescan $c; sleep 1
         echo "after_delete=$([ -b /dev/\${n}n2 ] && echo 1 || echo 0)"
         echo "remaining=$(nvme list-ns $c --all | grep -c ':0x')"`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('namespace management', r);
      ctx.match('create-ns', r.stdout, /create-ns: success\s+nsid: 2/);
      ctx.match('new namespace size', r.stdout, /^nsze\s+: 0x20000/m);
      const v = kv(r.stdout);
      ctx.equal('block device after attach', v.after_attach, '1');
      ctx.equal('block device after delete', v.after_delete, '0');
      ctx.equal('namespaces left', v.remaining, '1');
    },

    'mkfs.ext4, mount, write files, unmount, fsck -f clean': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-A)
         mkfs.ext4 -q -F $d
         mkdir -p /mnt/t && mount $d /mnt/t
         for i in 1 2 3 4; do dd if=/dev/urandom of=/mnt/t/f$i bs=1M count=4 2>/dev/null; done
         sha=$(cat /mnt/t/f* | sha256sum | cut -d' ' -f1)
         umount /mnt/t && mount $d /mnt/t
         echo "same=$([ "$(cat /mnt/t/f* | sha256sum | cut -d' ' -f1)" = "$sha" ] && echo yes || echo no)"
         umount /mnt/t
         fsck.ext4 -f -n $d >/dev/null 2>&1; echo "fsck=$?"`,
        { timeoutMs: 120_000 },
      );
      ctx.jobOk('ext4', r);
      ctx.equal('files read back', kv(r.stdout).same, 'yes');
      ctx.equal('fsck', kv(r.stdout).fsck, '0');
    },

    'fio --verify=crc32c: 256 MiB of random writes then verify, 4 jobs on 4 queues, 0 errors': async (ctx) => {
      const stats = ctx.devices.nvme0.controller.stats;
      const before = { ...stats.commandsBySq };
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-A)
         fio --name=verify --filename=$d --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=64k \\
             --size=64M --offset_increment=64M --numjobs=4 --cpus_allowed=0-3 --cpus_allowed_policy=split \\
             --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting --output-format=terse --terse-version=3 \\
             > $JOB_OUT/fio.terse; echo "fio=$?"`,
        { timeoutMs: 420_000 },
      );
      ctx.jobOk('fio job', r);
      ctx.equal('fio exit', kv(r.stdout).fio, '0');
      // terse v3 (1-based): field 5 errors, field 6 read KiB (the verify pass), field 47 write KiB.
      const terse = (r.files.get('fio.terse') ?? Buffer.alloc(0)).toString().trim().split(';');
      ctx.equal('errors', Number(terse[4]), 0);
      ctx.equal('KiB written', Number(terse[46]), 256 * 1024);
      ctx.equal('KiB read by verify', Number(terse[5]), 256 * 1024);
      const used = Object.entries(stats.commandsBySq).filter(([q, n]) => Number(q) > 0 && n - (before[Number(q)] ?? 0) > 100);
      ctx.atLeast('I/O queues used', used.length, 4);
    },

    'survives driver unbind (shutdown), Function Level Reset and rebind with data intact': async (ctx) => {
      const fn = ctx.devices.nvme0;
      const ctrl = fn.controller;
      const before = {
        shutdowns: ctrl.stats.shutdowns,
        resets: ctrl.stats.controllerResets,
        enables: ctrl.stats.controllerEnables,
        flr: fn.functionResets,
      };
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-A); bdf=$(nvme_bdf_by_serial P2PKIT-A)
         dd if=/dev/urandom of=/tmp/blk bs=64k count=16 2>/dev/null
         dd if=/tmp/blk of=$d bs=64k seek=100 oflag=direct conv=fsync 2>/dev/null
         echo $bdf > /sys/bus/pci/drivers/nvme/unbind
         echo "reset_method=$(cat /sys/bus/pci/devices/$bdf/reset_method)"
         echo 1 > /sys/bus/pci/devices/$bdf/reset
         echo $bdf > /sys/bus/pci/drivers/nvme/bind
         wait_for $d 20
         dd if=$d of=/tmp/back bs=64k skip=100 count=16 iflag=direct 2>/dev/null
         echo "same=$(cmp -s /tmp/blk /tmp/back && echo yes || echo no)"`,
        { timeoutMs: 120_000 },
      );
      ctx.jobOk('unbind, FLR, bind', r);
      const v = kv(r.stdout);
      ctx.match('reset method', v.reset_method, /flr/);
      ctx.equal('data intact', v.same, 'yes');
      ctx.atLeast('CC.SHN on unbind', ctrl.stats.shutdowns - before.shutdowns, 1);
      ctx.atLeast('controller resets', ctrl.stats.controllerResets - before.resets, 1);
      ctx.atLeast('re-enabled on bind', ctrl.stats.controllerEnables - before.enables, 1);
      ctx.equal("the guest's FLR reached the function", fn.functionResets - before.flr, 1);
    },
  },
});

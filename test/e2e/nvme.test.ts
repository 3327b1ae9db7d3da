/**
 * p2pkit's NVMe controller driven by the guest's stock nvme driver and Debian's nvme-cli, e2fsprogs
 * and fio. Everything asserted is what the guest's tools reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { bootNvmeSwitch, deviceBugs, type NvmeScenario } from './nvme-rig.ts';

describe('p2pkit NVMe with the stock Linux driver', () => {
  let s: NvmeScenario;

  beforeAll(async () => {
    s = await bootNvmeSwitch({ nvme0: { serial: 'P2PKIT-A', model: 'p2pkit NVMe', namespaceManagement: true } }, { cpus: 4 });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('binds the nvme driver; nvme list, id-ctrl, id-ns, smart-log, error-log and get-feature work', async () => {
    const r = await s.guest.run(
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
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.driver).toBe('nvme');
    expect(r.stdout).toMatch(/\/dev\/nvme\dn1\s+\S*\s*P2PKIT-A\s+p2pkit NVMe/);
    expect(r.stdout).toMatch(/^sn\s+: P2PKIT-A/m);
    expect(r.stdout).toMatch(/^nsze\s+: 0x200000/m); // 1 GiB of 512-byte blocks
    expect(r.stdout).toMatch(/^temperature\s+: \d+/m);
    // One I/O queue pair per guest CPU, as the driver asks.
    expect(r.stdout).toMatch(/Number of IO Submission Queues Allocated \(NSQA\): 4/);
    expect(r.stdout).toMatch(/^error_count\s+: 0/m);
    expect(r.stdout).toMatch(/^critical_warning\s+: 0/m);
    expect(v.vwc).toMatch(/^0x0000000[01]$/);
    expect(deviceBugs(s.log)).toEqual([]);
  });

  it('creates, attaches, detaches and deletes a namespace at run time; the guest rescans', async () => {
    const r = await s.guest.run(
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
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(r.stdout).toMatch(/create-ns: success\s+nsid: 2/);
    expect(r.stdout).toMatch(/^nsze\s+: 0x20000/m);
    expect(kv(r.stdout)).toMatchObject({ after_attach: '1', after_delete: '0', remaining: '1' });
  });

  it('mkfs.ext4, mount, write files, unmount, fsck -f clean', async () => {
    const r = await s.guest.run(
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
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout)).toMatchObject({ same: 'yes', fsck: '0' });
  });

  it('fio --verify=crc32c: 256 MiB of random writes then verify, 4 jobs on 4 queues, 0 errors', async () => {
    const stats = s.nvme.get('nvme0')?.controller.stats;
    const before = { ...stats?.commandsBySq };
    const r = await s.guest.run(
      `d=$(nvme_ns_by_serial P2PKIT-A)
       fio --name=verify --filename=$d --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=64k \\
           --size=64M --offset_increment=64M --numjobs=4 --cpus_allowed=0-3 --cpus_allowed_policy=split \\
           --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting --output-format=terse --terse-version=3 \\
           > $JOB_OUT/fio.terse; echo "fio=$?"`,
      { timeoutMs: 420_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout).fio).toBe('0');
    const terse = (r.files.get('fio.terse') as Buffer).toString().trim().split(';');
    // terse v3 (1-based): field 5 errors, field 6 read KiB (the verify pass), field 47 write KiB.
    expect(Number(terse[4])).toBe(0);
    expect(Number(terse[46])).toBe(256 * 1024);
    expect(Number(terse[5])).toBe(256 * 1024);
    const used = Object.entries(stats?.commandsBySq ?? {}).filter(([q, n]) => Number(q) > 0 && n - (before[Number(q)] ?? 0) > 100);
    expect(used.length).toBeGreaterThanOrEqual(4);
    expect(deviceBugs(s.log)).toEqual([]);
  });

  it('survives driver unbind (shutdown), Function Level Reset and rebind with data intact', async () => {
    const ctrl = s.nvme.get('nvme0')?.controller;
    const before = { shutdowns: ctrl?.stats.shutdowns ?? 0, resets: ctrl?.stats.controllerResets ?? 0, enables: ctrl?.stats.controllerEnables ?? 0 };
    const fn = s.nvme.get('nvme0');
    const functionResetsBefore = fn?.functionResets ?? 0;
    const r = await s.guest.run(
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
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.reset_method).toMatch(/flr/);
    expect(v.same).toBe('yes');
    expect((ctrl?.stats.shutdowns ?? 0) - before.shutdowns).toBeGreaterThanOrEqual(1); // CC.SHN on unbind
    expect((ctrl?.stats.controllerResets ?? 0) - before.resets).toBeGreaterThanOrEqual(1);
    expect((ctrl?.stats.controllerEnables ?? 0) - before.enables).toBeGreaterThanOrEqual(1); // re-enabled on bind
    expect((fn?.functionResets ?? 0) - functionResetsBefore).toBe(1); // the guest's FLR reached the function
    expect(deviceBugs(s.log)).toEqual([]);
  });
});

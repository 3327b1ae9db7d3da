/**
 * Reference scenario: two QEMU NVMe controllers below one PCIe switch, one with a 64 MiB CMB.
 * The guest kernel must publish the CMB as p2pmem and let the peer DMA into and out of it.
 * Everything asserted here is what the guest reported.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { boot, type Guest, provision } from '@p2pkit/testbed';

const MiB = 1024 * 1024;

describe('reference: switch with a CMB provider and a peer NVMe', () => {
  let guest: Guest;
  let runDir = '';

  beforeAll(async () => {
    const provisioned = await provision();
    const rig = topology().rootPort('rp0', (rp) =>
      rp.switch('sw0', (sw) => {
        sw.downstream('dn0').attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }));
        sw.downstream('dn1').attach(qemuNvme({ serial: 'peer0' }));
      }),
    );
    guest = await boot(rig, { provisioned });
    runDir = guest.runDir;
    console.info(`[reference] boot ${(guest.bootMs / 1000).toFixed(1)} s (guest uptime ${guest.guestUptimeAtReady} s at ready)`);
  });

  afterAll(async () => {
    await guest?.shutdown();
  });

  it('places both controllers below the switch and publishes the CMB as p2pmem', async () => {
    const r = await guest.run(
      `p=$(p2pmem_dir cmb0)
       echo "cmb_bdf=$(nvme_bdf_by_serial cmb0)"
       echo "peer_bdf=$(nvme_bdf_by_serial peer0)"
       echo "cmb_parent=$(basename "$(dirname "$(readlink -f /sys/bus/pci/devices/$(nvme_bdf_by_serial cmb0))")")"
       echo "peer_parent=$(basename "$(dirname "$(readlink -f /sys/bus/pci/devices/$(nvme_bdf_by_serial peer0))")")"
       echo "published=$(cat $p/published)"
       echo "size=$(cat $p/size)"
       echo "peer_has_p2pmem=$([ -d "$(p2pmem_dir peer0)" ] && echo yes || echo no)"`,
      { timeoutMs: 20_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const v = kv(r.stdout);
    expect(v.published).toBe('1');
    expect(Number(v.size)).toBe(64 * MiB);
    expect(v.peer_has_p2pmem).toBe('no');
    // Two downstream ports of one switch: the parents differ but are siblings on the switch's bus.
    expect(v.cmb_bdf).toMatch(/^0000:[0-9a-f]{2}:00\.0$/);
    expect(v.cmb_parent).not.toBe(v.peer_parent);
    expect(v.cmb_parent?.slice(0, 8)).toBe(v.peer_parent?.slice(0, 8));

    const dmesg = await guest.dmesg();
    expect(dmesg).toMatch(new RegExp(`nvme ${v.cmb_bdf?.replace(/\./g, '\\.')}: added peer-to-peer DMA memory`));
  });

  it('copies peer -> p2pmem -> peer with O_DIRECT and the data compares equal', async () => {
    const r = await guest.run(
      `p=$(p2pmem_dir cmb0); b=$(nvme_ns_by_serial peer0)
       p2p-copy "$p/allocate" "$b" "$b" ${MiB} 7 0 ${8 * MiB}`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.bytes).toMatch(/^1048576 /);
    expect(v.read).toBe('ok'); // the peer DMA-wrote into the provider's CMB
    expect(v.cmp_p2p).toBe('MATCH');
    expect(v.write).toBe('ok'); // the peer DMA-read from the provider's CMB
    expect(v.cmp_dst).toBe('MATCH');
    expect(v.result).toBe('PASS');
  });

  it('copies provider -> p2pmem -> peer and the data compares equal', async () => {
    const r = await guest.run(
      `p=$(p2pmem_dir cmb0)
       p2p-copy "$p/allocate" "$(nvme_ns_by_serial cmb0)" "$(nvme_ns_by_serial peer0)" ${MiB} 11 0 ${16 * MiB}`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout).result).toBe('PASS');
    expect(kv(r.stdout).cmp_dst).toBe('MATCH');
  });

  it('fio writes and verifies the peer with its I/O buffers in p2pmem', async () => {
    const r = await guest.run(
      `fio --name=p2p --filename="$(nvme_ns_by_serial peer0)" --rw=write --bs=128k --size=2M --direct=1 \\
         --ioengine=psync --iomem="mmapshared:$(p2pmem_dir cmb0)/allocate" --verify=crc32c --do_verify=1 \\
         --output-format=json > "$JOB_OUT/fio.json"`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode, `${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const report = JSON.parse(r.files.get('fio.json')?.toString() ?? '{}') as {
      jobs: { error: number; write: { io_bytes: number }; read: { io_bytes: number } }[];
    };
    const job = report.jobs[0];
    expect(job?.error).toBe(0);
    expect(job?.write.io_bytes).toBe(2 * MiB);
    expect(job?.read.io_bytes).toBe(2 * MiB); // verify pass read everything back into p2pmem
  });

  it('runs lspci -vvv from pciutils and sees the switch and both NVMe functions', async () => {
    const r = await guest.run('lspci -vvv', { timeoutMs: 30_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PCI bridge: Texas Instruments XIO3130/);
    expect(r.stdout.match(/Non-Volatile memory controller/g)?.length).toBe(2);
    expect(r.stdout.match(/Kernel driver in use: nvme/g)?.length).toBe(2);
  });

  it('tears down QEMU and leaves only logs in the run folder', async () => {
    await guest.shutdown();
    expect(guest.process.exitCode !== null || guest.process.signalCode !== null).toBe(true);
    expect(existsSync(join(runDir, 'ctl.sock'))).toBe(false);
    expect(readdirSync(runDir).sort()).toEqual(['console.log', 'qemu.log']);
    expect(guest.consoleLog()).toContain('P2PKIT: initramfs reached');
  });
});

/**
 * PMR persistence: the guest writes the NVMe Persistent Memory Region through BAR4 (no driver
 * bound, as Linux's nvme driver does not use the PMR), the p2pkit server is stopped and started
 * again from the same backing file, a new QEMU boots, and the guest reads the data back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNvme } from '@p2pkit/nvme';
import { topology } from '@p2pkit/fabric';
import { boot, provision, Rig } from '@p2pkit/testbed';
import { recordingLogger } from '@p2pkit/base';
import { afterAll, expect, it } from 'vitest';
import { buildGuestTool, kv } from './guest-tool.ts';

const barTool = buildGuestTool(join(import.meta.dirname, 'guest/bar-rw.c'));
const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-pmr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One server lifetime: serve the controller, boot a guest, run `script`, stop everything. */
async function lifetime(script: string) {
  const provisioned = await provision();
  const nvme = await createNvme({
    serial: 'PMR-0',
    namespaces: [{ path: join(dir, 'ns.img'), sizeBytes: 16 << 20 }],
    pmr: { path: join(dir, 'pmr.bin'), size: 4 << 20 },
  });
  const rig = new Rig({
    topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('pmr0'))),
    devices: { pmr0: nvme },
    logger: recordingLogger(),
  });
  try {
    await using guest = await boot(rig.topology, { provisioned, modules: [] });
    const bdf = (await guest.run('lspci -D -n -d 1b36:00f4 | cut -d" " -f1', { check: true })).stdout.trim();
    return await guest.run(`install -m755 "$JOB_IN/bar-rw" ./bar-rw; B=${bdf}; ${script}`, { files: { 'bar-rw': barTool }, timeoutMs: 30_000 });
  } finally {
    rig.close();
    await nvme.close();
  }
}

it('keeps what the guest wrote into the PMR across a server restart', async () => {
  const stamp = `p2pkit-pmr-${Date.now()}`;
  const first = await lifetime(
    `echo 1 > /sys/bus/pci/devices/$B/enable
     ./bar-rw $B 0 write32 0xe04 1            # PMRCTL.EN
     ./bar-rw $B 0 read32 0xe08 | sed 's/^/pmrsts_/'
     ./bar-rw $B 4 write 4096 ${stamp}
     ./bar-rw $B 4 read 4096 ${stamp.length}
     ./bar-rw $B 0 write32 0xe04 0            # disable: the controller flushes the PMR`,
  );
  expect(first.exitCode, first.stdout + first.stderr).toBe(0);
  expect(kv(first.stdout).text).toBe(stamp);
  expect(Number(kv(first.stdout).pmrsts_value) & 0x100).toBe(0); // PMRSTS.NRDY clear once enabled

  const second = await lifetime(
    `echo 1 > /sys/bus/pci/devices/$B/enable
     ./bar-rw $B 0 write32 0xe04 1
     ./bar-rw $B 4 read 4096 ${stamp.length}`,
  );
  expect(second.exitCode, second.stdout + second.stderr).toBe(0);
  expect(kv(second.stdout).text).toBe(stamp);
});

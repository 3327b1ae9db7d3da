/**
 * INTx fallback: with MSI disabled in the guest (`pci=nomsi`) the stock nvme driver runs on the
 * legacy interrupt line of a p2pkit NVMe controller, and I/O still completes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { bootNvmeSwitch, deviceBugs, type NvmeScenario } from './nvme-rig.ts';

let s: NvmeScenario;
beforeAll(async () => {
  s = await bootNvmeSwitch({ intx0: { serial: 'INTX-0', namespaceMiB: [64] } }, { kernelArgs: ['pci=nomsi'] });
});
afterAll(async () => {
  await s?.close();
});

it('drives the controller through INTx when the guest disables MSI/MSI-X', async () => {
  const r = await s.guest.run(
    `set -e
     d=$(nvme_ns_by_serial INTX-0)
     dd if=/dev/urandom of=/tmp/a bs=64k count=32 2>/dev/null
     dd if=/tmp/a of=$d bs=64k oflag=direct conv=fsync 2>/dev/null
     dd if=$d of=/tmp/b bs=64k count=32 iflag=direct 2>/dev/null
     echo "same=$(cmp -s /tmp/a /tmp/b && echo yes || echo no)"
     echo "msix=$(lspci -vv -s $(nvme_bdf_by_serial INTX-0) | grep -c 'MSI-X: Enable+' || true)"
     echo "irqs=$(grep -E 'nvme' /proc/interrupts | grep -vc -E 'MSI|PCI-MSIX' || true)"`,
    { timeoutMs: 120_000 },
  );
  expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
  expect(kv(r.stdout)).toMatchObject({ same: 'yes', msix: '0' });
  expect(Number(kv(r.stdout).irqs)).toBeGreaterThanOrEqual(1); // a legacy (IO-APIC) line named nvme
  const session = s.rig.servers.get('intx0')?.session;
  expect(session?.irqs.isEnabled(0)).toBe(true); // QEMU bound the INTx eventfd
  expect(session?.irqs.isEnabled(2)).toBe(false); // and no MSI-X vector
  expect(deviceBugs(s.log)).toEqual([]);
});

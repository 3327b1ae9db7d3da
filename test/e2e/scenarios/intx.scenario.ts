/**
 * INTx fallback: with MSI disabled in the guest (`pci=nomsi`) the stock nvme driver runs on the
 * legacy interrupt line of a p2pkit NVMe controller, and I/O still completes.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

export default defineScenario({
  name: 'INTx fallback',
  topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('intx0'))),
  devices: async ({ dir }) => ({
    intx0: await createNvme({ serial: 'INTX-0', maxIoQueues: 8, namespaces: [{ path: join(dir, 'intx0-ns1.img'), sizeBytes: 64 << 20 }] }),
  }),
  guest: { kernelArgs: ['pci=nomsi'] },
  steps: {
    'drives the controller through INTx when the guest disables MSI/MSI-X': async (ctx) => {
      const r = await ctx.guest.run(
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
      ctx.jobOk('dd through INTx', r);
      const v = kv(r.stdout);
      ctx.equal('data read back', v.same, 'yes');
      ctx.equal('MSI-X enabled', v.msix, '0');
      ctx.atLeast('legacy (IO-APIC) lines named nvme', Number(v.irqs), 1);
      const session = ctx.rig.servers.get('intx0')?.session;
      ctx.equal('QEMU bound the INTx eventfd', session?.irqs.isEnabled(0), true);
      ctx.equal('and no MSI-X vector', session?.irqs.isEnabled(2), false);
    },
  },
});

/**
 * PMR persistence: the guest writes the NVMe Persistent Memory Region through BAR4 (no driver bound:
 * Linux's nvme driver does not use the PMR), the p2pkit server is stopped and started again from the
 * same backing file, a new QEMU boots, and the guest reads the data back.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv } from '@p2pkit/testbed';

const barTool = buildGuestTool(join(import.meta.dirname, 'guest', 'bar-rw.c'));
const stamp = `p2pkit-pmr-${Date.now()}`;
/** Run `script` with `./bar-rw` installed and `$B` set to the controller's address. */
const withBar = (script: string) => `${installTool('bar-rw')}; B=$(lspci -D -n -d 1b36:00f4 | cut -d" " -f1); ${script}`;

export default defineScenario({
  name: 'PMR contents across a restart',
  description: 'what the guest wrote through BAR4 survives a server restart and a new boot',
  topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('pmr0'))),
  // The same files in every generation: the restarted server opens what the first one flushed.
  devices: async ({ dir }) => ({
    pmr0: await createNvme({
      serial: 'PMR-0',
      namespaces: [{ path: join(dir, 'ns.img'), sizeBytes: 16 << 20 }],
      pmr: { path: join(dir, 'pmr.bin'), size: 4 << 20 },
    }),
  }),
  guest: { modules: [] },
  steps: {
    'the guest enables the PMR, writes it through BAR4 and disables it (the controller flushes)': async (ctx) => {
      const r = await ctx.guest.run(
        withBar(`echo 1 > /sys/bus/pci/devices/$B/enable
         ./bar-rw $B 0 write32 0xe04 1            # PMRCTL.EN
         ./bar-rw $B 0 read32 0xe08 | sed 's/^/pmrsts_/'
         ./bar-rw $B 4 write 4096 ${stamp}
         ./bar-rw $B 4 read 4096 ${stamp.length}
         ./bar-rw $B 0 write32 0xe04 0            # disable: the controller flushes the PMR`),
        { files: { 'bar-rw': barTool }, timeoutMs: 30_000 },
      );
      ctx.jobOk('bar-rw', r);
      ctx.equal('read back before the restart', kv(r.stdout).text, stamp);
      ctx.equal('PMRSTS.NRDY clear once enabled', Number(kv(r.stdout).pmrsts_value) & 0x100, 0);
    },

    'after a server restart and a new boot, the PMR holds what the guest wrote': async (ctx) => {
      await ctx.restart();
      const r = await ctx.guest.run(
        withBar(`echo 1 > /sys/bus/pci/devices/$B/enable
         ./bar-rw $B 0 write32 0xe04 1
         ./bar-rw $B 4 read 4096 ${stamp.length}`),
        { files: { 'bar-rw': barTool }, timeoutMs: 30_000 },
      );
      ctx.jobOk('bar-rw', r);
      ctx.equal('read back after the restart', kv(r.stdout).text, stamp);
    },
  },
});

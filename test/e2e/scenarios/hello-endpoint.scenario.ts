/**
 * The hello endpoint in a real guest: QEMU (vfio-user-pci) below a PCIe switch, served by p2pkit
 * from this process. Checks what the guest's lspci saw, that guest MMIO reaches the TypeScript
 * callbacks, and that the endpoint's DMA lands in guest memory as the guest verifies it.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv, type ScenarioContext } from '@p2pkit/testbed';
import { RegionIndex } from '@p2pkit/vfio-user';
import { hello, Reg } from '../../../examples/hello-endpoint/hello.ts';

const tool = buildGuestTool(join(import.meta.dirname, '../../../examples/hello-endpoint/guest/hello-dma.c'));
const helloDma = (args: string) => `${installTool('hello-dma')} && ./hello-dma $(lspci -D -n -d 1b36:00f0 | cut -d" " -f1) ${args}`;
const served = (ctx: ScenarioContext) => ctx.rig.served.get('hello0');

export default defineScenario({
  name: 'hello endpoint in a QEMU guest',
  topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('hello0'))),
  devices: () => ({ hello0: hello }),
  guest: { modules: [] },
  steps: {
    'lspci -vvv shows exactly the declared IDs, class, BAR and capabilities': async (ctx) => {
      const bdf = (await ctx.guest.run('lspci -D -n -d 1b36:00f0 | cut -d" " -f1', { check: true })).stdout.trim();
      ctx.match('address', bdf, /^0000:[0-9a-f]{2}:00\.0$/);
      const r = await ctx.guest.run(`lspci -vvv -nn -s ${bdf}`);
      ctx.jobOk('lspci', r);
      const out = r.stdout;
      ctx.match('class and IDs', out, /\[ff00\]: .*\[1b36:00f0\] \(rev 01\)/);
      ctx.match('subsystem', out, /Subsystem: .*\[1b36:0001\]/);
      ctx.match('BAR0', out, /Region 0: Memory at [0-9a-f]+ \(32-bit, non-prefetchable\) \[size=4K\]/);
      ctx.check('no other BARs', !/Region [1-5]:/.test(out));
      ctx.match('power management', out, /Capabilities: \[40\] Power Management version 3/);
      ctx.match('PCIe', out, /Capabilities: \[[0-9a-f]+\] Express \(v2\) Endpoint/);
      ctx.match(
        'MSI-X',
        out,
        /Capabilities: \[[0-9a-f]+\] MSI-X: Enable- Count=2 Masked-\s+Vector table: BAR=0 offset=00000800\s+PBA: BAR=0 offset=00000c00/,
      );
      ctx.match('serial number', out, /Capabilities: \[100 v1\] Device Serial Number 01-23-45-67-89-ab-cd-ef/);
    },

    'a guest MMIO write reaches the TypeScript callback, and a read returns its value': async (ctx) => {
      const endpoint = served(ctx)?.endpoint;
      const w = await ctx.guest.run(helloDma('scratch-write cafef00d'), { files: { 'hello-dma': tool }, timeoutMs: 20_000 });
      ctx.jobOk('scratch-write', w);
      ctx.equal('the guest wrote', kv(w.stdout).wrote, '0xcafef00d');
      ctx.equal(
        'the device saw',
        endpoint && Buffer.from(endpoint.regionRead(RegionIndex.BAR0, BigInt(Reg.SCRATCH), 4)).readUInt32LE(0),
        0xcafef00d,
      );
      endpoint?.regionWrite(RegionIndex.BAR0, BigInt(Reg.SCRATCH), Buffer.from([0x34, 0x12, 0x5a, 0x5a]));
      const r = await ctx.guest.run(helloDma('scratch-read'), { files: { 'hello-dma': tool } });
      ctx.jobOk('scratch-read', r);
      ctx.equal('the guest read', kv(r.stdout).scratch, '0x5a5a1234');
    },

    "the endpoint's DMA copies guest memory, verified by the guest CPU": async (ctx) => {
      const r = await ctx.guest.run(helloDma('copy 4096'), { files: { 'hello-dma': tool }, timeoutMs: 30_000 });
      ctx.jobOk('copy', r);
      const v = kv(r.stdout);
      ctx.equal('status DONE', v.status, '2');
      ctx.equal('copies', v.copies_delta, '1');
      ctx.equal('guest compare', v.compare, 'MATCH');
      // The copy went through mapped guest RAM, not through DMA messages: no DMA message at all, and
      // the fabric (the rig serves on one) counted both directions as guest-RAM transfers.
      ctx.equal('DMA messages', served(ctx)?.server.session?.dma.counters.messages, 0);
      ctx.atLeast('bytes to and from guest RAM', ctx.rig.fabric.endpoint('hello0').byKind['guest-ram'], 8192);
    },
  },
});

/**
 * The p2pkit demo: two NVMe controllers written in TypeScript sit below one PCIe switch in a QEMU
 * guest running a stock Linux kernel. The guest's nvme driver publishes controller A's CMB as
 * p2pmem; the guest then copies 64 MiB from B to B twice — once through A's CMB (peer-to-peer),
 * once through host memory — and p2pkit's fabric model shows where the bytes travelled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderLinkChartHtml, renderLinkTable, topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { boot, buildGuestTool, installTool, parseKeyValues, provision, Rig } from '@p2pkit/testbed';
import { consoleLogger } from '@p2pkit/base';

const MiB = 1 << 20;
const payload = 64 * MiB;
const out = join(process.cwd(), 'demo-output');
mkdirSync(out, { recursive: true });
const step = (s: string) => console.log(`\n▶ ${s}`);

step('provisioning QEMU (Debian sid), the sid kernel and guest tools (cached after the first run)');
const provisioned = await provision();

step('starting two p2pkit NVMe controllers (A: 64 MiB CMB, B: 16 MiB CMB) on a modelled switch');
const a = await createNvme({ serial: 'DEMO-A', model: 'p2pkit NVMe A', cmb: { size: 64 * MiB }, maxIoQueues: 4, namespaces: [{ path: join(out, 'a.img'), sizeBytes: 256 * MiB }] });
const b = await createNvme({ serial: 'DEMO-B', model: 'p2pkit NVMe B', cmb: { size: 16 * MiB }, maxIoQueues: 4, namespaces: [{ path: join(out, 'b.img'), sizeBytes: 512 * MiB }] });
const rig = new Rig({
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('nvmeA');
      sw.downstream('dn1').attach('nvmeB');
    }),
  ),
  devices: { nvmeA: a, nvmeB: b },
  logger: consoleLogger('p2pkit'),
});

try {
  step('booting the guest (TCG, about 10 s)');
  await using guest = await boot(rig.topology, { provisioned, waitForNvme: 2, kernelArgs: ['nvme.sgl_threshold=4096'] });
  console.log(`guest ready in ${(guest.bootMs / 1000).toFixed(1)} s`);

  step('what the guest sees');
  const seen = await guest.run(
    `lspci -tv | sed -n '1,12p'
     nvme list
     p=$(p2pmem_dir DEMO-A); echo "p2pmem published=$(cat $p/published) size=$(cat $p/size) available=$(cat $p/available)"
     dmesg | grep -m1 'added peer-to-peer DMA memory'`,
    { check: true },
  );
  console.log(seen.stdout.trimEnd());
  console.log(`controller A created ${a.controller.stats.ioSqCreatedInCmb} I/O submission queues inside its CMB`);

  const tool = buildGuestTool(join(import.meta.dirname, 'guest/nvme-copy.c'));
  const run = (args: string) => guest.run(`${installTool('nvme-copy')} && b=$(nvme_ns_by_serial DEMO-B) && p=$(p2pmem_dir DEMO-A) && ./nvme-copy ${args}`, { files: { 'nvme-copy': tool }, timeoutMs: 300_000, check: true });
  await run(`seed $b 0 ${payload} 42`);

  for (const [name, buffer, dst] of [
    ['peer-to-peer through A’s CMB', '$p/allocate', 128 * MiB],
    ['through a host-memory buffer', 'host', 256 * MiB],
  ] as const) {
    step(`copy 64 MiB B→B ${name}`);
    rig.fabric.resetCounters();
    const trace = rig.fabric.startTrace(join(out, `${buffer === 'host' ? 'host' : 'p2p'}-copy.p2pt`));
    const r = await run(`copy ${buffer} $b 0 $b ${dst} ${payload} $((4<<20))`);
    await trace.close();
    const links = ['rp0', 'dn0', 'dn1'].map((l) => rig.fabric.link(l));
    const v = { ...parseKeyValues(r.stdout), ...parseKeyValues((await run(`verify $b 0 $b ${dst} ${payload}`)).stdout) };
    const up = (links[0]?.upstream.bytes ?? 0) + (links[0]?.downstream.bytes ?? 0);
    console.log(renderLinkTable(links, rig.fabric.topology));
    console.log(`guest: ${v.copied} bytes in ${v.seconds} s (${v.mbps} MB/s), verify=${v.verify}`);
    console.log(`switch upstream port (rp0) carried ${up} bytes = ${((up / payload) * 100).toFixed(3)}% of the payload`);
    writeFileSync(join(out, `${buffer === 'host' ? 'host' : 'p2p'}-links.html`), renderLinkChartHtml(links, { title: `64 MiB copy ${name}` }));
  }
  console.log(`\ncharts and traces in ${out} (render a trace with: npx p2pkit trace ${join(out, 'p2p-copy.p2pt')})`);
} finally {
  rig.close();
  await a.close();
  await b.close();
}

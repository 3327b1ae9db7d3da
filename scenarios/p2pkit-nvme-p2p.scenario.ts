/**
 * P2PDMA between p2pkit NVMe controllers below one switch, plus QEMU's own nvme as a peer. The
 * guest kernel publishes the p2pkit CMB and places I/O SQs in it, and the fabric model shows where
 * the bytes of a copy travelled: an NVMe→CMB→NVMe copy leaves the switch upstream link idle.
 */
import { join } from 'node:path';
import { qemuNvme, readTrace, topology, traceTotals } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { buildGuestTool, defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';
import { MiB } from './lib.ts';

const copyTool = buildGuestTool(join(import.meta.dirname, '../packages/cli/guest/nvme-copy.c'));
const tool = (args: string) => `install -m755 "$JOB_IN/nvme-copy" ./nvme-copy && ./nvme-copy ${args}`;
const files = { 'nvme-copy': copyTool };

export default defineScenario({
  name: 'p2pkit NVMe peer-to-peer',
  description: 'p2pkit CMB published and used for SQs; NVMe→CMB→NVMe keeps the upstream link idle; QEMU nvme as a peer both ways',
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('nvmeA');
      sw.downstream('dn1').attach('nvmeB');
      // QEMU's own nvme on the same switch; the fabric learns its CMB BAR from the description.
      sw.downstream('dn2').attach(qemuNvme({ serial: 'QEMU-C', sizeMiB: 128, cmbMiB: 16, id: 'qemuC' }));
    }),
  ),
  devices: async ({ dir }) => ({
    nvmeA: await createNvme({
      serial: 'P2P-A',
      cmb: { size: 64 * MiB },
      maxIoQueues: 4,
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 512 * MiB }],
    }),
    nvmeB: await createNvme({
      serial: 'P2P-B',
      cmb: { size: 16 * MiB },
      maxIoQueues: 4,
      namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 512 * MiB }],
    }),
  }),
  // With PRPs the driver's PRP lists (0.2% of the payload) live in host memory and cross the upstream
  // port; sgl_threshold=4096 makes it describe each contiguous p2p buffer with one SGL (docs/testbed.md).
  guest: { kernelArgs: ['nvme.sgl_threshold=4096'] },
  steps: {
    'the p2pkit CMB is published as p2pmem and the driver puts its I/O SQs there': async (ctx) => {
      const r = await ctx.guest.run(
        `p=$(p2pmem_dir P2P-A)
         echo "published=$(cat $p/published)"; echo "size=$(cat $p/size)"; echo "available=$(cat $p/available)"`,
      );
      ctx.jobOk('sysfs', r);
      const v = kv(r.stdout);
      ctx.equal('published', v.published, '1');
      ctx.equal('size', Number(v.size), 64 * MiB);
      ctx.check('SQ memory taken from the pool', Number(v.available) < 64 * MiB, `available ${v.available}`);
      ctx.match('dmesg', await ctx.guest.dmesg(), /nvme \S+: added peer-to-peer DMA memory/);
      // SeaBIOS creates one I/O SQ in RAM before Linux; Linux puts one per CPU (2) in the CMB.
      const stats = ctx.devices.nvmeA.controller.stats;
      ctx.atLeast('I/O SQs created in the CMB', stats.ioSqCreatedInCmb, 2);
      ctx.atMost('I/O SQs created elsewhere', stats.ioSqCreated - stats.ioSqCreatedInCmb, 1);
    },

    'fio verify with buffers in the peer p2pmem (--iomem=mmapshared:.../p2pmem/allocate, --direct=1)': async (ctx) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A)
         fio --name=p2p --filename=$d --direct=1 --ioengine=psync --rw=randwrite --bs=128k --size=32M \\
             --iomem=mmapshared:$p/allocate --verify=crc32c --do_verify=1 --verify_fatal=1 \\
             --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"`,
        { timeoutMs: 300_000 },
      );
      ctx.jobOk('fio job', r);
      ctx.equal('fio exit', kv(r.stdout).fio, '0');
      const terse = (r.files.get('fio.terse') ?? Buffer.alloc(0)).toString().trim().split(';');
      ctx.equal('fio errors', Number(terse[4]), 0);
      ctx.equal('KiB written', Number(terse[46]), 32 * 1024);
    },

    'NVMe→CMB→NVMe: 64 MiB move ≤ 0.1% of the payload over the switch upstream port; via host memory ≥ 2×': async (ctx) => {
      const sgl = await ctx.guest.run('cat /sys/module/nvme/parameters/sgl_threshold');
      ctx.equal('sgl_threshold', sgl.stdout.trim(), '4096');
      const seed = await ctx.guest.run(`b=$(nvme_ns_by_serial P2P-B); ${tool('seed $b 0 $((64<<20)) 42')}`, { files, timeoutMs: 120_000 });
      ctx.jobOk('seed', seed);
      const payload = 64 * MiB;
      const fabric = ctx.rig.fabric;
      const upstream = () => {
        const l = fabric.link('rp0');
        return l.upstream.bytes + l.downstream.bytes;
      };

      fabric.resetCounters();
      const trace = ctx.trace('p2p-copy');
      const p2p = await ctx.guest.run(
        `b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A); ${tool(`copy $p/allocate $b 0 $b $((128<<20)) ${payload} $((4<<20))`)}`,
        {
          files,
          timeoutMs: 300_000,
        },
      );
      ctx.jobOk('p2p copy', p2p);
      const p2pUp = upstream();
      const p2pPeer = fabric.link('dn0');
      await trace.close();
      // The recorded trace re-computes exactly the live per-link totals.
      const replayed = traceTotals(await readTrace(join(ctx.outDir, 'p2p-copy.p2pt')));
      for (const id of ['rp0', 'dn0', 'dn1'])
        ctx.equal(
          `trace totals of ${id}`,
          replayed.links.find((l) => l.link === id),
          fabric.link(id),
        );

      fabric.resetCounters();
      const host = await ctx.guest.run(`b=$(nvme_ns_by_serial P2P-B); ${tool(`copy host $b 0 $b $((256<<20)) ${payload} $((4<<20))`)}`, {
        files,
        timeoutMs: 300_000,
      });
      ctx.jobOk('host copy', host);
      const hostUp = upstream();

      const verify = await ctx.guest.run(
        `b=$(nvme_ns_by_serial P2P-B); ${tool(`verify $b 0 $b $((128<<20)) ${payload}`)} && ./nvme-copy verify $b 0 $b $((256<<20)) ${payload}`,
        {
          files,
          timeoutMs: 120_000,
        },
      );
      ctx.match('both copies verify', verify.stdout, /verify=MATCH\s+verify=MATCH/);
      ctx.log(
        `upstream link rp0: p2p copy ${p2pUp} B (${((p2pUp / payload) * 100).toFixed(4)}% of ${payload}), host copy ${hostUp} B (${(hostUp / payload).toFixed(2)}×); ` +
          `p2p ${kv(p2p.stdout).mbps} MB/s, host ${kv(host.stdout).mbps} MB/s; dn0 carried ${p2pPeer.downstream.bytes + p2pPeer.upstream.bytes} B`,
      );
      ctx.atMost('p2p bytes over the upstream port', p2pUp, payload * 0.001);
      ctx.atLeast('p2p bytes into and out of the CMB (dn0)', p2pPeer.downstream.bytes + p2pPeer.upstream.bytes, 2 * payload);
      ctx.atLeast('host-copy bytes over the upstream port', hostUp, 2 * payload);
    },

    'QEMU nvme and p2pkit NVMe exchange data through the p2pkit CMB in both directions': async (ctx) => {
      const r = await ctx.guest.run(
        `c=$(nvme_ns_by_serial QEMU-C); b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A)
         ${tool('seed $c 0 $((8<<20)) 7')} && ./nvme-copy copy $p/allocate $c 0 $b $((400<<20)) $((8<<20)) $((1<<20)) \\
           && ./nvme-copy verify $c 0 $b $((400<<20)) $((8<<20)) \\
           && ./nvme-copy copy $p/allocate $b $((400<<20)) $c $((64<<20)) $((8<<20)) $((1<<20)) \\
           && ./nvme-copy verify $b $((400<<20)) $c $((64<<20)) $((8<<20))`,
        { files, timeoutMs: 300_000 },
      );
      ctx.jobOk('copies', r);
      ctx.equal('verified copies', r.stdout.match(/verify=MATCH/g)?.length, 2);
    },

    "a p2pkit NVMe DMAs into and out of QEMU nvme's CMB through QEMU (DMA_WRITE/DMA_READ messages)": async (ctx) => {
      // Where the guest placed QEMU's CMB (BAR2): the fabric then routes it as a peer served by QEMU.
      const res = await ctx.guest.run('sed -n 3p /sys/bus/pci/devices/$(nvme_bdf_by_serial QEMU-C)/resource', { check: true });
      ctx.rig.fabric.setBarAddress('qemuC', 2, BigInt(res.stdout.trim().split(/\s+/)[0] as string));
      const session = ctx.rig.servers.get('nvmeB')?.session;
      const before = session?.dma.counters.messageBytes ?? 0;
      ctx.rig.fabric.resetCounters();
      const r = await ctx.guest.run(
        `b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir QEMU-C)
         ${tool('seed $b $((420<<20)) $((2<<20)) 9')} && ./nvme-copy copy $p/allocate $b $((420<<20)) $b $((440<<20)) $((2<<20)) $((1<<20)) \\
           && ./nvme-copy verify $b $((420<<20)) $b $((440<<20)) $((2<<20))`,
        { files, timeoutMs: 300_000 },
      );
      ctx.jobOk('copy through QEMU CMB', r);
      ctx.equal('verify', kv(r.stdout).verify, 'MATCH');
      // B moved the 2 MiB into QEMU's CMB and back out of it as DMA_WRITE/DMA_READ messages.
      ctx.atLeast('DMA message bytes', (session?.dma.counters.messageBytes ?? 0) - before, 4 * MiB);
      const dn2 = ctx.rig.fabric.link('dn2');
      ctx.atLeast("peer traffic to QEMU's device (dn2)", dn2.downstream.bytes + dn2.upstream.bytes, 4 * MiB);
    },
  },
});

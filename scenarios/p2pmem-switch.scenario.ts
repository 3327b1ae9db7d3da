/**
 * p2pmem with the kernel's reference provider: two QEMU NVMe controllers below one PCIe switch, one
 * with a 64 MiB CMB. The kernel must publish the CMB as p2pmem, hand it out through
 * p2pmem/allocate, and let the peer DMA into and out of it with O_DIRECT, both directions, and
 * under fio's verify. Everything checked is what the guest kernel and its stock tools reported.
 */
import { join } from 'node:path';
import { qemuNvme, topology } from '@p2pkit/fabric';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv } from '@p2pkit/testbed';

const MiB = 1024 * 1024;
const mmapTool = buildGuestTool(join(import.meta.dirname, 'guest', 'p2pmem-mmap.c'));

export default defineScenario({
  name: 'p2pmem below a switch',
  description: 'CMB published and allocatable, mmap of p2pmem/allocate, O_DIRECT copies both ways, fio verify in p2pmem',
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }));
      sw.downstream('dn1').attach(qemuNvme({ serial: 'peer0' }));
    }),
  ),
  steps: {
    'both controllers sit below the switch; the CMB is published as p2pmem': async (ctx) => {
      const r = await ctx.guest.run(
        `p=$(p2pmem_dir cmb0)
         echo "kernel=$(uname -r)"
         echo "cmb_bdf=$(nvme_bdf_by_serial cmb0)"
         echo "peer_bdf=$(nvme_bdf_by_serial peer0)"
         echo "cmb_parent=$(basename "$(dirname "$(readlink -f /sys/bus/pci/devices/$(nvme_bdf_by_serial cmb0))")")"
         echo "peer_parent=$(basename "$(dirname "$(readlink -f /sys/bus/pci/devices/$(nvme_bdf_by_serial peer0))")")"
         echo "published=$(cat $p/published)"
         echo "size=$(cat $p/size)"
         echo "peer_has_p2pmem=$([ -d "$(p2pmem_dir peer0)" ] && echo yes || echo no)"`,
        { timeoutMs: 20_000 },
      );
      ctx.jobOk('sysfs job', r);
      const v = kv(r.stdout);
      ctx.log(`guest kernel ${v.kernel}`);
      ctx.equal('p2pmem/published', v.published, '1');
      ctx.equal('p2pmem/size', Number(v.size), 64 * MiB);
      ctx.equal('the peer has no p2pmem', v.peer_has_p2pmem, 'no');
      ctx.match('provider address', v.cmb_bdf, /^0000:[0-9a-f]{2}:00\.0$/);
      // Two downstream ports of one switch: the parents differ but are siblings on the switch's bus.
      ctx.check('different downstream ports', v.cmb_parent !== v.peer_parent, `${v.cmb_parent} vs ${v.peer_parent}`);
      ctx.equal('same switch', v.cmb_parent?.slice(0, 8), v.peer_parent?.slice(0, 8));
      const dmesg = await ctx.guest.dmesg();
      ctx.match(
        'dmesg: added peer-to-peer DMA memory',
        dmesg,
        new RegExp(`nvme ${v.cmb_bdf?.replace(/\./g, '\\.')}: added peer-to-peer DMA memory`),
      );
    },

    'p2pmem/allocate: shared mmap takes pages from the pool, private and offset mappings are refused': async (ctx) => {
      const r = await ctx.guest.run(`${installTool('p2pmem-mmap')} && ./p2pmem-mmap "$(p2pmem_dir cmb0)" ${4 * MiB}`, {
        files: { 'p2pmem-mmap': mmapTool },
        timeoutMs: 30_000,
      });
      ctx.jobOk('p2pmem-mmap', r);
      const v = kv(r.stdout);
      const before = Number(v.available_before);
      ctx.equal('mmap(MAP_SHARED) of 4 MiB', v.map, 'ok');
      ctx.equal('available drops by the mapping while mapped', before - Number(v.available_mapped), 4 * MiB);
      ctx.equal('CPU stores and loads through the mapping', v.pattern, 'MATCH');
      ctx.equal('available is back after munmap', Number(v.available_after), before);
      ctx.equal('MAP_PRIVATE refused (EINVAL)', v.private, 'refused errno=22');
      ctx.equal('non-zero offset refused (EINVAL)', v.offset, 'refused errno=22');
      ctx.equal('more than the pool refused (ENOMEM)', v.overcommit, 'refused errno=12');
      ctx.match('dmesg: private mapping refused', await ctx.guest.dmesg(), /fail, attempted private mapping/);
    },

    'O_DIRECT peer → p2pmem → peer: the data compares equal': async (ctx) => {
      const r = await ctx.guest.run(
        `p=$(p2pmem_dir cmb0); b=$(nvme_ns_by_serial peer0)
         p2p-copy "$p/allocate" "$b" "$b" ${MiB} 7 0 ${8 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('p2p-copy', r);
      const v = kv(r.stdout);
      ctx.match('bytes', v.bytes, /^1048576 /);
      ctx.equal('read: the peer DMA-wrote into the provider CMB', v.read, 'ok');
      ctx.equal('CPU compare of p2pmem', v.cmp_p2p, 'MATCH');
      ctx.equal('write: the peer DMA-read the provider CMB', v.write, 'ok');
      ctx.equal('destination compare', v.cmp_dst, 'MATCH');
      ctx.equal('result', v.result, 'PASS');
    },

    'O_DIRECT provider → p2pmem → peer, and peer → p2pmem → provider': async (ctx) => {
      const r = await ctx.guest.run(
        `p=$(p2pmem_dir cmb0)
         p2p-copy "$p/allocate" "$(nvme_ns_by_serial cmb0)" "$(nvme_ns_by_serial peer0)" ${MiB} 11 0 ${16 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('provider → peer', r);
      ctx.equal('provider → peer result', kv(r.stdout).result, 'PASS');
      ctx.equal('provider → peer destination compare', kv(r.stdout).cmp_dst, 'MATCH');
      const back = await ctx.guest.run(
        `p=$(p2pmem_dir cmb0)
         p2p-copy "$p/allocate" "$(nvme_ns_by_serial peer0)" "$(nvme_ns_by_serial cmb0)" ${MiB} 13 ${24 * MiB} ${32 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('peer → provider', back);
      ctx.equal('peer → provider result', kv(back.stdout).result, 'PASS');
    },

    'fio writes and verifies the peer with its I/O buffers in p2pmem': async (ctx) => {
      const r = await ctx.guest.run(
        `fio --name=p2p --filename="$(nvme_ns_by_serial peer0)" --rw=write --bs=128k --size=2M --direct=1 \\
           --ioengine=psync --iomem="mmapshared:$(p2pmem_dir cmb0)/allocate" --verify=crc32c --do_verify=1 \\
           --output-format=json > "$JOB_OUT/fio.json"`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('fio', r);
      const report = JSON.parse(r.files.get('fio.json')?.toString() ?? '{}') as {
        jobs?: { error: number; write: { io_bytes: number }; read: { io_bytes: number } }[];
      };
      const job = report.jobs?.[0];
      ctx.equal('fio error', job?.error, 0);
      ctx.equal('bytes written', job?.write.io_bytes, 2 * MiB);
      ctx.equal('bytes read back into p2pmem by the verify pass', job?.read.io_bytes, 2 * MiB);
    },

    'lspci -vvv shows the switch and both NVMe functions bound to nvme': async (ctx) => {
      const r = await ctx.guest.run('lspci -vvv', { timeoutMs: 30_000 });
      ctx.jobOk('lspci', r);
      ctx.match('switch', r.stdout, /PCI bridge: Texas Instruments XIO3130/);
      ctx.equal('NVMe functions', r.stdout.match(/Non-Volatile memory controller/g)?.length, 2);
      ctx.equal('bound to nvme', r.stdout.match(/Kernel driver in use: nvme/g)?.length, 2);
    },
  },
});

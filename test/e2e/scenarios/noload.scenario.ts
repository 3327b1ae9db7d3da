/**
 * NoLoad (examples/noload) in a real guest: the stock nvme driver binds it, stock `nvme
 * io-passthru` on its generic char device runs the vendor commands, and an offload pipeline moves
 * drive B → NoLoad's CMB → compress in the NoLoad → CMB → drive B with no payload in host memory.
 * Results are checked against the same transform in the guest (gzip/gunzip, a CRC-32C C tool),
 * and the fabric's per-link counters show where the bytes went.
 */
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv } from '@p2pkit/testbed';
import { createNoload } from '../../../examples/noload/noload.ts';

const MiB = 1 << 20;
const files = { 'noload-tool': buildGuestTool(join(import.meta.dirname, '../../../examples/noload/guest/noload-tool.c')) };
/** Shell prelude: the NoLoad's namespace, generic char device, controller and BDF; drive B's namespace. */
const prelude = `${installTool('noload-tool')}
  ns=$(nvme_ns_by_serial NOLOAD-A); ng=$(echo $ns | sed s#/dev/nvme#/dev/ng#); c=$(nvme_ctrl_by_serial NOLOAD-A)
  bdf=$(nvme_bdf_by_serial NOLOAD-A); b=$(nvme_ns_by_serial DRIVE-B)
  result() { sed -n 's/.*result: //p'; }   # nvme-cli prints "... is Success and result: 0x..." on stderr`;

export default defineScenario({
  name: 'NoLoad computational storage',
  description: 'stock nvme io-passthru runs the vendor commands; drive B → CMB → compress → CMB → drive B without host memory',
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('noload');
      sw.downstream('dn1').attach('driveB');
    }),
  ),
  devices: async ({ dir }) => ({
    noload: await createNoload({ serial: 'NOLOAD-A', maxIoQueues: 4, namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 256 * MiB }] }),
    driveB: await createNvme({ serial: 'DRIVE-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 512 * MiB }] }),
  }),
  // One SGL data block per p2p command instead of a PRP list in host memory (docs/testbed.md).
  guest: { waitForNvme: 2, kernelArgs: ['nvme.sgl_threshold=4096'] },
  steps: {
    'stock nvme io-passthru on /dev/ngXn1 runs CRC-32C, compress and decompress; guest gzip/gunzip and CRC agree': async (ctx) => {
      // #region passthru
      const r = await ctx.guest.run(
        `${prelude}
       seq 1 30000 | head -c 65536 > in
       echo "crc_dev=$(nvme io-passthru $ng -O 0x8d -n 1 -l 65536 -w -i in -6 65536 -7 0 2>&1 >/dev/null | result)"
       ./noload-tool crc32c in | sed 's/^/guest_/'
       # host buffer → compress → namespace LBA 2048 (DW0: compressed bytes)
       L=$(nvme io-passthru $ng -O 0x85 -n 1 -l 65536 -w -i in -6 65536 -7 0x20 -8 2048 -9 1048576 2>&1 >/dev/null | result)
       echo "compressed=$((L))"
       dd if=$ns bs=512 skip=2048 count=$(( (L + 511) / 512 )) iflag=direct 2>/dev/null | head -c $((L)) > c.gz
       gunzip -c < c.gz | cmp - in && echo "gunzip=MATCH"
       # namespace → decompress → host buffer, written raw to stdout (-b)
       nvme io-passthru $ng -O 0x8a -n 1 -l 65536 -r -b -4 2048 -6 $(( (L + 511) / 512 - 1 )) -7 0x02 -9 65536 2>/dev/null > out
       cmp out in && echo "roundtrip=MATCH"
       # guest gzip -9 → decompress in the device → namespace LBA 4096
       gzip -9 -c in > g.gz; echo "gz=$(stat -c %s g.gz)"
       D=$(nvme io-passthru $ng -O 0x89 -n 1 -l $(stat -c %s g.gz) -w -i g.gz -6 $(stat -c %s g.gz) -7 0x20 -8 4096 -9 1048576 2>&1 >/dev/null | result)
       echo "inflated=$((D))"
       dd if=$ns bs=512 skip=4096 count=128 iflag=direct 2>/dev/null | cmp - in && echo "inflate=MATCH"
       echo "signature=$(nvme id-ctrl /dev/$c -b | dd bs=1 skip=3072 count=8 2>/dev/null)"
       nvme get-log /dev/$c --log-id=0xc0 --log-len=64 -b | od -An -tu8 -v | tr -s ' \\n' ' ' | sed 's/^ */log=/'; echo
       lspci -vvv -s $bdf | grep -c 'Vendor Specific Information: Len=0a' | sed 's/^/vendor_caps=/'`,
        { files, timeoutMs: 120_000 },
      );
      // #endregion passthru
      ctx.jobOk('nvme io-passthru', r);
      const v = kv(r.stdout);
      ctx.match('CRC-32C in DW0', v.crc_dev, /^0x[0-9a-f]{8}$/);
      ctx.equal('the device CRC-32C equals the guest tool', Number(v.crc_dev), Number(v.guest_crc32c));
      ctx.check('compressed to less than half', Number(v.compressed) > 1000 && Number(v.compressed) < 65536 / 2, v.compressed);
      ctx.equal('guest gunzip of the device output', v.gunzip, 'MATCH');
      ctx.equal('decompress to host memory round trip', v.roundtrip, 'MATCH');
      ctx.equal('the device inflates guest gzip -9 output', [Number(v.inflated), v.inflate], [65536, 'MATCH']);
      ctx.equal('Identify Controller vendor bytes', v.signature, 'P2NOLOAD');
      // Log page C0h: compress, decompress, CRC-32C commands; bytes in; bytes out.
      const [L, G] = [Number(v.compressed), Number(v.gz)];
      const bytesIn = 65536 /* CRC */ + 65536 /* compress */ + Math.ceil(L / 512) * 512 /* whole blocks */ + G;
      ctx.equal('vendor log page C0h', v.log?.trim().split(' ').map(Number), [1, 2, 1, bytesIn, L + 2 * 65536, 0, 0, 0]);
      ctx.equal('vendor-specific PCI capability', v.vendor_caps, '1');
    },

    'offload pipeline: drive B → CMB → compress in the NoLoad → CMB → drive B, upstream port ≤ 0.1% of the payload': async (ctx) => {
      const bytes = 16 * MiB;
      // Seed 16 MiB of compressible text at drive B offset 64 MiB (through host memory: not measured).
      const seed = await ctx.guest.run(
        `${prelude}
         seq 1 3000000 | head -c ${bytes} | dd of=$b bs=1M seek=64 oflag=direct iflag=fullblock 2>/dev/null`,
        { files, timeoutMs: 120_000 },
      );
      ctx.jobOk('seed drive B', seed);
      // #region pipeline
      ctx.rig.fabric.resetCounters();
      const run = await ctx.guest.run(
        `${prelude}
         ./noload-tool pipeline $bdf $(p2pmem_dir NOLOAD-A)/allocate $ng $b $((64 << 20)) $b $((128 << 20)) ${bytes}`,
        { files, timeoutMs: 180_000 },
      );
      ctx.jobOk('noload-tool pipeline', run);
      const link = (id: string) => ctx.rig.fabric.link(id).upstream.bytes + ctx.rig.fabric.link(id).downstream.bytes;
      const [up, noload, drive] = [link('rp0'), link('dn0'), link('dn1')];
      // #endregion pipeline
      const p = kv(run.stdout);
      const compressed = Number(p.compressed);
      // The same transform in the guest: gunzip of what landed on drive B is the source; CRC-32C agrees.
      const verify = await ctx.guest.run(
        `${prelude}
         dd if=$b bs=1M skip=128 count=${Math.ceil(compressed / MiB)} iflag=direct 2>/dev/null | head -c ${compressed} > p.gz
         ./noload-tool crc32c p.gz
         dd if=$b bs=1M skip=64 count=16 iflag=direct 2>/dev/null > src.bin
         gunzip -c < p.gz | cmp - src.bin && echo verify=MATCH`,
        { files, timeoutMs: 120_000 },
      );
      const v = kv(verify.stdout);
      ctx.log(
        `pipeline ${bytes} B → ${compressed} B (${((compressed / bytes) * 100).toFixed(1)}%), ${p.seconds_read}s read, ${p.seconds_compress}s compress, ${p.seconds_write}s write; ` +
          `upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}% of the input), dn0 (NoLoad) ${noload} B, dn1 (drive B) ${drive} B`,
      );
      ctx.equal('guest gunzip of drive B equals the source', v.verify, 'MATCH');
      ctx.equal('DW1 equals the guest CRC-32C of the output', Number(v.crc32c), Number(p.crc32c));
      ctx.check('compressed to less than half', compressed > 0 && compressed < bytes / 2, String(compressed));
      ctx.atMost('switch upstream port ≤ 0.1% of the payload', up, bytes * 0.001);
      // Peer traffic: drive B wrote the input into the CMB and read the padded output from it.
      ctx.atLeast('drive B link: input out, output in', drive, bytes + compressed);
      ctx.atLeast('NoLoad link: input in, output out', noload, bytes + compressed);
      ctx.equal('compress commands the NoLoad ran', ctx.devices.noload.stats.commands.compress, 2);
    },
  },
});

/**
 * End-to-end protection information with the stock Linux stack: the guest formats a p2pkit
 * namespace to 512+8 with PI type 1 (nvme-cli), the block layer's integrity support generates and
 * verifies T10-DIF CRC tuples, data round-trips (dd, fio verify), and bad guards — one sent by
 * nvme-cli, one made by corrupting the image on the host — come back as the spec's status and
 * as the kernel's protection error.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { crc16T10Dif, createNvme, type Namespace } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

/** Where the guest's dd writes: 2 MiB of 512-byte blocks from LBA 2048. */
const FIRST_LBA = 2048;
/** The block the host corrupts before the guest reads it again. */
const CORRUPT_LBA = FIRST_LBA + 5;

export default defineScenario({
  name: 'p2pkit NVMe end-to-end protection information (PI type 1) with the Linux block integrity layer',
  topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('nvme0'))),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: 'P2PKIT-PI',
      model: 'p2pkit NVMe PI',
      namespaces: [{ path: join(dir, 'pi.img'), sizeBytes: 64 << 20 }],
    }),
  }),
  guest: { cpus: 2 },
  steps: {
    'nvme format --lbaf=2 --pi=1: the kernel registers T10-DIF-TYPE1-CRC integrity': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-PI); n=$(basename $d)
         nvme format $d --lbaf=2 --pi=1 --force
         for i in $(seq 50); do [ "$(cat /sys/block/$n/integrity/format)" = T10-DIF-TYPE1-CRC ] && break; sleep 0.2; done
         echo "format=$(cat /sys/block/$n/integrity/format)"
         echo "capable=$(cat /sys/block/$n/integrity/device_is_integrity_capable)"
         echo "read_verify=$(cat /sys/block/$n/integrity/read_verify)"
         echo "write_generate=$(cat /sys/block/$n/integrity/write_generate)"
         echo "interval=$(cat /sys/block/$n/integrity/protection_interval_bytes)"
         nvme id-ns $d | grep -E '^(flbas|mc|dpc|dps) |in use'`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('nvme format', r);
      const v = kv(r.stdout);
      ctx.equal('integrity format', v.format, 'T10-DIF-TYPE1-CRC');
      ctx.equal('device_is_integrity_capable', v.capable, '1');
      ctx.equal('read_verify', v.read_verify, '1');
      ctx.equal('write_generate', v.write_generate, '1');
      ctx.equal('protection interval', v.interval, '512');
      ctx.match('id-ns dps', r.stdout, /^dps\s+: 0x1$/m);
      ctx.match('id-ns dpc', r.stdout, /^dpc\s+: 0x1f$/m);
      ctx.match('LBA format 2 in use', r.stdout, /lbaf\s+2 : ms:8\s+lbads:9\s.*in use/);
    },

    'dd and fio verify read back intact through the integrity path; the stored PI is what the kernel generated': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-PI)
         dd if=/dev/urandom of=/tmp/a bs=64k count=16 2>/dev/null
         dd if=/tmp/a of=$d bs=512 seek=${FIRST_LBA} oflag=direct conv=fsync 2>/dev/null
         dd if=$d of=/tmp/b bs=512 skip=${FIRST_LBA} count=2048 iflag=direct 2>/dev/null
         echo "same=$(cmp -s /tmp/a /tmp/b && echo yes || echo no)"
         fio --name=pi --filename=$d --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bs=4k --offset=8M --size=4M \\
             --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse
         echo "fio=$?"`,
        { timeoutMs: 180_000 },
      );
      ctx.jobOk('dd and fio', r);
      const v = kv(r.stdout);
      ctx.equal('dd read back', v.same, 'yes');
      ctx.equal('fio exit', v.fio, '0');
      const terse = (r.files.get('fio.terse') ?? Buffer.alloc(0)).toString().trim().split(';');
      ctx.equal('fio errors', Number(terse[4]), 0);
      ctx.equal('fio KiB read by verify', Number(terse[5]), 4 * 1024);
      // The tuples the controller stored: guard = CRC of the block, application tag 0, reference tag = LBA.
      const ns = ctx.devices.nvme0.controller.namespaces.active(1) as Namespace;
      const blocks = 2048;
      const data = await ns.read(BigInt(FIRST_LBA), blocks);
      const meta = (await ns.metadata?.read(BigInt(FIRST_LBA), blocks)) ?? new Uint8Array(0);
      const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
      let wrong = meta.byteLength === blocks * 8 ? 0 : blocks;
      for (let i = 0; i < blocks && wrong === 0; i++) {
        const guard = crc16T10Dif(data.subarray(i * 512, (i + 1) * 512));
        if (view.getUint16(i * 8) !== guard || view.getUint16(i * 8 + 2) !== 0 || view.getUint32(i * 8 + 4) !== FIRST_LBA + i) wrong++;
      }
      ctx.equal('blocks whose stored PI is not (CRC, 0, LBA)', wrong, 0);
    },

    'nvme write with a bad guard and PRCHK set fails with End-to-end Guard Check Error; the right guard is accepted': async (ctx) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-PI)
         dd if=/dev/zero of=/tmp/blk bs=512 count=1 2>/dev/null
         printf '\\022\\064\\000\\000\\000\\000\\000\\144' > /tmp/bad.pi
         printf '\\000\\000\\000\\000\\000\\000\\000\\144' > /tmp/good.pi
         nvme write $d --start-block=100 --block-count=0 --data-size=512 --data=/tmp/blk \\
             --metadata-size=8 --metadata=/tmp/bad.pi --prinfo=7 --ref-tag=100 > $JOB_OUT/bad.txt 2>&1
         echo "bad_rc=$?"
         nvme write $d --start-block=100 --block-count=0 --data-size=512 --data=/tmp/blk \\
             --metadata-size=8 --metadata=/tmp/good.pi --prinfo=7 --ref-tag=100 > $JOB_OUT/good.txt 2>&1
         echo "good_rc=$?"`,
        { timeoutMs: 60_000 },
      );
      const v = kv(r.stdout);
      const bad = (r.files.get('bad.txt') ?? Buffer.alloc(0)).toString();
      ctx.log(`nvme write (bad guard): ${bad.trim()}`);
      ctx.check('nvme write with a bad guard fails', v.bad_rc !== '0', `rc ${v.bad_rc}`);
      ctx.match('nvme-cli reports the guard check error', bad, /guard check error/i);
      ctx.equal('nvme write with the right guard', v.good_rc, '0');
    },

    'a block corrupted on the host: the guest read fails with EILSEQ and the kernel logs a protection error': async (ctx) => {
      const ns = ctx.devices.nvme0.controller.namespaces.active(1) as Namespace;
      const image = await open(ns.path, 'r+');
      try {
        const byte = new Uint8Array(1);
        await image.read(byte, 0, 1, CORRUPT_LBA * 512 + 100);
        byte[0] = (byte[0] as number) ^ 0x5a;
        await image.write(byte, 0, 1, CORRUPT_LBA * 512 + 100);
      } finally {
        await image.close();
      }
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial P2PKIT-PI)
         dd if=$d of=/dev/null bs=512 skip=${CORRUPT_LBA} count=1 iflag=direct > $JOB_OUT/dd.txt 2>&1
         echo "dd_rc=$?"
         dd if=$d of=/dev/null bs=512 skip=${CORRUPT_LBA + 1} count=1 iflag=direct 2>/dev/null
         echo "next_rc=$?"
         dmesg | grep -iE 'protection error|guard' | tail -4 > $JOB_OUT/dmesg.txt; true`,
        { timeoutMs: 60_000 },
      );
      const v = kv(r.stdout);
      const dd = (r.files.get('dd.txt') ?? Buffer.alloc(0)).toString();
      const dmesg = (r.files.get('dmesg.txt') ?? Buffer.alloc(0)).toString();
      ctx.log(`dd: ${dd.trim()}\ndmesg: ${dmesg.trim()}`);
      ctx.check('read of the corrupted block fails', v.dd_rc !== '0', `rc ${v.dd_rc}`);
      ctx.match('dd sees EILSEQ', dd, /Invalid or incomplete multibyte or wide character/);
      ctx.match('kernel logs the protection error', dmesg, new RegExp(`protection error, dev nvme\\d+n1, sector ${CORRUPT_LBA}`));
      ctx.equal('the next block still reads', v.next_rc, '0');
    },
  },
});

/**
 * A zoned namespace (NVMe ZNS, CSI 02h) driven by the guest's stock nvme driver: the block layer
 * sees a host-managed zoned disk, nvme-cli's zns commands manage zones, fio writes and verifies in
 * zonemode=zbd (zone reports and resets through the kernel's BLKREPORTZONE / BLKRESETZONE), zonefs
 * stores files in sequential zones, and nvme-cli appends through the driver's passthrough. Everything
 * checked is what the guest saw, plus the Zone Append commands the controller counted.
 */
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { topology } from '@p2pkit/fabric';
import { createNvme, IoOpcode } from '@p2pkit/nvme';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';

const SERIAL = 'P2PKIT-ZNS';
/** 256 MiB in 16 zones of 16 MiB, 12 MiB writable each (ZCAP < ZSZE, as on many ZNS drives). */
const ZONE_MIB = 16;
const ZONE_CAP_MIB = 12;

/**
 * printf escapes writing the first 8 bytes of a zonefs super block (fs/zonefs/zonefs.h: magic
 * "ZOFS", then crc32 with seed ~0 and no final inversion over the 4 KiB block with s_crc = 0); every
 * other byte is zero (no features: default uid, gid and permissions).
 */
function zonefsSuperBlockHead(): string {
  const block = Buffer.alloc(4096);
  block.writeUInt32LE(0x5a4f4653, 0);
  block.writeUInt32LE((crc32(block) ^ 0xffffffff) >>> 0, 4);
  return [...block.subarray(0, 8)].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
}

export default defineScenario({
  name: 'zoned namespace (ZNS) with the stock Linux driver, fio zbd, zonefs and zone append',
  topology: topology().rootPort('rp0', (rp) => rp.attach('nvme0')),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: SERIAL,
      model: 'p2pkit ZNS',
      maxIoQueues: 4,
      zoneAppendSizeLimitBytes: 128 << 10,
      namespaces: [
        {
          path: join(dir, 'zns.img'),
          sizeBytes: 256 << 20,
          zoned: { zoneSizeBytes: ZONE_MIB << 20, zoneCapacityBytes: ZONE_CAP_MIB << 20, maxActiveZones: 10, maxOpenZones: 8 },
        },
      ],
    }),
  }),
  guest: { cpus: 2 },
  steps: {
    'the kernel sees a host-managed zoned disk with the zone geometry and limits': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial ${SERIAL}); n=$(basename $d); c=/dev/$(nvme_ctrl_by_serial ${SERIAL}); q=/sys/block/$n/queue
         echo "zoned=$(cat $q/zoned)"
         echo "nr_zones=$(cat $q/nr_zones)"
         echo "chunk_sectors=$(cat $q/chunk_sectors)"
         echo "max_open=$(cat $q/max_open_zones)"
         echo "max_active=$(cat $q/max_active_zones)"
         echo "append_max=$(cat $q/zone_append_max_bytes)"
         echo "ro=$(cat /sys/block/$n/ro)"
         nvme zns id-ctrl $c
         nvme zns id-ns $d | grep -E '^(zoc|ozcs|mar|mor)'
         nvme zns report-zones $d -d 3
         blkzone report -c 3 $d`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('sysfs and nvme zns', r);
      const v = kv(r.stdout);
      ctx.equal('queue/zoned', v.zoned, 'host-managed');
      ctx.equal('queue/nr_zones', v.nr_zones, '16');
      ctx.equal('queue/chunk_sectors (zone size)', v.chunk_sectors, String((ZONE_MIB << 20) / 512));
      ctx.equal('queue/max_open_zones', v.max_open, '8');
      ctx.equal('queue/max_active_zones', v.max_active, '10');
      ctx.equal('queue/zone_append_max_bytes (ZASL)', v.append_max, String(128 << 10));
      ctx.equal('writable (Zone Append supported)', v.ro, '0');
      ctx.match('nvme zns id-ctrl zasl', r.stdout, /^zasl\s*:\s*5/m);
      ctx.match('nvme zns id-ns mar', r.stdout, /^mar\s*:\s*(0x)?9$/m);
      ctx.match('nvme zns id-ns mor', r.stdout, /^mor\s*:\s*(0x)?7$/m);
      ctx.match('report-zones: 16 zones', r.stdout, /nr_zones:\s*16/);
      // util-linux's blkzone (the block layer's zone report, in 512-byte sectors; wptr relative).
      ctx.match(
        'blkzone report: zone 1 empty, 12 MiB capacity',
        r.stdout,
        /start: 0x0*8000, len 0x0*8000, cap 0x0*6000, wptr 0x0+ .*zcond:\s*1\(em\)/,
      );
      ctx.match(
        'report-zones: zone 1 empty, capacity 12 MiB',
        r.stdout,
        /SLBA:\s*0x8000\s+WP:\s*0x8000\s+Cap:\s*0x6000\s+State:\s*(EMPTY|0x10)\s/i,
      );
    },

    'writes only at the write pointer; open, close, finish and reset with nvme zns': async (ctx) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial ${SERIAL})
         dd if=/dev/urandom of=/tmp/mib bs=1M count=1 2>/dev/null
         dd if=/tmp/mib of=$d bs=1M seek=32 oflag=direct conv=fsync 2>/dev/null; echo "at_wp=$?"
         dd if=/tmp/mib of=$d bs=1M seek=34 oflag=direct conv=fsync 2>/dev/null; echo "past_wp=$?"
         dd if=$d of=/tmp/back bs=1M skip=32 count=1 iflag=direct 2>/dev/null
         echo "readback=$(cmp -s /tmp/mib /tmp/back && echo same || echo differs)"
         nvme zns report-zones $d -s 0x10000 -d 1 | grep SLBA | sed 's/^/zone2_written: /'
         nvme zns open-zone $d -s 0x18000 && nvme zns report-zones $d -s 0x18000 -d 1 | grep SLBA | sed 's/^/zone3_opened: /'
         nvme zns close-zone $d -s 0x10000 && nvme zns report-zones $d -s 0x10000 -d 1 | grep SLBA | sed 's/^/zone2_closed: /'
         nvme zns finish-zone $d -s 0x10000 && nvme zns report-zones $d -s 0x10000 -d 1 | grep SLBA | sed 's/^/zone2_finished: /'
         nvme zns reset-zone $d -a && nvme zns report-zones $d -d 16 | grep -cE 'State: *(EMPTY|0x10) ' | sed 's/^/empty_after_reset=/'
         dd if=$d of=/tmp/back bs=1M skip=32 count=1 iflag=direct 2>/dev/null
         echo "nonzero_bytes_after_reset=$(od -An -v -tx1 /tmp/back | tr -d ' 0\\n' | wc -c)"`,
        { timeoutMs: 90_000 },
      );
      ctx.jobOk('zone management', r);
      const v = kv(r.stdout);
      ctx.equal('write at the write pointer', v.at_wp, '0');
      ctx.match('write past the write pointer fails', v.past_wp, /^[1-9]/);
      ctx.equal('data read back', v.readback, 'same');
      ctx.match(
        'zone 2 implicitly opened at 1 MiB',
        r.stdout,
        /zone2_written: SLBA:\s*0x10000\s+WP:\s*0x10800\s.*State:\s*(IMP_OPENED|0x20)\s/i,
      );
      ctx.match('zone 3 explicitly opened', r.stdout, /zone3_opened: SLBA:\s*0x18000\s+WP:\s*0x18000\s.*State:\s*(EXP_OPENED|0x30)\s/i);
      ctx.match('zone 2 closed', r.stdout, /zone2_closed: SLBA:\s*0x10000\s+WP:\s*0x10800\s.*State:\s*(CLOSED|0x40)\s/i);
      ctx.match('zone 2 finished', r.stdout, /zone2_finished: SLBA:\s*0x10000\s.*State:\s*(FULL|0xe0)\s/i);
      ctx.equal('every zone empty after reset -a', v.empty_after_reset, '16');
      ctx.equal('reset zone reads zeroes', v.nonzero_bytes_after_reset, '0');
    },

    'fio --zonemode=zbd --direct=1 writes 4 zones and verifies them, 0 errors': async (ctx) => {
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial ${SERIAL})
         fio --name=zbd --filename=$d --direct=1 --ioengine=libaio --iodepth=1 --zonemode=zbd --rw=write --bs=128k \\
             --offset=${4 * ZONE_MIB}M --size=${4 * ZONE_MIB}M --verify=crc32c --do_verify=1 --verify_fatal=1 \\
             --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"
         nvme zns report-zones $d -s 0x20000 -d 4 | grep -cE 'State: *(FULL|0xe0) ' | sed 's/^/full_zones=/'`,
        { timeoutMs: 300_000 },
      );
      ctx.jobOk('fio zbd', r);
      const v = kv(r.stdout);
      ctx.equal('fio exit', v.fio, '0');
      const terse = (r.files.get('fio.terse') ?? Buffer.alloc(0)).toString().trim().split(';');
      // terse v3 (1-based): field 5 errors, field 6 read KiB (the verify pass), field 47 write KiB.
      ctx.equal('errors', Number(terse[4]), 0);
      ctx.equal('KiB written (zone capacity of 4 zones)', Number(terse[46]), 4 * ZONE_CAP_MIB * 1024);
      ctx.equal('KiB read by verify', Number(terse[5]), 4 * ZONE_CAP_MIB * 1024);
      ctx.equal('zones 4..7 full', v.full_zones, '4');
    },

    'zonefs: one file per sequential zone, written with direct I/O, intact after a remount': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial ${SERIAL})
         nvme zns reset-zone $d -a
         head -c 4096 /dev/zero > /tmp/sb
         printf '${zonefsSuperBlockHead()}' | dd of=/tmp/sb conv=notrunc 2>/dev/null
         dd if=/tmp/sb of=$d bs=4096 count=1 oflag=direct 2>/dev/null
         modprobe zonefs
         mkdir -p /mnt/z && mount -t zonefs $d /mnt/z
         echo "seq_files=$(ls /mnt/z/seq | wc -l)"
         dd if=/dev/urandom of=/tmp/data bs=128k count=24 2>/dev/null
         dd if=/tmp/data of=/mnt/z/seq/0 bs=128k oflag=direct,append conv=notrunc 2>/dev/null
         dd if=/tmp/data of=/mnt/z/seq/5 bs=64k oflag=direct,append conv=notrunc 2>/dev/null
         echo "size=$(stat -c %s /mnt/z/seq/0)"
         umount /mnt/z && mount -t zonefs $d /mnt/z
         echo "size_after_remount=$(stat -c %s /mnt/z/seq/5)"
         echo "same=$(cmp -s /tmp/data /mnt/z/seq/0 && cmp -s /tmp/data /mnt/z/seq/5 && echo yes || echo no)"
         umount /mnt/z
         nvme zns report-zones $d -s 0x8000 -d 1 | grep SLBA | sed 's/^/zone1: /'`,
        { timeoutMs: 120_000 },
      );
      ctx.jobOk('zonefs', r);
      const v = kv(r.stdout);
      ctx.equal('one file per sequential zone after the super block zone', v.seq_files, '15');
      ctx.equal('file size', v.size, String(3 << 20));
      ctx.equal('file size after remount (from the zone write pointer)', v.size_after_remount, String(3 << 20));
      ctx.equal('data read back', v.same, 'yes');
      ctx.match('zone 1 write pointer at 3 MiB', r.stdout, /zone1: SLBA:\s*0x8000\s+WP:\s*0x9800\s/i);
    },

    'Zone Append from the guest (nvme zns zone-append): consecutive LBAs returned, data in place, ZASL enforced': async (ctx) => {
      const stats = ctx.devices.nvme0.controller.stats;
      const appendsBefore = stats.ioCommands[IoOpcode.ZoneAppend] ?? 0;
      // Zone 15 starts at LBA 15 × 32768 = 0x78000.
      const r = await ctx.guest.run(
        `d=$(nvme_ns_by_serial ${SERIAL})
         nvme zns reset-zone $d -s 0x78000
         dd if=/dev/urandom of=/tmp/a1 bs=64k count=1 2>/dev/null
         dd if=/dev/urandom of=/tmp/a2 bs=128k count=1 2>/dev/null
         dd if=/dev/urandom of=/tmp/a3 bs=64k count=1 2>/dev/null
         for f in a1 a2 a3; do
           nvme zns zone-append $d -s 0x78000 -z $(stat -c %s /tmp/$f) -d /tmp/$f | sed "s/^/$f: /"
         done
         dd if=/dev/urandom of=/tmp/big bs=256k count=1 2>/dev/null
         nvme zns zone-append $d -s 0x78000 -z 262144 -d /tmp/big >/dev/null 2>&1; echo "over_zasl=$?"
         nvme zns zone-append $d -s 0x78008 -z 4096 -d /tmp/a1 >/dev/null 2>&1; echo "not_zone_start=$?"
         cat /tmp/a1 /tmp/a2 /tmp/a3 > /tmp/all
         dd if=$d of=/tmp/back bs=64k skip=3840 count=4 iflag=direct 2>/dev/null
         echo "same=$(cmp -s /tmp/all /tmp/back && echo yes || echo no)"
         nvme zns report-zones $d -s 0x78000 -d 1 | grep SLBA | sed 's/^/zone15: /'`,
        { timeoutMs: 90_000 },
      );
      ctx.jobOk('zone-append', r);
      const v = kv(r.stdout);
      ctx.match('first append at the zone start', r.stdout, /a1: .*appended data to LBA (0x)?78000\b/i);
      ctx.match('second append after 64 KiB', r.stdout, /a2: .*appended data to LBA (0x)?78080\b/i);
      ctx.match('third append after 192 KiB', r.stdout, /a3: .*appended data to LBA (0x)?78180\b/i);
      ctx.match('256 KiB > ZASL refused', v.over_zasl, /^[1-9]/);
      ctx.match('ZSLBA that is not a zone start refused', v.not_zone_start, /^[1-9]/);
      ctx.equal('appended data read back through the block device', v.same, 'yes');
      ctx.match('zone 15 write pointer after 256 KiB', r.stdout, /zone15: SLBA:\s*0x78000\s+WP:\s*0x78200\s/i);
      ctx.equal(
        'Zone Append commands that reached the controller (3 written, 2 refused)',
        (stats.ioCommands[IoOpcode.ZoneAppend] ?? 0) - appendsBefore,
        5,
      );
    },
  },
});

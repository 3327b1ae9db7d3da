/**
 * Atomic write limits seen by the stock Linux driver: the queue limits it derives from NAWUPF and
 * NABSPF (and that a controller-only AWUPF is not used), RWF_ATOMIC writes accepted within them and
 * refused with EINVAL outside them, and the data on the guest's read-back and in the image.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv } from '@p2pkit/testbed';

const files = { 'atomic-write': buildGuestTool(join(import.meta.dirname, 'guest/atomic-write.c')) };

/** Namespace 1: NAWUPF 32 blocks (16 KiB), NAWUN 64, NABSPF 128 blocks (64 KiB); 512-byte blocks. */
const NS1 = { powerFailBlocks: 32, normalBlocks: 64, powerFailBoundaryBlocks: 128 };

/** The writes the guest issues on namespace 1: [tag, offset, length, byte, accepted]. */
const WRITES: [string, number, number, number, boolean][] = [
  ['block', 0, 512, 0x11, true],
  ['page', 4096, 4096, 0x22, true],
  ['unit', 64 << 10, 16 << 10, 0x33, true],
  ['oversize', 128 << 10, 32 << 10, 0x44, false], // twice NAWUPF
  ['unaligned', 200 << 10, 16 << 10, 0x55, false], // not naturally aligned: 200 KiB is no multiple of 16 KiB
  ['odd', 256 << 10, 12 << 10, 0x66, false], // not a power of two
];

export default defineScenario({
  name: 'NVMe atomic write limits and RWF_ATOMIC',
  topology: topology().rootPort('rp0', (rp) => rp.attach('nvme0')),
  devices: async ({ dir }) => ({
    nvme0: await createNvme({
      serial: 'P2PKIT-ATOMIC',
      model: 'p2pkit NVMe atomic',
      maxIoQueues: 2,
      // AWUPF for namespaces without limits of their own: 8 blocks.
      atomicWrite: { normalBlocks: 8, powerFailBlocks: 8 },
      namespaces: [
        { path: join(dir, 'atomic-ns1.img'), sizeBytes: 64 << 20, atomicWrite: NS1 },
        { path: join(dir, 'atomic-ns2.img'), sizeBytes: 16 << 20 },
      ],
    }),
  }),
  guest: { cpus: 1 },
  steps: {
    'nvme-cli shows AWUN/AWUPF and NSFEAT/NAWUN/NAWUPF/NABSPF; sysfs has the limits the kernel derived': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         d=$(nvme_ns_by_serial P2PKIT-ATOMIC 1); d2=$(nvme_ns_by_serial P2PKIT-ATOMIC 2); c=/dev/$(nvme_ctrl_by_serial P2PKIT-ATOMIC)
         nvme id-ctrl $c | grep -E '^(awun|awupf|acwu) '
         nvme id-ns $d | grep -E '^(nsfeat|nawun|nawupf|nacwu|nabsn|nabo|nabspf) '
         for n in $d $d2; do
           q=/sys/block/\${n#/dev/}/queue; t=$([ $n = $d ] && echo ns1 || echo ns2)
           for f in atomic_write_unit_min_bytes atomic_write_unit_max_bytes atomic_write_max_bytes atomic_write_boundary_bytes; do
             echo "\${t}_$f=$(cat $q/$f)"
           done
         done
         echo "awupf_ignored=$(dmesg | grep -c 'AWUPF ignored, only NAWUPF accepted' || true)"`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('nvme-cli and sysfs', r);
      ctx.match('id-ctrl awun', r.stdout, /^awun\s+: 7$/m);
      ctx.match('id-ctrl awupf', r.stdout, /^awupf\s+: 7$/m);
      ctx.match('id-ctrl acwu (no fused Compare and Write)', r.stdout, /^acwu\s+: 0$/m);
      ctx.match('id-ns nsfeat bit 1 (NSABP)', r.stdout, /^nsfeat\s+: 0x2$/m);
      ctx.match('id-ns nawun', r.stdout, /^nawun\s+: 63$/m);
      ctx.match('id-ns nawupf', r.stdout, /^nawupf\s+: 31$/m);
      ctx.match('id-ns nabspf', r.stdout, /^nabspf\s+: 127$/m);
      ctx.match('id-ns nabo', r.stdout, /^nabo\s+: 0$/m);
      const v = kv(r.stdout);
      ctx.equal('ns1 atomic_write_unit_min_bytes (one block)', v.ns1_atomic_write_unit_min_bytes, '512');
      ctx.equal('ns1 atomic_write_unit_max_bytes (NAWUPF)', v.ns1_atomic_write_unit_max_bytes, '16384');
      ctx.equal('ns1 atomic_write_max_bytes (NAWUPF)', v.ns1_atomic_write_max_bytes, '16384');
      ctx.equal('ns1 atomic_write_boundary_bytes (NABSPF)', v.ns1_atomic_write_boundary_bytes, '65536');
      // Without NSABP the kernel uses one block, not the controller's AWUPF, and says so once.
      ctx.equal('ns2 atomic_write_unit_max_bytes', v.ns2_atomic_write_unit_max_bytes, '512');
      ctx.equal('ns2 atomic_write_boundary_bytes', v.ns2_atomic_write_boundary_bytes, '0');
      ctx.atLeast('dmesg: AWUPF ignored', Number(v.awupf_ignored), 1);
    },

    'RWF_ATOMIC writes within NAWUPF succeed and read back; oversize, unaligned and odd-sized ones get EINVAL': async (ctx) => {
      const r = await ctx.guest.run(
        `set -e
         ${installTool('atomic-write')}
         d=$(nvme_ns_by_serial P2PKIT-ATOMIC 1)
         ${WRITES.map(([tag, offset, length, byte]) => `./atomic-write ${tag} $d ${offset} ${length} ${byte}`).join('\n         ')}`,
        { files, timeoutMs: 60_000 },
      );
      ctx.jobOk('atomic-write', r);
      const v = kv(r.stdout);
      for (const [tag, , , , accepted] of WRITES) {
        ctx.equal(`${tag}: write`, v[`${tag}_write`], accepted ? 'ok' : 'EINVAL');
        if (accepted) ctx.equal(`${tag}: guest read-back`, v[`${tag}_verify`], 'ok');
      }
      // The device side: accepted writes are in the image, refused ones never reached it.
      const image = ctx.devices.nvme0.controller.namespaces.get(1)?.path ?? '';
      const bytes = readFileSync(image);
      for (const [tag, offset, length, byte, accepted] of WRITES) {
        const range = bytes.subarray(offset, offset + length);
        ctx.check(
          `${tag}: image holds ${accepted ? 'the data' : 'zeroes'}`,
          range.every((b) => b === (accepted ? byte : 0)),
        );
      }
      // The 16 KiB write spans four image pages: it went through the power-fail journal.
      ctx.atLeast('journal sidecar used (bytes)', statSync(`${image}.atomic-journal`).size, 4096 + 16384);
    },
  },
});

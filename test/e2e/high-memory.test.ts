/**
 * A guest with 8 GiB of RAM (a lazily allocated memfd: QEMU's memory-backend-memfd only takes the
 * pages the guest touches) runs fio with verify on a p2pkit NVMe. On q35 with more than 2.75 GiB,
 * QEMU puts 2 GiB below 4 GiB and the rest from 4 GiB up, and Linux's page allocator serves user
 * pages from ZONE_NORMAL (above 4 GiB) before ZONE_DMA32, so fio's buffers land above 4 GiB. The
 * controller's command hook records every Read/Write data pointer: the test asserts that buffers
 * above 4 GiB were transferred (and verified by fio), not merely that the guest had the RAM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { bootNvmeSwitch, deviceBugs, type NvmeScenario } from './nvme-rig.ts';

const FOUR_GIB = 1n << 32n;

describe('8 GiB guest: NVMe data buffers above 4 GiB', () => {
  let s: NvmeScenario;
  const seen = { commands: 0, above4g: 0, max: 0n };

  beforeAll(async () => {
    s = await bootNvmeSwitch({ nvme0: { serial: 'P2PKIT-HIGH', namespaceMiB: [512] } }, { memoryMiB: 8192, cpus: 2 });
    s.nvme.get('nvme0')?.controller.intercept((ctx, next) => {
      const op = ctx.entry.opcode;
      // PRP1, or the address of an SGL Data Block descriptor (Linux uses SGLs only for large average segments)
      const sgl = ctx.entry.psdt !== 0;
      if (!ctx.entry.isAdmin && (op === 1 || op === 2) && (!sgl || (ctx.entry.sgl1[15] as number) >> 4 === 0)) {
        const prp1 = ctx.entry.prp1;
        seen.commands++;
        if (prp1 >= FOUR_GIB) seen.above4g++;
        if (prp1 > seen.max) seen.max = prp1;
      }
      return next();
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('the guest has 8 GiB; fio --verify=crc32c over 128 MiB passes with its buffers above 4 GiB', async () => {
    const r = await s.guest.run(
      `echo "memkb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
       d=$(nvme_ns_by_serial P2PKIT-HIGH)
       fio --name=high --filename=$d --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=16k --size=64M \\
           --offset_increment=64M --numjobs=2 --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting \\
           --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"`,
      { timeoutMs: 420_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const out = kv(r.stdout);
    expect(Number(out.memkb)).toBeGreaterThan(7 * 1024 * 1024);
    expect(out.fio).toBe('0');
    const terse = (r.files.get('fio.terse') as Buffer).toString().trim().split(';');
    expect(Number(terse[4])).toBe(0); // errors
    expect(Number(terse[46])).toBe(128 * 1024); // KiB written
    expect(Number(terse[5])).toBe(128 * 1024); // KiB read back and verified
    console.log(
      `8 GiB guest: ${seen.above4g} of ${seen.commands} Read/Write commands had PRP1 above 4 GiB (max 0x${seen.max.toString(16)})`,
    );
    expect(seen.max).toBeGreaterThanOrEqual(FOUR_GIB);
    expect(seen.above4g).toBeGreaterThan(seen.commands / 4);
    expect(deviceBugs(s.log)).toEqual([]);
  });
});

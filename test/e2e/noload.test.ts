/**
 * NoLoad (examples/noload) in a real guest: the stock nvme driver binds it, stock `nvme
 * io-passthru` on its generic char device runs the vendor commands, and an offload pipeline moves
 * drive B → NoLoad's CMB → compress in the NoLoad → CMB → drive B with no payload in host memory.
 * Results are checked against the same transform in the guest (gzip/gunzip, a CRC-32C C tool),
 * and the fabric's per-link counters show where the bytes went.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@p2pkit/base';
import { topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { boot, buildGuestTool, type Guest, installTool, parseKeyValues as kv, provision, Rig } from '@p2pkit/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNoload, type NoloadDevice } from '../../examples/noload/noload.ts';

const MiB = 1 << 20;
const tool = buildGuestTool(join(import.meta.dirname, '../../examples/noload/guest/noload-tool.c'));
const files = { 'noload-tool': tool };
/** Shell prelude: the NoLoad's namespace, generic char device, controller and BDF; drive B's namespace. */
const prelude = `${installTool('noload-tool')}
  ns=$(nvme_ns_by_serial NOLOAD-A); ng=$(echo $ns | sed s#/dev/nvme#/dev/ng#); c=$(nvme_ctrl_by_serial NOLOAD-A)
  bdf=$(nvme_bdf_by_serial NOLOAD-A); b=$(nvme_ns_by_serial DRIVE-B)
  result() { sed -n 's/.*result: //p'; }   # nvme-cli prints "... is Success and result: 0x..." on stderr`;

describe('NoLoad computational storage in a QEMU guest', () => {
  let guest: Guest;
  let rig: Rig;
  let noload: NoloadDevice;
  let drive: NvmeDevice;
  let dir: string;
  const log = recordingLogger();

  beforeAll(async () => {
    const provisioned = await provision();
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-noload-'));
    noload = await createNoload({ serial: 'NOLOAD-A', maxIoQueues: 4, namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 256 * MiB }] });
    drive = await createNvme({ serial: 'DRIVE-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 512 * MiB }] });
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('noload');
          sw.downstream('dn1').attach('driveB');
        }),
      ),
      devices: { noload, driveB: drive },
      logger: log,
    });
    // One SGL data block per p2p command instead of a PRP list in host memory (docs/testbed.md).
    guest = await boot(rig.topology, { provisioned, waitForNvme: 2, kernelArgs: ['nvme.sgl_threshold=4096'] });
  });

  afterAll(async () => {
    await guest?.shutdown();
    rig?.close();
    await noload?.close();
    await drive?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stock nvme io-passthru on /dev/ngXn1 runs CRC-32C, compress and decompress; guest gzip/gunzip and CRC agree', async () => {
    const r = await guest.run(
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
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.crc_dev).toMatch(/^0x[0-9a-f]{8}$/);
    expect(Number(v.crc_dev)).toBe(Number(v.guest_crc32c));
    expect(Number(v.compressed)).toBeGreaterThan(1000);
    expect(Number(v.compressed)).toBeLessThan(65536 / 2);
    expect(v.gunzip).toBe('MATCH');
    expect(v.roundtrip).toBe('MATCH');
    expect(Number(v.inflated)).toBe(65536);
    expect(v.inflate).toBe('MATCH');
    expect(v.signature).toBe('P2NOLOAD');
    // Log page C0h: compress, decompress, CRC-32C commands; bytes in; bytes out.
    const [L, G] = [Number(v.compressed), Number(v.gz)];
    const bytesIn = 65536 /* CRC */ + 65536 /* compress */ + Math.ceil(L / 512) * 512 /* whole blocks */ + G;
    expect(v.log?.trim().split(' ').map(Number)).toEqual([1, 2, 1, bytesIn, L + 2 * 65536, 0, 0, 0]);
    expect(v.vendor_caps).toBe('1');
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });

  it('offload pipeline: drive B → CMB → compress in the NoLoad → CMB → drive B, with ≤ 0.1% of the payload over the switch upstream port', async () => {
    const bytes = 16 * MiB;
    // Seed 16 MiB of compressible text at drive B offset 64 MiB (through host memory: not measured).
    const seed = await guest.run(
      `${prelude}
       seq 1 3000000 | head -c ${bytes} | dd of=$b bs=1M seek=64 oflag=direct iflag=fullblock 2>/dev/null && echo seeded=1`,
      { files, timeoutMs: 120_000 },
    );
    expect(kv(seed.stdout).seeded, seed.stdout + seed.stderr).toBe('1');

    rig.fabric.resetCounters();
    const run = await guest.run(
      `${prelude}
       ./noload-tool pipeline $bdf $(p2pmem_dir NOLOAD-A)/allocate $ng $b $((64 << 20)) $b $((128 << 20)) ${bytes}`,
      { files, timeoutMs: 180_000 },
    );
    expect(run.exitCode, `${run.stdout}\n${run.stderr}\n${run.dmesg ?? ''}`).toBe(0);
    const upstream = rig.fabric.link('rp0');
    const [nl, dr] = [rig.fabric.link('dn0'), rig.fabric.link('dn1')];
    const p = kv(run.stdout);
    const compressed = Number(p.compressed);
    const up = upstream.upstream.bytes + upstream.downstream.bytes;

    // The same transform in the guest: gunzip of what landed on drive B is the source; CRC-32C agrees.
    const verify = await guest.run(
      `${prelude}
       dd if=$b bs=1M skip=128 count=${Math.ceil(compressed / MiB)} iflag=direct 2>/dev/null | head -c ${compressed} > p.gz
       ./noload-tool crc32c p.gz
       dd if=$b bs=1M skip=64 count=16 iflag=direct 2>/dev/null > src.bin
       gunzip -c < p.gz | cmp - src.bin && echo verify=MATCH`,
      { files, timeoutMs: 120_000 },
    );
    const v = kv(verify.stdout);
    console.info(
      `[noload] pipeline ${bytes} B → ${compressed} B (${((compressed / bytes) * 100).toFixed(1)}%), ${p.seconds_read}s read, ${p.seconds_compress}s compress, ${p.seconds_write}s write; ` +
        `upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}% of the input), dn0 (NoLoad) ${nl.upstream.bytes + nl.downstream.bytes} B, dn1 (drive B) ${dr.upstream.bytes + dr.downstream.bytes} B`,
    );
    expect(v.verify, verify.stdout + verify.stderr).toBe('MATCH');
    expect(Number(v.crc32c)).toBe(Number(p.crc32c));
    expect(compressed).toBeLessThan(bytes / 2);
    expect(up).toBeLessThanOrEqual(bytes * 0.001);
    // Peer traffic: drive B wrote the input into the CMB and read the padded output from it.
    expect(dr.upstream.bytes + dr.downstream.bytes).toBeGreaterThanOrEqual(bytes + compressed);
    expect(nl.upstream.bytes + nl.downstream.bytes).toBeGreaterThanOrEqual(bytes + compressed);
    expect(noload.stats.commands.compress).toBe(2);
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });
});

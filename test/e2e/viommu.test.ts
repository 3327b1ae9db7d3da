/**
 * p2pkit NVMe controllers behind QEMU's emulated Intel vIOMMU (`-device intel-iommu,caching-mode=on`,
 * needed for vfio(-user) devices; `kernel-irqchip=split` as QEMU asks for it with interrupt
 * remapping), in the two modes a Linux guest uses: `intel_iommu=on` with strict invalidation (every
 * DMA is an IOVA QEMU translates and the server sees DMA_MAP/DMA_UNMAP churn) and `iommu=pt`
 * (passthrough). Host I/O (fio verify, buffers in RAM) and p2p I/O (fio verify with its buffers in
 * the peer's CMB through p2pmem) must pass with no client or device error logged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@p2pkit/base';
import { topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { boot, type Guest, provision, Rig } from '@p2pkit/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';

const MiB = 1 << 20;
const MODES = [
  { name: 'strict (intel_iommu=on iommu.strict=1)', kernelArgs: ['intel_iommu=on', 'iommu.strict=1'], strict: true },
  { name: 'passthrough (intel_iommu=on iommu=pt)', kernelArgs: ['intel_iommu=on', 'iommu=pt'], strict: false },
];

describe.each(MODES)('vIOMMU, $name', ({ kernelArgs, strict }) => {
  let guest: Guest;
  let rig: Rig;
  let a: NvmeDevice;
  let b: NvmeDevice;
  let dir: string;
  const log = recordingLogger();

  beforeAll(async () => {
    const provisioned = await provision();
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-viommu-'));
    a = await createNvme({
      serial: 'IOMMU-A',
      cmb: { size: 32 * MiB },
      maxIoQueues: 4,
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 256 * MiB }],
    });
    b = await createNvme({ serial: 'IOMMU-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 256 * MiB }] });
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('nvmeA');
          sw.downstream('dn1').attach('nvmeB');
        }),
      ),
      devices: { nvmeA: a, nvmeB: b },
      logger: log,
    });
    guest = await boot(rig.topology, {
      provisioned,
      kernelArgs: [...kernelArgs, 'nvme.sgl_threshold=4096'],
      extraArgs: ['-machine', 'kernel-irqchip=split', '-device', 'intel-iommu,caching-mode=on'],
    });
  });

  afterAll(async () => {
    await guest?.shutdown();
    rig?.close();
    await a?.close();
    await b?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** DMA_MAP and DMA_UNMAP messages the controllers' servers have received so far. */
  const mappings = () => {
    const count = (name: string) => [...rig.servers.values()].reduce((n, s) => n + (s.session?.stats.get(name) ?? 0), 0);
    return { map: count('DMA_MAP'), unmap: count('DMA_UNMAP') };
  };

  it('the guest runs with the vIOMMU on; host fio verify on both controllers passes', async () => {
    const before = mappings();
    const r = await guest.run(
      `echo "groups=$(ls /sys/kernel/iommu_groups | wc -l)"
       for sn in A B; do d=$(nvme_ns_by_serial IOMMU-$sn)
         fio --name=host$sn --filename=$d --direct=1 --ioengine=libaio --iodepth=16 --rw=randwrite --bs=16k --size=32M \\
             --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse --terse-version=3 > $JOB_OUT/fio$sn.terse
         echo "fio$sn=$?"; done`,
      { timeoutMs: 400_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    const out = kv(r.stdout);
    expect(Number(out.groups)).toBeGreaterThan(0); // the IOMMU is active: devices are in IOMMU groups
    expect(out).toMatchObject({ fioA: '0', fioB: '0' });
    // Strict mode: every I/O buffer is an IOVA mapped and unmapped around the command, which QEMU
    // turns into DMA_MAP/DMA_UNMAP; passthrough maps guest RAM once at boot.
    const after = mappings();
    const churn = { map: after.map - before.map, unmap: after.unmap - before.unmap };
    console.info(`vIOMMU ${strict ? 'strict' : 'passthrough'}: ${churn.map} DMA_MAP, ${churn.unmap} DMA_UNMAP during host fio`);
    if (strict) {
      expect(churn.map).toBeGreaterThanOrEqual(1000);
      expect(churn.unmap).toBeGreaterThanOrEqual(1000);
    } else {
      expect(churn).toEqual({ map: 0, unmap: 0 });
    }
    for (const sn of ['A', 'B']) {
      const terse = (r.files.get(`fio${sn}.terse`) as Buffer).toString().trim().split(';');
      expect(Number(terse[4])).toBe(0);
      expect(Number(terse[46])).toBe(32 * 1024);
    }
    expect(log.entries.filter((e) => e.channel === 'client' || e.channel === 'device')).toEqual([]);
  });

  it('p2p: fio verify on controller B with its buffers in controller A’s CMB (p2pmem)', async () => {
    const r = await guest.run(
      `d=$(nvme_ns_by_serial IOMMU-B); p=$(p2pmem_dir IOMMU-A)
       fio --name=p2p --filename=$d --direct=1 --ioengine=psync --rw=randwrite --bs=128k --size=16M \\
           --iomem=mmapshared:$p/allocate --verify=crc32c --do_verify=1 --verify_fatal=1 \\
           --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"`,
      { timeoutMs: 300_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout).fio).toBe('0');
    const terse = (r.files.get('fio.terse') as Buffer).toString().trim().split(';');
    expect(Number(terse[4])).toBe(0);
    expect(Number(terse[46])).toBe(16 * 1024);
    expect(log.entries.filter((e) => e.channel === 'client' || e.channel === 'device')).toEqual([]);
  });
});

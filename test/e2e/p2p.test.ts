/**
 * P2PDMA between p2pkit NVMe controllers below one switch, plus QEMU's own nvme as a peer.
 * The guest kernel publishes the p2pkit CMB, places I/O SQs in it, and the fabric model shows
 * where the bytes of a copy travelled: an NVMe→CMB→NVMe copy leaves the switch upstream link idle.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNvme, type NvmeDevice } from '@p2pkit/nvme';
import { boot, type Guest, provision, Rig } from '@p2pkit/testbed';
import { recordingLogger } from '@p2pkit/base';
import { qemuNvme, readTrace, topology, traceTotals } from '@p2pkit/fabric';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildGuestTool, kv } from './guest-tool.ts';

const MiB = 1 << 20;
const copyTool = buildGuestTool(join(import.meta.dirname, '../../packages/cli/guest/nvme-copy.c'));
const tool = (args: string) => `install -m755 "$JOB_IN/nvme-copy" ./nvme-copy && ./nvme-copy ${args}`;

describe('p2p between p2pkit NVMe controllers on a modelled fabric', () => {
  let guest: Guest;
  let rig: Rig;
  let a: NvmeDevice;
  let b: NvmeDevice;
  let dir: string;
  const log = recordingLogger();

  beforeAll(async () => {
    const provisioned = await provision();
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-p2p-'));
    a = await createNvme({ serial: 'P2P-A', cmb: { size: 64 * MiB }, maxIoQueues: 4, namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 512 * MiB }] });
    b = await createNvme({ serial: 'P2P-B', cmb: { size: 16 * MiB }, maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 512 * MiB }] });
    // QEMU's own nvme sits on the same switch; the fabric learns its CMB BAR from the description.
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('nvmeA');
          sw.downstream('dn1').attach('nvmeB');
          sw.downstream('dn2').attach(qemuNvme({ serial: 'QEMU-C', sizeMiB: 128, cmbMiB: 16, id: 'qemuC' }));
        }),
      ),
      devices: { nvmeA: a, nvmeB: b },
      logger: log,
    });
    guest = await boot(rig.topology, { provisioned, waitForNvme: 3, kernelArgs: ['nvme.sgl_threshold=4096'] });
  });

  afterAll(async () => {
    await guest?.shutdown();
    rig?.close();
    await a?.close();
    await b?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the p2pkit CMB as p2pmem and the driver puts its I/O SQs there', async () => {
    const r = await guest.run(
      `p=$(p2pmem_dir P2P-A)
       echo "published=$(cat $p/published)"; echo "size=$(cat $p/size)"; echo "available=$(cat $p/available)"`,
      { check: true },
    );
    const v = kv(r.stdout);
    expect(v.published).toBe('1');
    expect(Number(v.size)).toBe(64 * MiB);
    expect(Number(v.available)).toBeLessThan(64 * MiB); // SQ memory taken from the pool
    expect(await guest.dmesg()).toMatch(/nvme \S+: added peer-to-peer DMA memory/);
    // SeaBIOS creates one I/O SQ in RAM before Linux; Linux puts one per CPU (2) in the CMB.
    expect(a.controller.stats.ioSqCreatedInCmb).toBeGreaterThanOrEqual(2);
    expect(a.controller.stats.ioSqCreated - a.controller.stats.ioSqCreatedInCmb).toBeLessThanOrEqual(1);
  });

  it('fio verify with buffers in the peer p2pmem (--iomem=mmapshared:.../p2pmem/allocate, --direct=1)', async () => {
    const r = await guest.run(
      `d=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A)
       fio --name=p2p --filename=$d --direct=1 --ioengine=psync --rw=randwrite --bs=128k --size=32M \\
           --iomem=mmapshared:$p/allocate --verify=crc32c --do_verify=1 --verify_fatal=1 \\
           --output-format=terse --terse-version=3 > $JOB_OUT/fio.terse; echo "fio=$?"`,
      { timeoutMs: 300_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout).fio).toBe('0');
    const terse = (r.files.get('fio.terse') as Buffer).toString().trim().split(';');
    expect(Number(terse[4])).toBe(0);
    expect(Number(terse[46])).toBe(32 * 1024);
  });

  it('an NVMe→CMB→NVMe copy of 64 MiB moves ≤ 0.1% of the payload over the switch upstream port; via host memory ≥ 2×', async () => {
    // With PRPs, the driver's PRP lists (8 B per 4 KiB page, 0.2% of the payload) live in host memory
    // and must cross the upstream port; the boot sets nvme.sgl_threshold=4096 so the stock driver
    // describes each contiguous p2p buffer with one SGL data block instead (see docs/testbed.md).
    expect((await guest.run('cat /sys/module/nvme/parameters/sgl_threshold', { check: true })).stdout.trim()).toBe('4096');
    const seed = await guest.run(`b=$(nvme_ns_by_serial P2P-B); ${tool('seed $b 0 $((64<<20)) 42')}`, { files: { 'nvme-copy': copyTool }, timeoutMs: 120_000 });
    expect(seed.exitCode, seed.stdout + seed.stderr).toBe(0);
    const payload = 64 * MiB;
    const upstream = () => {
      const l = rig.fabric.link('rp0');
      return l.upstream.bytes + l.downstream.bytes;
    };

    rig.fabric.resetCounters();
    const tracePath = join(dir, 'p2p-copy.p2pt');
    const trace = rig.fabric.startTrace(tracePath);
    const p2p = await guest.run(`b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A); ${tool(`copy $p/allocate $b 0 $b $((128<<20)) ${payload} $((4<<20))`)}`, {
      files: { 'nvme-copy': copyTool },
      timeoutMs: 300_000,
    });
    expect(p2p.exitCode, `${p2p.stdout}\n${p2p.stderr}\n${p2p.dmesg ?? ''}`).toBe(0);
    const p2pUp = upstream();
    const p2pPeer = rig.fabric.link('dn0');
    await trace.close();
    // The recorded trace re-computes exactly the live per-link totals.
    const replayed = traceTotals(await readTrace(tracePath));
    for (const id of ['rp0', 'dn0', 'dn1']) {
      expect(replayed.links.find((l) => l.link === id)).toEqual(rig.fabric.link(id));
    }

    rig.fabric.resetCounters();
    const host = await guest.run(`b=$(nvme_ns_by_serial P2P-B); ${tool(`copy host $b 0 $b $((256<<20)) ${payload} $((4<<20))`)}`, {
      files: { 'nvme-copy': copyTool },
      timeoutMs: 300_000,
    });
    expect(host.exitCode, `${host.stdout}\n${host.stderr}`).toBe(0);
    const hostUp = upstream();

    const verify = await guest.run(`b=$(nvme_ns_by_serial P2P-B); ${tool(`verify $b 0 $b $((128<<20)) ${payload}`)} && ./nvme-copy verify $b 0 $b $((256<<20)) ${payload}`, {
      files: { 'nvme-copy': copyTool },
      timeoutMs: 120_000,
    });
    expect(verify.stdout).toMatch(/verify=MATCH\s+verify=MATCH/);

    console.info(
      `[p2p] upstream link rp0: p2p copy ${p2pUp} B (${((p2pUp / payload) * 100).toFixed(4)}% of ${payload}), host copy ${hostUp} B (${(hostUp / payload).toFixed(2)}×); ` +
        `p2p ${kv(p2p.stdout).mbps} MB/s, host ${kv(host.stdout).mbps} MB/s; dn0 carried ${p2pPeer.downstream.bytes + p2pPeer.upstream.bytes} B`,
    );
    expect(p2pUp).toBeLessThanOrEqual(payload * 0.001);
    expect(p2pPeer.downstream.bytes + p2pPeer.upstream.bytes).toBeGreaterThanOrEqual(2 * payload); // into and out of the CMB
    expect(hostUp).toBeGreaterThanOrEqual(2 * payload);
  });

  it('QEMU nvme and p2pkit NVMe exchange data through the p2pkit CMB in both directions', async () => {
    const r = await guest.run(
      `c=$(nvme_ns_by_serial QEMU-C); b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir P2P-A)
       ${tool('seed $c 0 $((8<<20)) 7')} && ./nvme-copy copy $p/allocate $c 0 $b $((400<<20)) $((8<<20)) $((1<<20)) \\
         && ./nvme-copy verify $c 0 $b $((400<<20)) $((8<<20)) \\
         && ./nvme-copy copy $p/allocate $b $((400<<20)) $c $((64<<20)) $((8<<20)) $((1<<20)) \\
         && ./nvme-copy verify $b $((400<<20)) $c $((64<<20)) $((8<<20))`,
      { files: { 'nvme-copy': copyTool }, timeoutMs: 300_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(r.stdout.match(/verify=MATCH/g)?.length).toBe(2);
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });

  it('a p2pkit NVMe DMAs into and out of QEMU nvme’s CMB through QEMU (DMA_WRITE/DMA_READ messages, 16-byte layout)', async () => {
    // Where the guest placed QEMU's CMB (BAR2): the fabric then routes it as a peer served by QEMU.
    const res = await guest.run('sed -n 3p /sys/bus/pci/devices/$(nvme_bdf_by_serial QEMU-C)/resource', { check: true });
    const cmbBase = BigInt(res.stdout.trim().split(/\s+/)[0] as string);
    rig.fabric.setBarAddress('qemuC', 2, cmbBase);
    const session = rig.servers.get('nvmeB')?.session;
    const before = { ...(session?.dma.counters ?? { messages: 0, messageBytes: 0 }) };
    rig.fabric.resetCounters();
    const r = await guest.run(
      `b=$(nvme_ns_by_serial P2P-B); p=$(p2pmem_dir QEMU-C)
       ${tool('seed $b $((420<<20)) $((2<<20)) 9')} && ./nvme-copy copy $p/allocate $b $((420<<20)) $b $((440<<20)) $((2<<20)) $((1<<20)) \\
         && ./nvme-copy verify $b $((420<<20)) $b $((440<<20)) $((2<<20))`,
      { files: { 'nvme-copy': copyTool }, timeoutMs: 300_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}\n${r.dmesg ?? ''}`).toBe(0);
    expect(kv(r.stdout).verify).toBe('MATCH');
    // B moved the 2 MiB into QEMU's CMB and back out of it as DMA_WRITE/DMA_READ messages.
    expect((session?.dma.counters.messageBytes ?? 0) - before.messageBytes).toBeGreaterThanOrEqual(4 * MiB);
    const dn2 = rig.fabric.link('dn2');
    expect(dn2.downstream.bytes + dn2.upstream.bytes).toBeGreaterThanOrEqual(4 * MiB); // peer traffic to QEMU's device
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });
});

/**
 * The GPU and NIC stubs (packages/devices) driven by a userspace driver in a real guest
 * (guest/p2p-devices.c), next to two p2pkit NVMe controllers below one switch:
 *  - GPU: NVMe B → A's CMB (O_DIRECT into p2pmem) → VRAM → compute hook → CMB → NVMe B;
 *  - NIC (linked to a host-side UNIX socket): frames from an outside process land by DMA in A's
 *    PMR and survive a server restart; the NIC transmits straight from A's CMB to an outside process.
 * The fabric's per-link counters show the peer path: the switch upstream port stays idle.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@p2pkit/base';
import {
  createGpu,
  createNic,
  type GpuDevice,
  type GpuKernel,
  type NicDevice,
  NicReg,
  type NicSocketBackend,
  socketBackend,
} from '@p2pkit/devices';
import { topology } from '@p2pkit/fabric';
import { createNvme, type NvmeDevice, type NvmeOptions } from '@p2pkit/nvme';
import { boot, buildGuestTool, type Guest, installTool, parseKeyValues as kv, provision, Rig } from '@p2pkit/testbed';
import { RegionIndex } from '@p2pkit/vfio-user';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MiB = 1 << 20;
const files = { 'p2p-devices': buildGuestTool(join(import.meta.dirname, 'guest/p2p-devices.c')) };
const FRAME_PEER = join(import.meta.dirname, 'fixtures/frame-peer.ts');
/** Shell prelude: the tool, BDFs of NVMe A, the GPU and the NIC (memory decode + bus mastering on), NVMe B's namespace. */
const prelude = `${installTool('p2p-devices')}
  a=$(nvme_bdf_by_serial P2P-A); b=$(nvme_ns_by_serial P2P-B); alloc=$(p2pmem_dir P2P-A)/allocate
  g=$(lspci -D -n -d 1b36:00f2 | cut -d' ' -f1); n=$(lspci -D -n -d 1b36:00f3 | cut -d' ' -f1)
  for d in $g $n; do echo 1 > /sys/bus/pci/devices/$d/enable; setpci -s $d COMMAND=0x0006; done`;

/**
 * Compute kernel 1: adds ARG0 to every byte of the VRAM range; RESULT = byte sum of the output.
 * It yields after every MiB, so the server keeps answering register reads while it runs.
 */
const addBytes: GpuKernel = async (range, { arg0 }) => {
  let sum = 0;
  for (let at = 0; at < range.length; at += MiB) {
    for (let i = at; i < Math.min(range.length, at + MiB); i++) {
      range[i] = ((range[i] as number) + Number(arg0)) & 0xff;
      sum = (sum + (range[i] as number)) >>> 0;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sum;
};

/** An outside process at the NIC's socket (fixtures/frame-peer.ts): resolves `connected`, then its key=values. */
function outsideProcess(args: string[]): { connected: Promise<void>; done: Promise<Record<string, string>>; child: ChildProcess } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', FRAME_PEER, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let connect: () => void = () => {};
  const connected = new Promise<void>((r) => {
    connect = r;
  });
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('connected=1')) connect();
  });
  const done = new Promise<Record<string, string>>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(kv(out)) : reject(new Error(`frame-peer exited ${code}: ${out}`)))),
  );
  return { connected, done, child };
}

const linkBytes = (rig: Rig, id: string) => {
  const l = rig.fabric.link(id);
  return l.upstream.bytes + l.downstream.bytes;
};

describe('GPU and NIC stubs driven by a guest userspace driver', () => {
  let guest: Guest | undefined;
  let rig: Rig | undefined;
  let nvmeA: NvmeDevice | undefined;
  let nvmeB: NvmeDevice;
  let gpu: GpuDevice;
  let nic: NicDevice;
  let backend: NicSocketBackend;
  let dir: string;
  let pmrSha256 = '';
  const log = recordingLogger();
  const optionsA = (): NvmeOptions => ({
    serial: 'P2P-A',
    maxIoQueues: 4,
    cmb: { size: 64 * MiB },
    pmr: { path: join(dir, 'pmr.bin'), size: 4 * MiB },
    namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 64 * MiB }],
  });

  beforeAll(async () => {
    const provisioned = await provision();
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-gpu-nic-'));
    nvmeA = await createNvme(optionsA());
    nvmeB = await createNvme({ serial: 'P2P-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 256 * MiB }] });
    gpu = await createGpu({ vramSize: 1024 * MiB, kernels: { 1: addBytes } });
    nic = await createNic();
    backend = await socketBackend(nic, join(dir, 'nic.sock'));
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('nvmeA');
          sw.downstream('dn1').attach('nvmeB');
          sw.downstream('dn2').attach('gpu0');
          sw.downstream('dn3').attach('nic0');
        }),
      ),
      devices: { nvmeA, nvmeB, gpu0: gpu, nic0: nic },
      logger: log,
    });
    // iomem=relaxed: the PMR sits in a BAR the nvme driver claimed, which sysfs mmap otherwise refuses.
    guest = await boot(rig.topology, { provisioned, waitForNvme: 2, kernelArgs: ['nvme.sgl_threshold=4096', 'iomem=relaxed'] });
  });

  afterAll(async () => {
    await guest?.shutdown();
    rig?.close();
    await backend?.close();
    for (const d of [nvmeA, nvmeB, gpu, nic]) await d?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lspci shows the GPU with a 1 GiB 64-bit prefetchable VRAM BAR and the NIC', async () => {
    const r = await guest?.run(`lspci -vv -d 1b36:00f2; lspci -vv -d 1b36:00f3`, { check: true });
    expect(r?.stdout).toMatch(/3D controller: .*Device 00f2/);
    expect(r?.stdout).toMatch(/Region 2: Memory at [0-9a-f]+ \(64-bit, prefetchable\) \[size=1G\]/);
    expect(r?.stdout).toMatch(/Ethernet controller: .*Device 00f3/);
  });

  it('GPU: NVMe → CMB → VRAM → compute → CMB → NVMe with no host-memory hop; the data is verified', async () => {
    const bytes = 32 * MiB;
    const seed = await guest?.run(
      `${prelude}\n head -c ${bytes} /dev/urandom | dd of=$b bs=1M oflag=direct iflag=fullblock 2>/dev/null && echo seeded=1`,
      {
        files,
        timeoutMs: 120_000,
      },
    );
    expect(kv(seed?.stdout ?? '').seeded, seed?.stderr).toBe('1');
    rig?.fabric.resetCounters();
    const r = await guest?.run(`${prelude}\n ./p2p-devices gpu $g $alloc $b 0 $b $((64 << 20)) ${bytes} 1 3`, {
      files,
      timeoutMs: 180_000,
    });
    expect(r?.exitCode, `${r?.stdout}\n${r?.stderr}\n${r?.dmesg ?? ''}`).toBe(0);
    const [up, cmb, vram] = [linkBytes(rig as Rig, 'rp0'), linkBytes(rig as Rig, 'dn0'), linkBytes(rig as Rig, 'dn2')];
    const v = kv(r?.stdout ?? '');
    const check = await guest?.run(`${prelude}\n ./p2p-devices check-add $b 0 $b $((64 << 20)) ${bytes} 3`, { files, timeoutMs: 180_000 });
    const c = kv(check?.stdout ?? '');
    console.info(
      `[gpu] ${bytes} B NVMe → CMB → VRAM → +3 → CMB → NVMe: read ${v.seconds_read}s, GPU ${v.seconds_gpu}s, write ${v.seconds_write}s; ` +
        `upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}%), dn0 (CMB) ${cmb} B, dn2 (GPU) ${vram} B`,
    );
    expect([v.desc0_status, v.desc1_status, v.desc2_status]).toEqual(['1', '1', '1']);
    expect(c.verify, check?.stdout).toBe('MATCH');
    expect(v.compute_result).toBe(c.expected_sum); // the hook's RESULT is the byte sum the guest computed
    expect(up).toBeLessThanOrEqual(bytes * 0.001);
    expect(vram).toBeGreaterThanOrEqual(2 * bytes); // CMB → VRAM and back
    expect(cmb).toBeGreaterThanOrEqual(4 * bytes); // NVMe in, GPU out, GPU in, NVMe out
  });

  it('NIC: frames from an outside process land by DMA in the NVMe PMR', async () => {
    const frames = 32;
    const size = 32 * 1024;
    const job = guest?.run(`${prelude}\n ./p2p-devices pmr $a enable && ./p2p-devices nic-rx $n $alloc $a 4 0 ${frames} ${size}`, {
      files,
      timeoutMs: 180_000,
    });
    // The guest posted its RX buffers once RX_TAIL moves; only then may the outside process send.
    const rxTail = () => Buffer.from(nic.endpoint.regionRead(RegionIndex.BAR0, BigInt(NicReg.RX_TAIL), 4)).readUInt32LE();
    for (let i = 0; rxTail() !== frames; i++) {
      if (i > 1200) throw new Error('guest never posted its RX buffers');
      await new Promise((r) => setTimeout(r, 50));
    }
    rig?.fabric.resetCounters();
    const sender = outsideProcess(['send', backend.path, String(frames), String(size), '7']);
    const sent = await sender.done;
    const r = await job;
    expect(r?.exitCode, `${r?.stdout}\n${r?.stderr}`).toBe(0);
    const [up, pmr, nicLink] = [linkBytes(rig as Rig, 'rp0'), linkBytes(rig as Rig, 'dn0'), linkBytes(rig as Rig, 'dn3')];
    const read = await guest?.run(
      `${prelude}\n ./p2p-devices pmr $a disable >/dev/null; ./p2p-devices dump $a 4 0 ${frames * size} | sha256sum`,
      { files },
    );
    pmrSha256 = sent.sha256 ?? '';
    const v = kv(r?.stdout ?? '');
    console.info(
      `[nic-rx] ${frames * size} B from an outside process into the PMR: upstream rp0 ${up} B, dn0 (PMR) ${pmr} B, dn3 (NIC) ${nicLink} B`,
    );
    expect([v.rx_frames, v.rx_bytes, v.rx_dropped]).toEqual([String(frames), String(frames * size), '0']);
    expect(read?.stdout.split(' ')[0]).toBe(sent.sha256);
    expect(up).toBeLessThanOrEqual(frames * size * 0.001);
    expect(pmr).toBeGreaterThanOrEqual(frames * size);
    expect(backend.stats.framesIn).toBe(frames);
  });

  it('NIC: transmits straight from the CMB (NVMe → CMB → NIC → outside process)', async () => {
    const bytes = 8 * MiB;
    const receiver = outsideProcess(['recv', backend.path, String(bytes)]);
    await receiver.connected;
    for (let i = 0; backend.clients < 1; i++) {
      if (i > 200) throw new Error('receiver never connected');
      await new Promise((r) => setTimeout(r, 10));
    }
    const seed = await guest?.run(
      `${prelude}\n head -c ${bytes} /dev/urandom | dd of=$b bs=1M seek=128 oflag=direct iflag=fullblock 2>/dev/null
       dd if=$b bs=1M skip=128 count=8 iflag=direct 2>/dev/null | sha256sum`,
      { files, timeoutMs: 60_000 },
    );
    rig?.fabric.resetCounters();
    const r = await guest?.run(`${prelude}\n ./p2p-devices nic-tx $n $alloc $b $((128 << 20)) ${bytes} 32768`, {
      files,
      timeoutMs: 180_000,
    });
    const got = await receiver.done;
    expect(r?.exitCode, `${r?.stdout}\n${r?.stderr}`).toBe(0);
    const [up, cmb, nicLink] = [linkBytes(rig as Rig, 'rp0'), linkBytes(rig as Rig, 'dn0'), linkBytes(rig as Rig, 'dn3')];
    console.info(
      `[nic-tx] ${bytes} B NVMe → CMB → NIC → outside process: upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}%), dn0 (CMB) ${cmb} B, dn3 (NIC) ${nicLink} B`,
    );
    expect(kv(r?.stdout ?? '').tx_frames).toBe(String(bytes / 32768));
    expect(got.sha256).toBe(seed?.stdout.split(' ')[0]);
    expect(Number(got.bytes)).toBe(bytes);
    expect(up).toBeLessThanOrEqual(bytes * 0.001);
    expect(nicLink).toBeGreaterThanOrEqual(bytes);
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });

  it('the frames in the PMR survive a restart of the NVMe server (new process state, new guest)', async () => {
    expect(pmrSha256).toMatch(/^[0-9a-f]{64}$/);
    await guest?.shutdown();
    rig?.close();
    await nvmeA?.close();
    [guest, rig, nvmeA] = [undefined, undefined, undefined];
    const again = await createNvme(optionsA()); // the same PMR file
    nvmeA = again;
    const bytes = 32 * 32 * 1024;
    expect(createHash('sha256').update(again.endpoint.handle.memory(4).subarray(0, bytes)).digest('hex')).toBe(pmrSha256);
    rig = new Rig({
      topology: topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('nvmeA'))),
      devices: { nvmeA: again },
      logger: log,
    });
    guest = await boot(rig.topology, { provisioned: await provision(), modules: [] });
    const r = await guest.run(
      `${installTool('p2p-devices')}; a=$(lspci -D -n -d 1b36:00f4 | cut -d' ' -f1); echo 1 > /sys/bus/pci/devices/$a/enable
       ./p2p-devices pmr $a enable >/dev/null && ./p2p-devices dump $a 4 0 ${bytes} | sha256sum`,
      { files, timeoutMs: 60_000 },
    );
    expect(r.stdout.split(' ')[0], `exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}: ${r.stdout}\n${r.stderr}`).toBe(pmrSha256);
  });
});

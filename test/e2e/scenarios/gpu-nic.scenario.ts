/**
 * The GPU and NIC device models (packages/devices) driven by a userspace driver in a real guest
 * (test/e2e/guest/p2p-devices.c), next to two p2pkit NVMe controllers below one switch:
 *  - GPU: NVMe B → A's CMB (O_DIRECT into p2pmem) → VRAM → compute hook → CMB → NVMe B;
 *  - NIC, linked to a host-side UNIX socket: frames from an outside process land by DMA in A's PMR
 *    and survive a server restart; the NIC transmits straight from A's CMB to an outside process.
 * The fabric's per-link counters show the peer path: the switch upstream port stays idle.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createGpu, createNic, type GpuKernel, NicReg } from '@p2pkit/devices';
import { topology } from '@p2pkit/fabric';
import { createNvme } from '@p2pkit/nvme';
import { buildGuestTool, defineScenario, installTool, parseKeyValues as kv, type Rig } from '@p2pkit/testbed';
import { RegionIndex } from '@p2pkit/vfio-user';

const MiB = 1 << 20;
const files = { 'p2p-devices': buildGuestTool(join(import.meta.dirname, '../guest/p2p-devices.c')) };
const FRAME_PEER = join(import.meta.dirname, '../fixtures/frame-peer.ts');
/** Shell prelude: the tool, BDFs of NVMe A, the GPU and the NIC (memory decode + bus mastering on), NVMe B's namespace. */
const prelude = `${installTool('p2p-devices')}
  a=$(nvme_bdf_by_serial P2P-A); b=$(nvme_ns_by_serial P2P-B); alloc=$(p2pmem_dir P2P-A)/allocate
  g=$(lspci -D -n -d 1b36:00f2 | cut -d' ' -f1); n=$(lspci -D -n -d 1b36:00f3 | cut -d' ' -f1)
  for d in $g $n; do echo 1 > /sys/bus/pci/devices/$d/enable; setpci -s $d COMMAND=0x0006; done`;
const RX = { frames: 32, size: 32 * 1024 };
/** What the outside process sent into the PMR (sha256), checked again after the restart. */
let pmrSha256 = '';

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

/** An outside process at the NIC's socket (fixtures/frame-peer.ts): `connected`, then its key=values. */
function outsideProcess(args: string[]): { connected: Promise<void>; done: Promise<Record<string, string>> } {
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
  return { connected, done };
}

const linkBytes = (rig: Rig, id: string) => rig.fabric.link(id).upstream.bytes + rig.fabric.link(id).downstream.bytes;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default defineScenario({
  name: 'GPU and NIC device models driven by a guest userspace driver',
  description: 'NVMe → CMB → VRAM → compute → CMB → NVMe; outside frames into an NVMe PMR across a restart; NIC TX from a CMB',
  // #region devices
  topology: topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('nvmeA');
      sw.downstream('dn1').attach('nvmeB');
      sw.downstream('dn2').attach('gpu0');
      sw.downstream('dn3').attach('nic0');
    }),
  ),
  // The same scratch folder in every generation: after ctx.restart() NVMe A reopens the same PMR file.
  devices: async ({ dir }) => ({
    nvmeA: await createNvme({
      serial: 'P2P-A',
      maxIoQueues: 4,
      cmb: { size: 64 * MiB },
      pmr: { path: join(dir, 'pmr.bin'), size: 4 * MiB },
      namespaces: [{ path: join(dir, 'a.img'), sizeBytes: 64 * MiB }],
    }),
    nvmeB: await createNvme({ serial: 'P2P-B', maxIoQueues: 4, namespaces: [{ path: join(dir, 'b.img'), sizeBytes: 256 * MiB }] }),
    gpu0: await createGpu({ vramSize: 1024 * MiB, kernels: { 1: addBytes } }),
    nic0: await createNic({ socket: join(dir, 'nic.sock') }), // a host-side backend: outside processes connect here
  }),
  // iomem=relaxed: the PMR sits in a BAR the nvme driver claimed, which sysfs mmap otherwise refuses.
  guest: { waitForNvme: 2, kernelArgs: ['nvme.sgl_threshold=4096', 'iomem=relaxed'] },
  // #endregion devices
  steps: {
    'lspci shows the GPU with a 1 GiB 64-bit prefetchable VRAM BAR and the NIC': async (ctx) => {
      const r = await ctx.guest.run('lspci -vv -d 1b36:00f2; lspci -vv -d 1b36:00f3');
      ctx.jobOk('lspci', r);
      ctx.match('GPU: 3D controller', r.stdout, /3D controller: .*Device 00f2/);
      ctx.match('VRAM BAR', r.stdout, /Region 2: Memory at [0-9a-f]+ \(64-bit, prefetchable\) \[size=1G\]/);
      ctx.match('NIC: Ethernet controller', r.stdout, /Ethernet controller: .*Device 00f3/);
    },

    'GPU: NVMe → CMB → VRAM → compute → CMB → NVMe with no host-memory hop, data verified': async (ctx) => {
      const bytes = 32 * MiB;
      const seed = await ctx.guest.run(
        `${prelude}\n head -c ${bytes} /dev/urandom | dd of=$b bs=1M oflag=direct iflag=fullblock 2>/dev/null`,
        { files, timeoutMs: 120_000 },
      );
      ctx.jobOk('seed NVMe B', seed);
      // #region gpu-job
      ctx.rig.fabric.resetCounters();
      const r = await ctx.guest.run(`${prelude}\n ./p2p-devices gpu $g $alloc $b 0 $b $((64 << 20)) ${bytes} 1 3`, {
        files,
        timeoutMs: 180_000,
      });
      ctx.jobOk('p2p-devices gpu', r);
      const [up, cmb, vram] = [linkBytes(ctx.rig, 'rp0'), linkBytes(ctx.rig, 'dn0'), linkBytes(ctx.rig, 'dn2')];
      const v = kv(r.stdout);
      // #endregion gpu-job
      const check = await ctx.guest.run(`${prelude}\n ./p2p-devices check-add $b 0 $b $((64 << 20)) ${bytes} 3`, {
        files,
        timeoutMs: 180_000,
      });
      const c = kv(check.stdout);
      ctx.log(
        `GPU leg: upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}%), dn0 (CMB) ${cmb} B, dn2 (GPU) ${vram} B; GPU ${v.seconds_gpu}s`,
      );
      ctx.equal('descriptor statuses (1 = DONE)', [v.desc0_status, v.desc1_status, v.desc2_status], ['1', '1', '1']);
      ctx.equal('NVMe B holds the source plus 3 in every byte', c.verify, 'MATCH');
      ctx.equal('the hook RESULT is the byte sum the guest computed', v.compute_result, c.expected_sum);
      ctx.atMost('switch upstream port ≤ 0.1% of the payload', up, bytes * 0.001);
      ctx.atLeast('GPU link: CMB → VRAM and back', vram, 2 * bytes);
      ctx.atLeast('CMB link: NVMe in, GPU out, GPU in, NVMe out', cmb, 4 * bytes);
    },

    'NIC: frames from an outside process land by DMA in the NVMe PMR': async (ctx) => {
      const { frames, size } = RX;
      const nic = ctx.devices.nic0;
      const job = ctx.guest.run(`${prelude}\n ./p2p-devices pmr $a enable && ./p2p-devices nic-rx $n $alloc $a 4 0 ${frames} ${size}`, {
        files,
        timeoutMs: 180_000,
      });
      // The guest posted its RX buffers once RX_TAIL moves; only then may the outside process send.
      const rxTail = () => Buffer.from(nic.endpoint.regionRead(RegionIndex.BAR0, BigInt(NicReg.RX_TAIL), 4)).readUInt32LE();
      for (let i = 0; rxTail() !== frames; i++) {
        if (i > 2400) throw new Error('the guest never posted its RX buffers');
        await pause(50);
      }
      ctx.rig.fabric.resetCounters();
      const sent = await outsideProcess(['send', nic.backend?.path ?? '', String(frames), String(size), '7']).done;
      const r = await job;
      ctx.jobOk('p2p-devices nic-rx', r);
      const [up, pmr] = [linkBytes(ctx.rig, 'rp0'), linkBytes(ctx.rig, 'dn0')];
      const read = await ctx.guest.run(
        `${prelude}\n ./p2p-devices pmr $a disable >/dev/null; ./p2p-devices dump $a 4 0 ${frames * size} | sha256sum`,
        { files },
      );
      pmrSha256 = sent.sha256 ?? '';
      const v = kv(r.stdout);
      ctx.log(`NIC RX leg: ${frames * size} B into the PMR, upstream rp0 ${up} B, dn0 (PMR) ${pmr} B`);
      ctx.equal('frames, bytes, drops', [v.rx_frames, v.rx_bytes, v.rx_dropped], [String(frames), String(frames * size), '0']);
      ctx.equal('the PMR holds what was sent (sha256)', read.stdout.split(' ')[0], sent.sha256);
      ctx.atMost('switch upstream port ≤ 0.1% of the payload', up, frames * size * 0.001);
      ctx.atLeast('PMR link carried the frames', pmr, frames * size);
    },

    'NIC: transmits straight from the CMB (NVMe → CMB → NIC → outside process)': async (ctx) => {
      const bytes = 8 * MiB;
      const backend = ctx.devices.nic0.backend;
      const receiver = outsideProcess(['recv', backend?.path ?? '', String(bytes)]);
      await receiver.connected;
      for (let i = 0; (backend?.clients ?? 0) < 1; i++) {
        if (i > 500) throw new Error('the receiver never connected');
        await pause(10);
      }
      const seed = await ctx.guest.run(
        `${prelude}\n head -c ${bytes} /dev/urandom | dd of=$b bs=1M seek=128 oflag=direct iflag=fullblock 2>/dev/null
         dd if=$b bs=1M skip=128 count=8 iflag=direct 2>/dev/null | sha256sum`,
        { files, timeoutMs: 60_000 },
      );
      ctx.rig.fabric.resetCounters();
      const r = await ctx.guest.run(`${prelude}\n ./p2p-devices nic-tx $n $alloc $b $((128 << 20)) ${bytes} 32768`, {
        files,
        timeoutMs: 180_000,
      });
      const got = await receiver.done;
      ctx.jobOk('p2p-devices nic-tx', r);
      const [up, cmb, nicLink] = [linkBytes(ctx.rig, 'rp0'), linkBytes(ctx.rig, 'dn0'), linkBytes(ctx.rig, 'dn3')];
      ctx.log(`NIC TX leg: upstream rp0 ${up} B (${((up / bytes) * 100).toFixed(4)}%), dn0 (CMB) ${cmb} B, dn3 (NIC) ${nicLink} B`);
      ctx.equal('frames sent', kv(r.stdout).tx_frames, String(bytes / 32768));
      ctx.equal('the outside process got the NVMe bytes (sha256)', got.sha256, seed.stdout.split(' ')[0]);
      ctx.atMost('switch upstream port ≤ 0.1% of the payload', up, bytes * 0.001);
      ctx.atLeast('NIC link carried the frames', nicLink, bytes);
    },

    'the frames in the PMR survive a restart of the servers and a new boot': async (ctx) => {
      ctx.match('a PMR hash from the RX step', pmrSha256, /^[0-9a-f]{64}$/);
      await ctx.restart(); // devices closed (the PMR flushed to its file), created again, new QEMU
      const bytes = RX.frames * RX.size;
      const pmr = ctx.devices.nvmeA.endpoint.handle.memory(4).subarray(0, bytes);
      ctx.equal('the new server maps the same bytes', createHash('sha256').update(pmr).digest('hex'), pmrSha256);
      const r = await ctx.guest.run(
        `${prelude}\n ./p2p-devices pmr $a enable >/dev/null && ./p2p-devices dump $a 4 0 ${bytes} | sha256sum`,
        { files, timeoutMs: 60_000 },
      );
      ctx.jobOk('read the PMR back', r);
      ctx.equal('the guest reads what was sent before the restart', r.stdout.split(' ')[0], pmrSha256);
    },
  },
});

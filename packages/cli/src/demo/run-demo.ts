/**
 * The p2pkit demo: NVMe B (a TypeScript controller) copies data to itself twice in a stock Linux
 * guest — through the p2pmem of a provider's CMB below the same switch, and through host memory —
 * while p2pkit's fabric model counts every byte per link. Writes a report, traces and figures.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatBytes } from '@p2pkit/base';
import { renderLinkTable } from '@p2pkit/fabric';
import { boot, buildGuestTool, guestShellArgs, installTool, openGuestShell, parseKeyValues, provision } from '@p2pkit/testbed';
import { withJobProgress } from '../progress/job-progress.ts';
import { provisionDisplay } from '../progress/provision-progress.ts';
import { COPY_SERIAL, copyLayout, createDemoRig, PROVIDER_ID, PROVIDER_SERIAL } from './demo-rig.ts';
import { type CopyFigures, type DemoFigures, linkFigures, percent, upstreamBytes } from './figures.ts';
import { type DemoOptions, resolveDemoOptions } from './options.ts';
import { writeDemoOutputs } from './outputs.ts';

const TOOL_SOURCE = join(import.meta.dirname, '..', '..', 'guest', 'nvme-copy.c');

/** Runs the demo; resolves with every figure (also written to `<outDir>/figures.json`). */
export async function runDemo(options: DemoOptions = {}): Promise<DemoFigures> {
  const o = resolveDemoOptions(options);
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  // People's output goes to stderr with --json, so stdout is the JSON object alone.
  const say = (s = '') => (o.json ? process.stderr : process.stdout).write(`${s}\n`);
  const step = (s: string) => say(`\n▶ ${s}`);
  const out = resolve(o.outDir);
  mkdirSync(out, { recursive: true });
  const { sizeBytes: size, chunkBytes: chunk } = o;
  const layout = copyLayout(size);

  step('provisioning QEMU (Debian sid), the sid kernel and guest tools (cached after the first run)');
  const display = provisionDisplay();
  const provisioned = await provision({ onProgress: display.listener }).finally(() => display.stop());

  step(`serving p2pkit NVMe B${o.provider === 'p2pkit' ? ` and A (CMB ${formatBytes(o.cmbBytes)})` : ''} on a modelled PCIe switch`);
  const demo = await createDemoRig({ ...o, outDir: out });
  const { rig } = demo;
  const shellDir = o.interactive ? mkdtempSync(join(tmpdir(), 'p2pkit-shell-')) : undefined;
  try {
    step('booting the guest (TCG)');
    const booting = boot(rig.topology, {
      provisioned,
      waitForNvme: 2,
      kernelArgs: ['nvme.sgl_threshold=4096'], // one SGL per p2p command: no PRP lists in host memory (docs/testbed.md)
      ...(shellDir ? { extraArgs: guestShellArgs(join(shellDir, 'ttyS1.sock')) } : {}),
    });
    await using guest = await withJobProgress('booting', booting);
    say(`guest ready in ${(guest.bootMs / 1000).toFixed(1)} s`);

    step('what the guest sees');
    const seen = await guest.run(
      `lspci -tv | sed -n '1,12p'
       nvme list
       p=$(p2pmem_dir ${PROVIDER_SERIAL}); echo "p2pmem published=$(cat $p/published) size=$(cat $p/size) available=$(cat $p/available)"
       echo "cmb_resource=$(sed -n 3p /sys/bus/pci/devices/$(nvme_bdf_by_serial ${PROVIDER_SERIAL})/resource | cut -d' ' -f1)"`,
      { check: true },
    );
    say(
      seen.stdout
        .trimEnd()
        .split('\n')
        .filter((l) => !l.startsWith('cmb_resource='))
        .join('\n'),
    );
    const info = parseKeyValues(seen.stdout.replaceAll(' ', '\n'));
    const available = Number(info.available ?? 0);
    if (chunk > available)
      throw new Error(
        `--chunk ${formatBytes(chunk)} does not fit in the p2pmem the guest has available (${formatBytes(available)}); use a larger --cmb`,
      );
    // QEMU's CMB is placed by the guest: tell the fabric, so B's DMA to it is routed as peer traffic.
    if (o.provider === 'qemu') rig.fabric.setBarAddress(PROVIDER_ID, 2, BigInt(info.cmb_resource ?? '0'));

    const tool = buildGuestTool(TOOL_SOURCE);
    const job = (args: string, timeoutMs = 600_000) =>
      guest.run(
        `${installTool('nvme-copy')} && b=$(nvme_ns_by_serial ${COPY_SERIAL}) && p=$(p2pmem_dir ${PROVIDER_SERIAL}) && ./nvme-copy ${args}`,
        {
          files: { 'nvme-copy': tool },
          timeoutMs,
          check: true,
        },
      );
    // B's own link carries everything B moves: half of it is the copy's read side, half its write side.
    const dn1 = () => {
      const l = rig.fabric.link('dn1');
      return l.upstream.bytes + l.downstream.bytes;
    };
    rig.fabric.resetCounters();
    await withJobProgress(`seeding ${formatBytes(size)} on B`, job(`seed $b 0 ${size} 42`), { done: dn1, total: size });

    const copies: Partial<Record<'p2p' | 'host', CopyFigures>> = {};
    const provider = o.provider === 'qemu' ? "QEMU nvme's CMB" : "p2pkit NVMe A's CMB";
    for (const [name, buffer, dst, description] of [
      ['p2p', '$p/allocate', layout.p2pDst, `peer-to-peer through ${provider} (p2pmem)`],
      ['host', 'host', layout.hostDst, 'through a host-memory buffer'],
    ] as const) {
      step(`copy ${formatBytes(size)} B→B ${description}`);
      rig.fabric.resetCounters();
      const trace = join(out, `${name}-copy.p2pt`);
      const writer = rig.fabric.startTrace(trace);
      const r = await withJobProgress(`copy (${name})`, job(`copy ${buffer} $b 0 $b ${dst} ${size} ${chunk}`), {
        done: () => dn1() / 2,
        total: size,
      });
      await writer.close();
      const links = rig.fabric.snapshot().links;
      const v = await withJobProgress('verifying', job(`verify $b 0 $b ${dst} ${size}`), { done: () => dn1() / 2 - size, total: size });
      const kv = { ...parseKeyValues(r.stdout), ...parseKeyValues(v.stdout) };
      const up = upstreamBytes(links, rig.fabric.topology);
      copies[name] = {
        buffer: name,
        description,
        bytes: Number(kv.copied),
        seconds: Number(kv.seconds),
        throughputMBps: Number(kv.mbps),
        verified: kv.verify === 'MATCH',
        upstreamBytes: up,
        upstreamShare: up / size,
        links: linkFigures(links, rig.fabric.topology),
        trace,
        perfetto: join(out, `${name}-copy.perfetto.json`),
      };
      say(renderLinkTable(links, rig.fabric.topology));
      say(`guest: ${kv.copied} bytes in ${kv.seconds} s (${kv.mbps} MB/s), verify=${kv.verify}`);
      say(`switch upstream port (rp0) carried ${formatBytes(up)} = ${percent(up / size)} of the payload`);
    }

    const figures: DemoFigures = {
      payloadBytes: size,
      chunkBytes: chunk,
      cmbBytes: o.cmbBytes,
      provider: o.provider,
      upstreamLinks: rig.fabric.topology.switchUpstreamLinks().map((l) => l.id),
      p2p: copies.p2p as CopyFigures,
      host: copies.host as CopyFigures,
      versions: {
        qemu: provisioned.qemu.version,
        qemuPackage: `qemu-system-x86 ${provisioned.qemu.debVersion}`,
        kernel: provisioned.kernel.abi,
        kernelPackage: `linux-image-${provisioned.kernel.abi} ${provisioned.kernel.debVersion}`,
        node: process.versions.node,
      },
      guest: { bootSeconds: guest.bootMs / 1000, p2pmemBytes: Number(info.size ?? 0) },
      startedAt,
      durationSeconds: 0,
      files: {
        outputDir: out,
        report: join(out, 'report.html'),
        figures: join(out, 'figures.json'),
        images: demo.images,
        imagesKept: o.keep,
      },
    };
    figures.durationSeconds = (performance.now() - t0) / 1000;
    await writeDemoOutputs(figures, rig.topology);
    step(`report: ${figures.files.report}`);
    say(`traces: ${figures.p2p.trace}, ${figures.host.trace} (npx p2pkit trace FILE --html out.html --perfetto out.json)`);
    if (shellDir) {
      step('guest shell (exit or Ctrl-D to power the guest off; Ctrl-] detaches)');
      await openGuestShell(guest, join(shellDir, 'ttyS1.sock'), o.json ? { output: process.stderr } : {});
    }
    return figures;
  } finally {
    await demo.close();
    if (!o.keep) for (const f of demo.images) rmSync(f, { force: true });
    if (shellDir) rmSync(shellDir, { recursive: true, force: true });
  }
}

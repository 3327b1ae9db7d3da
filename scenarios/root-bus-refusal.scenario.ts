/**
 * The kernel's refusal: provider and peer on the root bus (no common upstream bridge), default
 * qemu64 CPU. The CMB is still published and usable by its own controller, but a peer transfer
 * through it is refused with EINVAL, and the kernel says why. Why it cannot be allowed here: q35's
 * host bridge is not on the kernel's allow-list (and cannot be made to match), and qemu64 is no Zen.
 */
import { qemuNvme, topology } from '@p2pkit/fabric';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';
import { ALLOWED_INTEL_HOST_BRIDGES, AMD_ZEN_FAMILY, HOST_BRIDGE_FACTS, MiB, REFUSAL } from './lib.ts';

export default defineScenario({
  name: 'root bus: p2p refused',
  description: 'devices without a common upstream bridge: the CMB is published, the peer transfer is refused (EINVAL + dmesg)',
  topology: topology().attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }), qemuNvme({ serial: 'peer0' })),
  steps: {
    'the CMB is still published, and the provider can use its own p2pmem': async (ctx) => {
      const r = await ctx.guest.run(
        `p=$(p2pmem_dir cmb0); a=$(nvme_ns_by_serial cmb0)
         echo "bdf=$(nvme_bdf_by_serial cmb0)"; echo "published=$(cat $p/published)"
         p2p-copy "$p/allocate" "$a" "$a" ${MiB} 3 0 ${8 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('p2p-copy provider → provider', r);
      const v = kv(r.stdout);
      ctx.match('on the root bus', v.bdf, /^0000:00:/);
      ctx.equal('p2pmem/published', v.published, '1');
      ctx.equal('result', v.result, 'PASS');
    },

    'the peer transfer is refused with EINVAL and the kernel logs why': async (ctx) => {
      const r = await ctx.guest.run(
        `p2p-copy "$(p2pmem_dir cmb0)/allocate" "$(nvme_ns_by_serial peer0)" "$(nvme_ns_by_serial peer0)" ${MiB} 5 0 ${8 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.equal('p2p-copy exit (an I/O step failed)', r.exitCode, 2);
      const v = kv(r.stdout);
      ctx.equal('seed', v.seed, 'ok');
      ctx.equal('mmap of allocate never checks topology', v.map, 'ok');
      ctx.match('the O_DIRECT read into p2p pages fails with EINVAL', v.read, /^error errno=22 /);
      ctx.equal('no result line', v.result, undefined);
      ctx.check('the runner attached dmesg to the failed job', r.dmesg !== undefined);
      const line = r.dmesg?.split('\n').find((l) => l.includes(REFUSAL));
      ctx.match(
        "the kernel's message",
        line,
        /nvme 0000:00:[0-9a-f.]+: cannot be used for peer-to-peer DMA as the client and provider \(0000:00:[0-9a-f.]+\) do not share an upstream bridge or whitelisted host bridge/,
      );
    },

    "why: q35's host bridge is not on the kernel's allow-list, and qemu64 is no AMD Zen": async (ctx) => {
      const r = await ctx.guest.run(HOST_BRIDGE_FACTS, { timeoutMs: 20_000 });
      ctx.jobOk('facts', r);
      const v = kv(r.stdout);
      ctx.equal('host bridge vendor (Intel)', v.hb_vendor, '0x8086');
      ctx.equal('host bridge device (q35 MCH 0x29c0)', v.hb_device, '0x29c0');
      // The q35 host bridge's device ID is fixed in QEMU (no property changes it), so the guest can
      // never match the Intel allow-list: the refusal above is the expected behaviour, not a bug.
      ctx.check(
        'q35 host bridge cannot match pci_p2pdma_whitelist[]',
        !ALLOWED_INTEL_HOST_BRIDGES.includes(Number(v.hb_device)),
        `8086:${v.hb_device?.slice(2)} is not one of ${ALLOWED_INTEL_HOST_BRIDGES.map((d) => d.toString(16).padStart(4, '0')).join(', ')}`,
      );
      ctx.check(
        'the CPU does not allow it either (cpu_supports_p2pdma: AMD family ≥ 0x17)',
        v.cpu_vendor !== 'AuthenticAMD' || Number(v.cpu_family) < AMD_ZEN_FAMILY,
        `${v.cpu_vendor} family ${v.cpu_family}`,
      );
    },
  },
});

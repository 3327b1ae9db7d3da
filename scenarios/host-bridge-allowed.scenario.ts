/**
 * The kernel's host-bridge allowance: with an AMD Zen CPU (`-cpu EPYC`, family 0x17),
 * cpu_supports_p2pdma() lets p2p cross the host bridge, so devices on the root bus — and a device
 * behind another root port — exchange data through the provider's CMB. The same topology with
 * qemu64 is refused (root-bus-refusal.scenario.ts).
 */
import { qemuNvme, topology } from '@p2pkit/fabric';
import { defineScenario, parseKeyValues as kv } from '@p2pkit/testbed';
import { AMD_ZEN_FAMILY, HOST_BRIDGE_FACTS, MiB, REFUSAL } from './lib.ts';

export default defineScenario({
  name: 'AMD Zen: p2p through the host bridge',
  description: 'cpu EPYC: root-bus peers and a peer behind a root port reach the CMB through the host bridge',
  topology: topology()
    .attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }), qemuNvme({ serial: 'peer0' }))
    .rootPort('rp0', (rp) => rp.attach(qemuNvme({ serial: 'peer1' }))),
  guest: { cpu: 'EPYC' },
  steps: {
    'the guest CPU is AMD Zen (family ≥ 0x17)': async (ctx) => {
      const r = await ctx.guest.run(HOST_BRIDGE_FACTS, { timeoutMs: 20_000 });
      ctx.jobOk('facts', r);
      const v = kv(r.stdout);
      ctx.equal('vendor', v.cpu_vendor, 'AuthenticAMD');
      ctx.atLeast('family', Number(v.cpu_family), AMD_ZEN_FAMILY);
    },

    'root-bus peer ↔ CMB through the host bridge is allowed': async (ctx) => {
      const r = await ctx.guest.run(
        `p2p-copy "$(p2pmem_dir cmb0)/allocate" "$(nvme_ns_by_serial peer0)" "$(nvme_ns_by_serial peer0)" ${MiB} 5 0 ${8 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('p2p-copy peer0', r);
      ctx.equal('result', kv(r.stdout).result, 'PASS');
    },

    'a peer behind a root port reaches the root-bus CMB too': async (ctx) => {
      const r = await ctx.guest.run(
        `echo "peer1_bdf=$(nvme_bdf_by_serial peer1)"
         p2p-copy "$(p2pmem_dir cmb0)/allocate" "$(nvme_ns_by_serial peer1)" "$(nvme_ns_by_serial peer1)" ${MiB} 9 0 ${8 * MiB}`,
        { timeoutMs: 60_000 },
      );
      ctx.jobOk('p2p-copy peer1', r);
      const v = kv(r.stdout);
      ctx.check('peer1 is not on the root bus', !v.peer1_bdf?.startsWith('0000:00:'), v.peer1_bdf);
      ctx.equal('result', v.result, 'PASS');
      const dmesg = await ctx.guest.dmesg();
      ctx.check(
        'no refusal in dmesg',
        !dmesg.includes(REFUSAL),
        dmesg.split('\n').find((l) => l.includes(REFUSAL)),
      );
    },
  },
});

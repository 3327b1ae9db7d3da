/**
 * Negative scenarios: the same two QEMU NVMe controllers on the root bus (no common upstream
 * bridge, default qemu64 CPU) — the kernel must refuse the peer transfer; plus the runner's
 * failure paths (timeouts attach the kernel log) and deferred driver binding (`modules: []`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kv } from './guest-tool.ts';
import { qemuNvme, topology, vfioUser } from '@p2pkit/fabric';
import { BootError, boot, type Guest, provision, type Provisioned } from '@p2pkit/testbed';

const MiB = 1024 * 1024;
const REFUSAL = 'do not share an upstream bridge or whitelisted host bridge';

let provisioned: Provisioned;
beforeAll(async () => {
  provisioned = await provision();
});

describe('negative: provider and peer on the root bus', () => {
  let guest: Guest;

  beforeAll(async () => {
    const rig = topology().attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }), qemuNvme({ serial: 'peer0' }));
    guest = await boot(rig, { provisioned });
    console.info(`[negative] boot ${(guest.bootMs / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    await guest?.shutdown();
  });

  it('still publishes the CMB, and the provider can use its own p2pmem', async () => {
    const r = await guest.run(
      `p=$(p2pmem_dir cmb0); a=$(nvme_ns_by_serial cmb0)
       echo "bdf=$(nvme_bdf_by_serial cmb0)"; echo "published=$(cat $p/published)"
       p2p-copy "$p/allocate" "$a" "$a" ${MiB} 3 0 ${8 * MiB}`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.dmesg ?? ''}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.bdf).toMatch(/^0000:00:/); // on the root bus
    expect(v.published).toBe('1');
    expect(v.result).toBe('PASS');
  });

  it('refuses the peer transfer with EINVAL and logs the reason', async () => {
    const r = await guest.run(
      `p2p-copy "$(p2pmem_dir cmb0)/allocate" "$(nvme_ns_by_serial peer0)" "$(nvme_ns_by_serial peer0)" ${MiB} 5 0 ${8 * MiB}`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode).toBe(2); // p2p-copy: an I/O step failed
    const v = kv(r.stdout);
    expect(v.seed).toBe('ok');
    expect(v.map).toBe('ok'); // mmap of allocate never checks topology
    expect(v.read).toMatch(/^error errno=22 /); // EINVAL from the O_DIRECT read into p2p pages
    expect(v.result).toBeUndefined();
    // The runner attached the guest kernel log because the job failed.
    expect(r.dmesg).toBeDefined();
    const line = r.dmesg?.split('\n').find((l) => l.includes(REFUSAL));
    expect(line).toMatch(/nvme 0000:00:[0-9a-f.]+: cannot be used for peer-to-peer DMA as the client and provider \(0000:00:[0-9a-f.]+\)/);
  });

  it('reports a job timeout and attaches dmesg', async () => {
    const r = await guest.run('echo started; sleep 30', { timeoutMs: 1_000 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(124);
    expect(r.stdout).toBe('started\n');
    expect(r.dmesg).toContain('Linux version');
    // The guest keeps serving jobs afterwards.
    const ok = await guest.run('echo alive');
    expect(ok.stdout).toBe('alive\n');
  });

  it('throws JobError with check: true', async () => {
    await expect(guest.run('echo boom >&2; exit 3', { check: true })).rejects.toThrow(/exited with 3[\s\S]*boom/);
  });
});

describe('deferred driver binding (modules: [])', () => {
  it('boots with nvme unbound, then binds it from a job', async () => {
    const rig = topology().rootPort('rp0', (rp) => rp.attach(qemuNvme({ serial: 'late0', cmbMiB: 16 })));
    await using guest = await boot(rig, { provisioned, modules: [] });
    const r = await guest.run(
      `bdf=$(lspci -D -d ::0108 | cut -d' ' -f1)
       echo "bdf=$bdf"
       echo "bound_before=$([ -e /sys/bus/pci/devices/$bdf/driver ] && echo yes || echo no)"
       echo "bar2_bytes=$(stat -c %s /sys/bus/pci/devices/$bdf/resource2)"
       modprobe nvme && wait_for "/sys/bus/pci/devices/$bdf/p2pmem/published" 20
       echo "driver_after=$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")"
       echo "published=$(cat /sys/bus/pci/devices/$bdf/p2pmem/published)"`,
      { timeoutMs: 60_000 },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    const v = kv(r.stdout);
    expect(v.bdf).toMatch(/^0000:/);
    expect(v.bound_before).toBe('no');
    expect(Number(v.bar2_bytes)).toBe(16 * MiB);
    expect(v.driver_after).toBe('nvme');
    expect(v.published).toBe('1');
  });
});

describe('boot failures are reported, not hung', () => {
  it('refuses a vfio-user device whose server socket does not exist', async () => {
    const rig = topology().rootPort('rp0', (rp) => rp.attach(vfioUser({ socket: '/nonexistent/p2pkit-dev.sock' })));
    await expect(boot(rig, { provisioned })).rejects.toThrow(/p2pkit-dev\.sock .* does not exist/);
  });

  it('surfaces QEMU errors from qemu.log when QEMU cannot start', async () => {
    const err = await boot(topology(), { provisioned, extraArgs: ['-device', 'no-such-device'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootError);
    expect(String(err)).toMatch(/QEMU exited[\s\S]*no-such-device/);
  });
});

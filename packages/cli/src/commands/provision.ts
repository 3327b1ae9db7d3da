import type { Command } from 'commander';
import { ExitCode } from '../exit.ts';
import { type MachineFlags, machineOptions, provisionOptions, provisionShown } from '../machine-options.ts';

interface ProvisionFlags extends MachineFlags {
  refresh?: boolean;
  check?: boolean;
  json?: boolean;
}

/** `p2pkit provision`: check the host, build or reuse the QEMU + kernel + guest cache, print the artefact paths. */
export function provisionCommand(program: Command): void {
  machineOptions(
    program
      .command('provision')
      .description(
        'check the host, then provision QEMU (Debian sid), the sid kernel with CONFIG_PCI_P2PDMA=y and guest tools into the cache',
      )
      .option('--refresh', "re-resolve sid's current versions even if a cache exists")
      .option('--check', 'only check the host (tools, apt mirror, disk space) and list what is missing')
      .option('--json', 'print the result (paths, versions) as JSON on stdout'),
  ).action(async (f: ProvisionFlags) => {
    const { formatPreflight, preflight, resolveCacheDir } = await import('@p2pkit/testbed');
    if (f.check) {
      const items = await preflight(resolveCacheDir(f.cache));
      const ok = items.every((i) => i.ok);
      if (f.json) process.stdout.write(`${JSON.stringify({ ok, items }, null, 2)}\n`);
      else
        process.stdout.write(
          `${formatPreflight(items)}\n${ok ? 'the host has everything provisioning needs' : 'fix the MISSING items above'}\n`,
        );
      process.exitCode = ok ? ExitCode.ok : ExitCode.environment;
      return;
    }
    const t0 = Date.now();
    // A live step list on a terminal, plain lines otherwise (CI logs).
    const p = await provisionShown({ ...provisionOptions(f), ...(f.refresh ? { refresh: true } : {}) });
    if (f.json) {
      process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
      return;
    }
    const lines = [
      `QEMU ${p.qemu.version} (${p.qemu.debVersion}): ${p.qemu.binary}`,
      `kernel ${p.kernel.abi} (${p.kernel.debVersion}): ${p.kernel.vmlinuz}`,
      `  modules: ${p.kernel.modulesDir || '(none: everything built in)'}`,
      `initramfs: ${p.guest.initramfs}`,
      `root image: ${p.guest.rootImage}`,
      `cache: ${p.cacheDir}`,
      `${p.fromCache ? 'reused the cache' : 'provisioned'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

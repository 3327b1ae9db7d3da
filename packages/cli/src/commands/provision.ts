import { provision } from '@p2pkit/testbed';
import type { Command } from 'commander';
import { provisionDisplay } from '../progress/provision-progress.ts';

/** `p2pkit provision`: build or reuse the QEMU + kernel + guest cache. */
export function provisionCommand(program: Command): void {
  program
    .command('provision')
    .description('provision QEMU (Debian sid), the sid kernel with CONFIG_PCI_P2PDMA=y and guest tools into the cache')
    .option('--cache <dir>', 'cache folder (default: $P2PKIT_CACHE or ~/.cache/p2pkit)')
    .option('--refresh', "re-resolve sid's current versions even if a cache exists")
    .action(async (opts: { cache?: string; refresh?: boolean }) => {
      const t0 = Date.now();
      // A live step list on a terminal, plain lines otherwise (CI logs).
      const display = provisionDisplay();
      const p = await provision({
        ...(opts.cache ? { cacheDir: opts.cache } : {}),
        ...(opts.refresh ? { refresh: true } : {}),
        onProgress: display.listener,
      }).finally(() => display.stop());
      console.log(`QEMU ${p.qemu.version} (${p.qemu.debVersion}), kernel ${p.kernel.abi}, cache ${p.cacheDir}`);
      console.log(`${p.fromCache ? 'reused the cache' : 'provisioned'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
}

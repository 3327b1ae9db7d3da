import type { Command } from 'commander';
import { parseSize } from '../demo/options.ts';
import { runDemo } from '../demo/run-demo.ts';

interface DemoFlags {
  size: string;
  chunk: string;
  cmb: string;
  provider: string;
  out: string;
  json?: boolean;
  keep?: boolean;
  interactive?: boolean;
}

/** `p2pkit demo`: the p2p-vs-host-memory copy in a guest, with a report (what `npm run demo` runs). */
export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description('boot a guest with TypeScript NVMe controllers, copy through p2pmem and through host memory, report bytes per link')
    .option('--size <bytes>', 'bytes copied each way (4MiB, 64MiB, 1GiB)', '64MiB')
    .option('--chunk <bytes>', 'copy chunk = p2pmem buffer size', '4MiB')
    .option('--cmb <bytes>', "the p2pmem provider's CMB size (power of two, ≥ 2 MiB)", '64MiB')
    .option('--provider <device>', "p2pmem provider: 'p2pkit' (a p2pkit NVMe CMB) or 'qemu' (QEMU's nvme CMB)", 'p2pkit')
    .option('--out <dir>', 'output folder (report.html, traces, figures.json)', 'demo-output')
    .option('--json', 'print every figure as one JSON object on stdout (progress and tables go to stderr)')
    .option('--keep', 'keep the namespace images (otherwise deleted at the end)')
    .option('--interactive', 'after the copies, open a shell in the guest until you exit it')
    .action(async (f: DemoFlags) => {
      const figures = await runDemo({
        sizeBytes: parseSize(f.size, '--size'),
        chunkBytes: parseSize(f.chunk, '--chunk'),
        cmbBytes: parseSize(f.cmb, '--cmb'),
        provider: f.provider as 'p2pkit' | 'qemu',
        outDir: f.out,
        json: f.json ?? false,
        keep: f.keep ?? false,
        interactive: f.interactive ?? false,
      });
      if (f.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
      // Exit explicitly: a raw-mode stdin from --interactive would otherwise keep the loop alive.
      process.exit(figures.p2p.verified && figures.host.verified ? 0 : 1);
    });
}

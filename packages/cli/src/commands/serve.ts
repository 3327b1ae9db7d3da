/**
 * `p2pkit serve`: p2pkit devices on one fabric in this process, one vfio-user socket each, and the
 * exact QEMU arguments that attach them to your own QEMU. Ctrl-C / SIGTERM stop it cleanly:
 * sockets removed, namespace images flushed, exit 0. docs/qemu.md explains the arguments.
 */
import type { Command } from 'commander';
import { UsageError } from '../exit.ts';
import { parseDeviceSpecs } from '../serve/device-spec.ts';
import type { ServeFlags } from '../serve/run-serve.ts';

/** Register `serve`. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('serve p2pkit devices on one fabric (one socket each) and print the QEMU arguments for them')
    .argument(
      '[devices...]',
      'nvme[:cmb=64M,pmr=4M,ns=1G,ns=/path.img:2G,doorbell=shadow,serial=S,queues=N,id=ID] | gpu[:vram=64M] | nic[:mac=…] | hello | ./module.ts[#export][:k=v,…]',
    )
    .option('--socket <path>', 'socket of the (single) device')
    .option('--dir <dir>', 'folder for sockets and namespace images (default: a new temporary folder, removed at exit)')
    .option('--topology <file>', 'a topology: .json description, or .ts exporting a topology, { topology, devices } or a scenario')
    .option('--layout <layout>', 'without --topology: switch (one switch, p2p capable), root-ports or root-bus', 'switch')
    .option('--memory <size>', 'guest RAM in the printed memory-backend argument (QEMU size syntax)', '1G')
    .option('--qemu <binary>', 'print and check this QEMU instead of provisioning one')
    .option('--cache <dir>', 'cache folder of the provisioned QEMU')
    .option('--stats [ms]', 'print per-link traffic every <ms> while it flows (default 1000)')
    .option('--json', 'print the plan as one JSON line on stdout (and --stats samples as JSON lines)')
    .addHelpText(
      'after',
      '\nExamples:\n  p2pkit serve nvme --socket /tmp/nvme.sock\n  p2pkit serve nvme:cmb=64M nvme:cmb=64M --stats\n  p2pkit serve --topology my-rig.ts',
    )
    .action(async (specs: string[], f: ServeFlags) => {
      if (f.socket && specs.length > 1) throw new UsageError('--socket names the socket of one device; with several, use --dir');
      parseDeviceSpecs(specs); // usage mistakes are reported before the device models load
      const { runServe } = await import('../serve/run-serve.ts');
      await runServe(specs, f);
    });
}

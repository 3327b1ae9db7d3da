/**
 * `p2pkit shell [scenario | device specs…]`: boot a scenario's topology with its devices served (or
 * the given devices below one switch; default two p2pkit NVMe, one with a CMB), open a shell in the
 * guest on this terminal, and shut everything down when it exits.
 */
import type { Command } from 'commander';
import { machineOptions, provisionOptions } from '../machine-options.ts';
import type { ShellFlags } from '../run/run-shell.ts';

/** Register `shell`. */
export function shellCommand(program: Command): void {
  machineOptions(
    program
      .command('shell')
      .description('boot a scenario (or devices below one switch) and open a shell in the guest; exiting it shuts everything down')
      .argument('[target...]', 'a *.scenario.ts file, or device specs as for serve (default: nvme:cmb=64M nvme)')
      .option('--out <dir>', 'output folder for the logs (default p2pkit-runs/<timestamp>)'),
  ).action(async (target: string[], f: ShellFlags) => {
    const options = provisionOptions(f);
    const { runShell } = await import('../run/run-shell.ts');
    process.exitCode = await runShell(target, options, f);
  });
}

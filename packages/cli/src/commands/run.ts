/**
 * `p2pkit run <file|folder>…`: every scenario boots once, its steps run on that boot, and a
 * pass/fail table follows (`--json` for CI). Logs, traces and dmesg stay in
 * `p2pkit-runs/<timestamp>/<scenario>/`. With `--kernel`/`--kernel-tree`/`--qemu` the scenarios run
 * on what you bring; its configuration is checked before anything boots.
 */
import type { Command } from 'commander';
import { machineOptions, provisionOptions } from '../machine-options.ts';
import type { RunFlags } from '../run/run-scenarios.ts';

/** Register `run`. */
export function runCommand(program: Command): void {
  machineOptions(
    program
      .command('run')
      .description('run scenario files (*.scenario.ts, or folders of them) in guests; print a pass/fail table')
      .argument('<paths...>', 'scenario files or folders (e.g. scenarios/)')
      .option('--json', 'print the results as one JSON object on stdout (progress goes to stderr)')
      .option('--out <dir>', 'output folder (default p2pkit-runs/<timestamp>)'),
  ).action(async (paths: string[], f: RunFlags) => {
    const options = provisionOptions(f);
    const { runScenarioCommand } = await import('../run/run-scenarios.ts');
    process.exitCode = await runScenarioCommand(paths, options, f);
  });
}

/** The p2pkit command line. */
import { Command } from 'commander';
import { provisionCommand } from './commands/provision.ts';
import { traceCommand } from './commands/trace.ts';

const program = new Command('p2pkit').description('TypeScript PCIe endpoints served to QEMU over vfio-user').showHelpAfterError();
provisionCommand(program);
traceCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`p2pkit: ${(e as Error).message}`);
  process.exit(1);
});

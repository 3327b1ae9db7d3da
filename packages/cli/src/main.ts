/** The p2pkit command line. */
import { Command } from 'commander';
import { demoCommand } from './commands/demo.ts';
import { provisionCommand } from './commands/provision.ts';
import { traceCommand } from './commands/trace.ts';

const program = new Command('p2pkit').description('TypeScript PCIe endpoints served to QEMU over vfio-user').showHelpAfterError();
provisionCommand(program);
traceCommand(program);
demoCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  // One line for the user's mistakes; the cause chain only for unexpected failures (P2PKIT_DEBUG=1: stack).
  console.error(`p2pkit: ${e instanceof Error ? e.message : String(e)}`);
  if (process.env.P2PKIT_DEBUG === '1' && e instanceof Error) console.error(e.stack);
  process.exit(1);
});

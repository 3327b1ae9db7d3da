/**
 * The p2pkit command line. A command's module (and what it imports: the testbed, device models,
 * report renderers) is loaded only when that command runs, so start-up stays well under a second;
 * `p2pkit --help` lists the commands from the table below without loading any of them.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode, reportFailure } from './exit.ts';

type Register = (program: Command) => void;

/** Every command: its one-line summary (for the top-level help) and how to load it. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Register> }> = {
  provision: {
    summary: 'check the host, provision QEMU, the kernel and guest tools into the cache; print the artefact paths',
    load: async () => (await import('./commands/provision.ts')).provisionCommand,
  },
  serve: {
    summary: 'serve p2pkit devices (nvme, gpu, nic, hello, your module) on one fabric and print the QEMU arguments for them',
    load: async () => (await import('./commands/serve.ts')).serveCommand,
  },
  run: {
    summary: 'run scenario files (a file or a folder) in guests and print a pass/fail table',
    load: async () => (await import('./commands/run.ts')).runCommand,
  },
  shell: {
    summary: 'boot a scenario (or two p2pkit NVMe on a switch) and open a shell in the guest',
    load: async () => (await import('./commands/shell.ts')).shellCommand,
  },
  demo: {
    summary: 'copy through p2pmem and through host memory in a guest; report bytes per link',
    load: async () => (await import('./commands/demo.ts')).demoCommand,
  },
  trace: {
    summary: 'render per-link traffic of a fabric trace file as tables, SVG, HTML or Perfetto',
    load: async () => (await import('./commands/trace.ts')).traceCommand,
  },
};

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('p2pkit')
    .description('TypeScript PCIe endpoints served to QEMU over vfio-user')
    .version(version, '-V, --version', 'print the p2pkit version')
    .showHelpAfterError()
    .exitOverride();
  // `p2pkit <command> …` and `p2pkit help <command>` load that command; anything else gets summaries.
  const wanted = argv[2] === 'help' ? argv[3] : argv[2];
  const entry = wanted ? COMMANDS[wanted] : undefined;
  if (entry) (await entry.load())(program);
  else
    for (const [name, c] of Object.entries(COMMANDS)) program.command(name).description(c.summary).allowUnknownOption().helpOption(false);
  for (const c of program.commands) c.exitOverride();
  await program.parseAsync(argv);
  // A command is done when its action returns: leftover handles (a raw-mode stdin) must not keep us alive.
  process.exit(process.exitCode ?? ExitCode.ok);
}

process.on('uncaughtException', (e) => process.exit(reportFailure(e)));
process.on('unhandledRejection', (e) => process.exit(reportFailure(e)));

main(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // Commander printed the message (and the help) already; --help and --version are not failures.
    const fine = e.code === 'commander.helpDisplayed' || e.code === 'commander.version';
    process.exit(fine ? ExitCode.ok : ExitCode.usage);
  }
  process.exit(reportFailure(e));
});

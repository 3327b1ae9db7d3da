/**
 * Exit codes and how a failure is told to the user: one line with the reason (and where the logs
 * are), never a stack trace for an expected failure; `P2PKIT_DEBUG=1` adds the stack. docs/cli.md
 * lists the codes.
 */

/** Process exit codes of `p2pkit`. */
export const ExitCode = {
  /** Everything passed. */
  ok: 0,
  /** A command ran and found a failure: a scenario or check failed, a copy did not verify, a file was unreadable. */
  failed: 1,
  /** The command line was wrong: unknown command or flag, bad value. */
  usage: 2,
  /** The host, kernel or QEMU is not ready: preflight items missing, kernel config options missing, QEMU unsuitable, provisioning failed. */
  environment: 3,
  /** The guest did not boot. */
  boot: 4,
  /** Interrupted (a second Ctrl-C). */
  interrupted: 130,
} as const;

/** A mistake on the command line (bad flag value, unknown device kind): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const ENVIRONMENT = new Set(['PreflightError', 'ProvisionError', 'KernelConfigError']);

/** The exit code and the one-line (or short, for lists of missing items) message for `e`. */
function describeFailure(e: unknown): { code: number; message: string } {
  if (!(e instanceof Error)) return { code: ExitCode.failed, message: String(e) };
  if (e.name === 'UsageError') return { code: ExitCode.usage, message: e.message };
  if (ENVIRONMENT.has(e.name)) return { code: ExitCode.environment, message: e.message }; // lists every missing item
  if (e.name === 'BootError') {
    // The full text quotes the QEMU and console log tails; the user gets the reason and the folder.
    const folder = /run folder: (.*)$/m.exec(e.message)?.[1];
    const reason = e.message.split('\n')[0] ?? 'the guest did not boot';
    return { code: ExitCode.boot, message: `${reason}${folder ? `\n  logs: ${folder}/qemu.log, ${folder}/console.log` : ''}` };
  }
  return { code: ExitCode.failed, message: e.message.split('\n').slice(0, 3).join('\n') };
}

/** Print `e` as `p2pkit: <reason>` on stderr (the stack too with P2PKIT_DEBUG=1) and return its exit code. */
export function reportFailure(e: unknown): number {
  const { code, message } = describeFailure(e);
  process.stderr.write(`p2pkit: ${message}\n`);
  if (process.env.P2PKIT_DEBUG === '1' && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}

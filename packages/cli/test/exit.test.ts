/** How failures reach the user: one line, the right exit code, the logs' folder for a boot failure. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExitCode, reportFailure, UsageError } from '../src/exit.ts';

const named = (name: string, message: string) => Object.assign(new Error(message), { name });

describe('reportFailure', () => {
  const written: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    written.push(String(s));
    return true;
  });
  afterEach(() => {
    written.length = 0;
  });

  it('maps failures to exit codes', () => {
    expect(reportFailure(new UsageError('--layout: bad'))).toBe(ExitCode.usage);
    expect(reportFailure(named('PreflightError', 'the host lacks …'))).toBe(ExitCode.environment);
    expect(reportFailure(named('ProvisionError', 'provisioning step "kernel-config" failed: …'))).toBe(ExitCode.environment);
    expect(reportFailure(named('BootError', 'guest did not become ready'))).toBe(ExitCode.boot);
    expect(reportFailure(new Error('something else'))).toBe(ExitCode.failed);
    spy.mockClear();
  });

  it('prints a boot failure as its reason and where the logs are, without the log tails or a stack', () => {
    const e = named(
      'BootError',
      'guest did not become ready: QEMU exited (code 1)\n--- qemu.log (tail) ---\nboom\n--- console (tail) ---\n\nrun folder: /runs/x',
    );
    reportFailure(e);
    expect(written.join('')).toBe(
      'p2pkit: guest did not become ready: QEMU exited (code 1)\n  logs: /runs/x/qemu.log, /runs/x/console.log\n',
    );
  });
});

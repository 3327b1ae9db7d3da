/**
 * Command-line conventions, through the real bin: --version, exit codes, and one-line errors (no
 * stack trace) for usage mistakes and a missing scenario folder.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'bin', 'p2pkit.js');
const p2pkit = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('p2pkit command line', () => {
  it('--version prints the package version and exits 0', () => {
    const r = p2pkit('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('lists every command in --help without loading them', { timeout: 60_000 }, () => {
    const r = p2pkit('--help');
    expect(r.status).toBe(0);
    for (const c of ['provision', 'serve', 'run', 'shell', 'demo', 'trace']) expect(r.stdout).toContain(`  ${c} `);
  });

  it('exits 2 on an unknown flag, an unknown command and a bad flag combination, without a stack trace', () => {
    const runs = [['serve', '--bogus'], ['frobnicate'], ['run', 'scenarios', '--modules', '/tmp'], ['serve', 'ssd']].map((args) => ({
      args,
      r: p2pkit(...args),
    }));
    for (const { args, r } of runs) {
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    expect(runs[2]?.r.stderr).toBe('p2pkit: --modules belongs to --kernel (a --kernel-tree installs its own modules)\n');
    expect(runs[3]?.r.stderr).toMatch(/^p2pkit: device ssd: unknown kind 'ssd'/);
  }, 120_000);

  it('exits 2 with one line when the scenario path does not exist', { timeout: 60_000 }, () => {
    const r = p2pkit('run', '/nonexistent/scenarios');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('p2pkit: no such scenario file or folder: /nonexistent/scenarios\n');
  });
});

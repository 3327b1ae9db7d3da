/**
 * `p2pkit shell` with its input piped (no terminal): it boots two p2pkit NVMe below a switch, runs
 * what is typed in the guest's shell, and shuts everything down when the input ends.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-shell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('opens a guest shell on the served devices and exits cleanly when the shell does', async () => {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'packages/cli/bin/p2pkit.js'), 'shell', 'nvme:cmb=64M,ns=256M', 'nvme:ns=256M', '--out', dir],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  child.stdin.end('echo "published=$(cat $(p2pmem_dir NVME0)/published) ns=$(nvme_ns_by_serial NVME1)"\nexit\n');
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  expect(code, `${stdout}\n${stderr}`).toBe(0);
  expect(stdout).toMatch(/published=1 ns=\/dev\/nvme\dn1/);
  expect(stderr).toMatch(/\[shell\] stopped; logs in (.*)/);
  const logs = /logs in (.*)/.exec(stderr)?.[1] ?? '';
  expect(existsSync(join(logs, 'dmesg.txt'))).toBe(true);
  expect(existsSync(join(logs, 'guest', 'console.log'))).toBe(true);
});

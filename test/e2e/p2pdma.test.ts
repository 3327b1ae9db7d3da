/**
 * The built-in p2pdma scenario set (scenarios/), run the way a kernel developer runs it: `p2pkit run
 * scenarios/` with the kernel handed over as `--kernel <vmlinuz> --modules <dir>` — the provisioned
 * sid kernel, as a user's own build would be (its own root image and initramfs are built from those
 * modules) — must pass every scenario; and Debian bookworm's stock kernel, which has no
 * CONFIG_PCI_P2PDMA, is refused before anything boots, naming the option. (The set runs once, here,
 * through the CLI and the scenario runner; a failure lists every failed scenario, step and check.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchDebianKernel, formatScenarioTable, provision, type ScenarioResult } from '@p2pkit/testbed';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'packages/cli/bin/p2pkit.js');
const dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI to completion; stdout, stderr and the exit code. */
function p2pkit(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      process.stderr.write(b); // progress, live
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('p2pdma scenarios: p2pkit run scenarios/ with your kernel', () => {
  it('passes scenarios/ with the provisioned kernel given as --kernel and --modules', async () => {
    const p = await provision();
    const out = join(dir, 'sid');
    const r = await p2pkit(['run', 'scenarios', '--kernel', p.kernel.vmlinuz, '--modules', p.kernel.modulesDir, '--out', out, '--json']);
    const report = JSON.parse(r.stdout) as { ok: boolean; kernel: { image: string; rootImage: string }; results: ScenarioResult[] };
    expect(formatScenarioTable(report.results)).toContain(`${report.results.length}/${report.results.length} scenarios passed`);
    expect(r.code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.kernel.image).toBe(p.kernel.vmlinuz);
    expect(report.kernel.rootImage).toContain('/custom-kernel/'); // its own image, with the modules given
    expect(report.results.map((x) => x.name).sort()).toEqual([
      'AMD Zen: p2p through the host bridge',
      'FLR and unbind during p2p I/O',
      'PMR contents across a restart',
      'p2pkit NVMe peer-to-peer',
      'p2pmem below a switch',
      'root bus: p2p refused',
    ]);
    for (const x of report.results) expect(existsSync(join(x.outDir, 'dmesg.txt'))).toBe(true);
  });

  it("stops before booting with Debian bookworm's stock kernel, naming CONFIG_PCI_P2PDMA", async () => {
    const k = await fetchDebianKernel('bookworm'); // into the cache, with a private apt state
    const out = join(dir, 'bookworm');
    const r = await p2pkit(['run', 'scenarios', '--kernel', k.image, '--modules', k.modules, '--out', out]);
    console.info(`[bookworm ${k.release}] exit ${r.code}; stderr:\n${r.stderr}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('CONFIG_PCI_P2PDMA is not set (need =y: p2pmem');
    expect(r.stderr).toContain(`config-${k.release}`);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(existsSync(out)).toBe(false); // no scenario started
  });
});

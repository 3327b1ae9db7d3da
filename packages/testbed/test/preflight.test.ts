/**
 * Host preflight with tools missing, simulated through PATH: every missing item is listed at once,
 * each with its fix, and nothing is downloaded (apt-get is not on PATH, so no mirror is contacted).
 */
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatPreflight, PreflightError, preflight } from '../src/provision/preflight.ts';

/** A PATH folder holding only the named host tools (symlinks to the real ones). */
function pathWith(...tools: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-path-'));
  for (const t of tools) symlinkSync(`/usr/bin/${t}`, join(dir, t));
  return dir;
}

describe('host preflight', () => {
  it('lists every missing tool with its fix, in one report', async () => {
    const t0 = performance.now();
    const items = await preflight(tmpdir(), { env: { ...process.env, PATH: pathWith('perl', 'xz') } });
    const ms = performance.now() - t0;
    const text = formatPreflight(items);
    console.info(`[preflight] PATH with only perl and xz (${ms.toFixed(0)} ms):\n${text}`);
    const missing = items.filter((i) => !i.ok).map((i) => i.name);
    expect(missing).toEqual(['apt with a Debian mirror', 'gcc + libc6-dev (gcc -static)', 'mke2fs (e2fsprogs)', 'dpkg-deb']);
    expect(items.find((i) => i.name === 'perl')?.ok).toBe(true);
    expect(items.find((i) => i.name === 'xz')?.ok).toBe(true);
    expect(text).toMatch(/MISSING {2}gcc \+ libc6-dev \(gcc -static\): gcc not found on PATH\n {11}fix: apt-get install gcc libc6-dev/);
    expect(text).toMatch(/MISSING {2}dpkg-deb: dpkg-deb not found on PATH\n {11}fix: apt-get install dpkg/);
    expect(text).toMatch(/MISSING {2}apt with a Debian mirror: .*\n {11}fix: a Debian bookworm host/);
    expect(new PreflightError(items).message).toMatch(/^the host lacks what provisioning needs:\n(?:.*\n)*.*fix: apt-get install dpkg/);
  });

  it('passes on this host when everything is on PATH, except a disk too small for the cache', async () => {
    const items = await preflight(tmpdir(), { checkMirror: false, minFreeBytes: 2 ** 60 });
    const disk = items.find((i) => i.name.startsWith('free disk'));
    expect(disk?.ok).toBe(false);
    expect(disk?.fix).toMatch(/P2PKIT_CACHE/);
    if (process.getuid?.() !== 0) return; // the root check fails for other users by design
    expect(
      items.filter((i) => !i.ok && i !== disk),
      formatPreflight(items),
    ).toEqual([]);
  }, 60_000);
});

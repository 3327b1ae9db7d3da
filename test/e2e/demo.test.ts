/**
 * `p2pkit demo` end to end, small: the same runner as `npm run demo` (8 MiB instead of 64 MiB),
 * checked on the figures it returns and the files it leaves (report, traces, Perfetto exports).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '@p2pkit/cli';
import { readTrace } from '@p2pkit/fabric';
import { afterAll, expect, it } from 'vitest';

const out = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-demo-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('copies through p2pmem and through host memory, verifies both, and writes the report', async () => {
  const f = await runDemo({ sizeBytes: 8 << 20, chunkBytes: 1 << 20, cmbBytes: 16 << 20, outDir: out, json: true });
  expect(f.p2p.verified && f.host.verified).toBe(true);
  expect(f.p2p.bytes).toBe(8 << 20);
  expect(f.p2p.upstreamShare).toBeLessThan(0.001); // completions and doorbells only
  expect(f.host.upstreamShare).toBeGreaterThanOrEqual(2); // in and out of host memory
  expect(f.p2p.links.find((l) => l.link === 'dn0')?.downstreamBytes).toBe(8 << 20); // into A's CMB
  expect(f.versions.qemu).toMatch(/^\d+\.\d+/);
  expect(readFileSync(f.files.report, 'utf8')).toContain('where the bytes went');
  expect((await readTrace(f.p2p.trace)).records.length).toBeGreaterThan(0);
  expect(JSON.parse(readFileSync(f.host.perfetto, 'utf8')).traceEvents.length).toBeGreaterThan(0);
  expect(f.files.images.every((p) => !existsSync(p))).toBe(true); // deleted without --keep
});

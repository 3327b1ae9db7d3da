import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fabric, topology } from '@p2pkit/fabric';
import { type DmaSpace } from '@p2pkit/base';
import { afterEach, expect, it } from 'vitest';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ram = new Uint8Array(1 << 20);
const base: DmaSpace = {
  read: async (a, n) => ram.slice(Number(a), Number(a) + n),
  write: async (a, d) => ram.set(d, Number(a)),
  directView: () => undefined,
};

it('p2pkit trace renders the per-link totals of a recorded trace, and an SVG chart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-cli-'));
  dirs.push(dir);
  const fabric = new Fabric(topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('a'))).build());
  fabric.registerEndpoint('a');
  const file = join(dir, 't.p2pt');
  const writer = fabric.startTrace(file);
  await fabric.dmaSpaceFor('a', base).write(0x1000n, new Uint8Array(8192));
  await writer.close();
  const svg = join(dir, 'links.svg');
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'p2pkit.js'), 'trace', file, '--svg', svg], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^\d+ transactions/);
  expect(r.stdout).toMatch(/rp0/);
  expect(r.stdout).toMatch(/8[,.]?192|8\.0 KiB|8 KiB/);
  expect(readFileSync(svg, 'utf8')).toMatch(/^<svg/);
});

it('p2pkit trace fails with a clear message on a file that is not a trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-cli-'));
  dirs.push(dir);
  const bogus = join(dir, 'bogus');
  writeFileSync(bogus, 'hello');
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'p2pkit.js'), 'trace', bogus], { encoding: 'utf8' });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/p2pkit: /);
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DmaSpace } from '@p2pkit/base';
import { Fabric, type PerfettoTrace, topology } from '@p2pkit/fabric';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'bin', 'p2pkit.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'p2pkit-cli-'));
  dirs.push(d);
  return d;
}
/** Runs the CLI (tsx start-up takes seconds on a loaded machine, so tests run concurrently with room). */
const p2pkit = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
const SLOW = { timeout: 120_000, concurrent: true };

const ram = new Uint8Array(1 << 20);
const base: DmaSpace = {
  read: async (a, n) => ram.slice(Number(a), Number(a) + n),
  write: async (a, d) => ram.set(d, Number(a)),
  directView: () => undefined,
};

/** A real trace: one endpoint writing and reading host memory below a switch. */
async function recordTrace(dir: string): Promise<string> {
  const fabric = new Fabric(
    topology()
      .rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('a')))
      .build(),
  );
  fabric.registerEndpoint('a');
  const file = join(dir, 't.p2pt');
  const writer = fabric.startTrace(file);
  const dma = fabric.dmaSpaceFor('a', base);
  for (let i = 0; i < 20; i++) {
    await dma.write(0x1000n, new Uint8Array(8192));
    await dma.read(0x4000n, 4096);
    await new Promise((r) => setTimeout(r, 2));
  }
  await writer.close();
  return file;
}

describe('p2pkit trace', SLOW, () => {
  it('p2pkit trace renders the per-link totals of a recorded trace, an SVG chart and an HTML page with the tables', async () => {
    const dir = tmp();
    const file = await recordTrace(dir);
    const svg = join(dir, 'links.svg');
    const html = join(dir, 'links.html');
    const r = await p2pkit('trace', file, '--svg', svg, '--html', html);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^40 transactions/);
    expect(r.stdout).toMatch(/rp0/);
    expect(r.stdout).toMatch(/160\.0 KiB/);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg/);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<table>');
    expect(page).toContain('<th>endpoint</th>');
    expect(page).toContain('class="bw-chart"');
    expect(page).toMatch(/uPlot/); // the chart library is inlined
    expect(page).not.toMatch(/<script[^>]+src=/); // nothing loaded from elsewhere
  });

  it('p2pkit trace --from/--to keeps the records in the window', async () => {
    const dir = tmp();
    const file = await recordTrace(dir);
    const all = await p2pkit('trace', file, '--to', '10s');
    expect(all.stdout).toMatch(/^40 transactions in 0 µs – 10\.00 s/);
    const none = await p2pkit('trace', file, '--from', '9s');
    expect(none.stdout).toMatch(/^0 transactions/);
    const bad = await p2pkit('trace', file, '--from', 'soon');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("p2pkit: --from: cannot read 'soon' as a time (milliseconds, or with a unit: 500us, 20ms, 1.5s)\n");
  });

  it('p2pkit trace --perfetto writes trace-event JSON: a track per link direction, ordered complete events, counters', async () => {
    const dir = tmp();
    const file = await recordTrace(dir);
    const out = join(dir, 'perfetto.json');
    const r = await p2pkit('trace', file, '--perfetto', out);
    expect(r.status).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8')) as PerfettoTrace;
    const tracks = json.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name);
    expect(tracks).toEqual(['rp0 → sw0 ↑ upstream', 'rp0 → sw0 ↓ downstream', 'dn0 → a ↑ upstream', 'dn0 → a ↓ downstream']);
    const complete = json.traceEvents.filter((e) => e.ph === 'X');
    expect(complete.length).toBe(20 * 2 + 20 * 4); // a write crosses dn0 ↑ rp0 ↑; a read also comes back rp0 ↓ dn0 ↓
    const ts = json.traceEvents.filter((e) => e.ts !== undefined).map((e) => e.ts as number);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    for (const tid of new Set(complete.map((e) => e.tid))) {
      const onTrack = complete.filter((e) => e.tid === tid);
      onTrack.forEach((e, i) => {
        const next = onTrack[i + 1];
        if (next) expect((e.ts as number) + (e.dur as number)).toBeLessThanOrEqual(next.ts as number); // no overlap
      });
    }
    expect(complete.find((e) => e.name.startsWith('write'))?.args?.bytes).toBe(8192);
    expect(json.traceEvents.filter((e) => e.ph === 'C').length).toBeGreaterThan(0);
  });
});

describe('p2pkit trace on bad input: one line naming the file, exit 1, input untouched', SLOW, () => {
  const cases: [string, (dir: string, good: Buffer) => string, RegExp, string[]?][] = [
    ['missing', (d) => join(d, 'nope.p2pt'), /: no such file$/],
    ['empty', (d) => write(join(d, 'empty.p2pt'), Buffer.alloc(0)), /: empty file \(0 bytes\), not a trace$/],
    [
      'truncated',
      (d, g) => write(join(d, 'cut.p2pt'), g.subarray(0, g.length - 7)),
      /: truncated: the last record is incomplete \(\d+ bytes\); --allow-truncated reads the 39 complete records$/,
    ],
    [
      'truncated header',
      (d, g) => write(join(d, 'head.p2pt'), g.subarray(0, 30)),
      /: truncated: the header needs \d+ bytes, the file has 30$/,
    ],
    ['corrupt', (d, g) => write(join(d, 'corrupt.p2pt'), corrupt(g)), /: corrupt: record 1 at byte \d+ claims \d+ bytes$/],
    [
      'non-trace',
      (d) => write(join(d, 'notes.txt'), Buffer.from('these are my notes, not a trace\n')),
      /: not a p2pkit trace \(no 'p2pkit-trace' header\)$/,
    ],
    [
      'html == input',
      (d, g) => write(join(d, 'same.p2pt'), g),
      /^p2pkit: refusing to write --html .*same\.p2pt: it is the input trace .*same\.p2pt/,
      ['--html', '@input'],
    ],
    [
      'html == input via ./ and a symlink',
      (d, g) => link(d, write(join(d, 'real.p2pt'), g)),
      /^p2pkit: refusing to write --html /,
      ['--html', '@real'],
    ],
    ['perfetto == input', (d, g) => write(join(d, 'p.p2pt'), g), /^p2pkit: refusing to write --perfetto /, ['--perfetto', '@input']],
  ];
  for (const [name, make, message, extra] of cases) {
    it(name, async () => {
      const dir = tmp();
      const good = readFileSync(await recordTrace(dir));
      const input = make(dir, good);
      const before = (() => {
        try {
          return readFileSync(input);
        } catch {
          return undefined;
        }
      })();
      const args = (extra ?? []).map((a) => (a === '@input' ? input : a === '@real' ? join(dir, '.', 'real.p2pt') : a));
      const r = await p2pkit('trace', input, ...args);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1); // one line, no stack trace
      expect(r.stderr).toContain(input.replace(/.*\//, ''));
      expect(r.stderr.trimEnd()).toMatch(message);
      if (before) expect(readFileSync(input).equals(before)).toBe(true);
    });
  }
});

function write(path: string, bytes: Buffer): string {
  writeFileSync(path, bytes);
  return path;
}
function link(dir: string, target: string): string {
  const l = join(dir, 'link.p2pt');
  symlinkSync(target, l);
  return l;
}
function corrupt(good: Buffer): Buffer {
  const b = Buffer.from(good);
  b.writeUInt32LE(0xfffffff0, 4 + b.readUInt32LE(0));
  return b;
}

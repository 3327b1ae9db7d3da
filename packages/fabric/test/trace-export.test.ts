import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  readTrace,
  renderTopologySvg,
  sliceTrace,
  Topology,
  TraceFileError,
  traceTimeline,
  traceToPerfetto,
  traceTotals,
} from '../src/index.ts';
import { A_BAR, B_BAR, FakeBaseDma, switchRig } from './helpers.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'p2pkit-trace-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function recorded(): Promise<{ file: string; rig: ReturnType<typeof switchRig> }> {
  const rig = switchRig();
  const file = join(await tmp(), 't.p2pt');
  const w = rig.fabric.startTrace(file);
  const dma = rig.fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(1 << 20)));
  await dma.write(0x1000n, new Uint8Array(10000));
  await dma.copy(A_BAR, B_BAR, 1 << 16);
  await dma.read(0x2000n, 4096);
  await w.close();
  return { file, rig };
}

describe('trace reader errors', () => {
  const problem = async (file: string) => {
    const e = await readTrace(file).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TraceFileError);
    expect((e as Error).message.startsWith(`${file}: `)).toBe(true);
    expect((e as Error).message).not.toContain('\n');
    return (e as TraceFileError).problem;
  };
  it('names the file and the problem', async () => {
    const d = await tmp();
    expect(await problem(join(d, 'missing.p2pt'))).toBe('no such file');
    await writeFile(join(d, 'empty'), '');
    expect(await problem(join(d, 'empty'))).toMatch(/empty/);
    await writeFile(join(d, 'text'), 'hello world, not a trace at all');
    expect(await problem(join(d, 'text'))).toMatch(/not a p2pkit trace/);
    expect(await problem(d)).toMatch(/directory/);
    const { file } = await recorded();
    const bytes = await readFile(file);
    await writeFile(join(d, 'head'), bytes.subarray(0, 40));
    expect(await problem(join(d, 'head'))).toMatch(/truncated: the header/);
    const corrupt = Buffer.from(bytes);
    const headerEnd = 4 + corrupt.readUInt32LE(0);
    corrupt.writeUInt32LE(0xfffffff0, headerEnd);
    await writeFile(join(d, 'corrupt'), corrupt);
    expect(await problem(join(d, 'corrupt'))).toMatch(/^corrupt: record 1 at byte \d+ claims/);
  });
});

describe('trace exports', () => {
  it('buckets payload bytes per link direction over time, matching the totals', async () => {
    const { file } = await recorded();
    const trace = await readTrace(file);
    const tl = traceTimeline(trace, { buckets: 10 });
    expect(tl.timesMs).toHaveLength(10);
    const totals = traceTotals(trace);
    for (const l of totals.links) {
      expect(tl.series.find((s) => s.link === l.link && s.direction === 'upstream')?.total).toBe(l.upstream.bytes);
      expect(tl.series.find((s) => s.link === l.link && s.direction === 'downstream')?.total).toBe(l.downstream.bytes);
    }
    expect(sliceTrace(trace, { toNs: 0 }).records).toHaveLength(0);
    expect(sliceTrace(trace, { fromNs: 0 }).records).toHaveLength(trace.records.length);
    expect(() => sliceTrace(trace, { fromNs: 5, toNs: 5 })).toThrow(/empty time window/);
  });

  it('exports Perfetto trace events: a track per link direction, ordered complete events, counters', async () => {
    const { file } = await recorded();
    const trace = await readTrace(file);
    const json = JSON.parse(JSON.stringify(traceToPerfetto(trace))) as ReturnType<typeof traceToPerfetto>;
    const names = json.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args?.name);
    expect(names).toContain('rp0 → sw0 ↑ upstream');
    expect(names).toHaveLength(2 * new Topology(trace.header.topology).links().length); // one track per link direction
    const complete = json.traceEvents.filter((e) => e.ph === 'X');
    expect(complete.length).toBeGreaterThan(0);
    const byTid = new Map<number, number[]>();
    for (const e of complete) byTid.set(e.tid as number, [...(byTid.get(e.tid as number) ?? []), e.ts as number]);
    for (const ts of byTid.values()) expect(ts).toEqual([...ts].sort((a, b) => a - b));
    for (const e of complete) expect(e.dur).toBeGreaterThanOrEqual(0);
    expect(json.traceEvents.some((e) => e.ph === 'C' && typeof e.args?.['MB/s'] === 'number')).toBe(true);
  });

  it('draws the topology with every node and a byte label per link', async () => {
    const { rig } = await recorded();
    const svg = renderTopologySvg(rig.fabric.topology, rig.fabric.snapshot().links, { title: 't' });
    for (const id of ['rp0', 'sw0', 'dn0', 'dn1', 'a', 'b']) expect(svg).toContain(`data-node="${id}"`);
    expect(svg).toMatch(/class="link" data-link="dn0" data-bytes="[1-9]/);
    expect(svg).toContain('root complex');
  });
});

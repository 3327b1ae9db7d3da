import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  readTrace,
  renderEndpointTable,
  renderLinkChartHtml,
  renderLinkChartSvg,
  renderLinkTable,
  type StatsSample,
  type TransactionEvent,
  traceTotals,
} from '../src/index.ts';
import { readTraceRecords } from '../src/internal.ts';
import { A_BAR, B_BAR, C_BAR, D_BAR, FakeBaseDma, switchRig } from './helpers.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'p2pkit-fabric-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function traffic(fabric: ReturnType<typeof switchRig>['fabric']): Promise<void> {
  const remote = new Map([[D_BAR, new Uint8Array(1 << 20)]]);
  const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(1 << 20), remote));
  await dma.write(0x1000n, new Uint8Array(10000));
  await dma.read(0x2000n, 4097);
  await dma.copy(A_BAR, B_BAR, 1 << 20);
  await dma.write(D_BAR + 3n, new Uint8Array(1000));
  await dma.read([
    { address: B_BAR - 64n, length: 128 },
    { address: 0x10n, length: 64 },
  ]);
  dma.directView(0x4000n, 512, true);
  await dma.read(C_BAR + 0x40000n, 4).catch(() => undefined);
  const dmaB = fabric.dmaSpaceFor('b', new FakeBaseDma(new Uint8Array(1 << 16)));
  await dmaB.read(A_BAR, 300);
}

describe('observability', () => {
  it('emits one transaction event per routed piece, refused ones included', async () => {
    const { fabric } = switchRig();
    const events: TransactionEvent[] = [];
    const sub = fabric.transactions$.subscribe((e) => events.push(e));
    await traffic(fabric);
    sub.unsubscribe();
    expect(events.map((e) => e.kind)).toContain('unmapped');
    expect(events.find((e) => e.via === 'view' && e.kind === 'guest-ram')).toBeDefined();
    const p2p = events.find((e) => e.kind === 'peer-local' && e.requester === 'a' && e.target?.endpoint === 'b');
    expect(p2p?.links.map((l) => l.link)).toEqual(['dn0', 'dn1']);
    expect(events.every((e, i) => i === 0 || e.seq > (events[i - 1] as TransactionEvent).seq)).toBe(true);
    expect(events.every((e, i) => i === 0 || e.timeNs >= (events[i - 1] as TransactionEvent).timeNs)).toBe(true);
  });

  it('stats$ samples live counters (first sample on subscribe, last state after traffic)', async () => {
    const { fabric } = switchRig();
    const samplesP = firstValueFrom(fabric.stats$(20).pipe(take(2), toArray()));
    await traffic(fabric);
    const samples: StatsSample[] = await samplesP;
    const last = samples[samples.length - 1] as StatsSample;
    expect(samples[0]?.transactions).toBe(0);
    expect(last.transactions).toBe(fabric.snapshot().transactions);
    expect(last.links.find((l) => l.link === 'dn0')?.upstream.bytes).toBe(fabric.link('dn0').upstream.bytes);
    expect(last.rates.find((r) => r.link === 'dn0')?.upstreamBytesPerSecond).toBeGreaterThan(0);
  });

  it('trace round trip: re-computed totals equal the live counters', async () => {
    const { fabric } = switchRig();
    const file = join(await tmp(), 'trace.p2pt');
    const writer = fabric.startTrace(file);
    await traffic(fabric);
    await writer.close();
    await fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(64))).read(0n, 8); // after close: not traced
    const trace = await readTrace(file);
    expect(trace.header.topology.rootPorts.map((r) => r.id)).toEqual(['rp0', 'rp1']);
    expect(trace.records.length).toBe(writer.records);
    expect(trace.truncatedBytes).toBe(0);
    const first = trace.records[0];
    expect(typeof first?.a).toBe('bigint');
    const totals = traceTotals(trace);
    fabric.counters.reset();
    await traffic(fabric);
    expect(totals.links).toEqual(fabric.snapshot().links);
    expect(totals.endpoints).toEqual(fabric.snapshot().endpoints);
    expect(totals.transactions).toBe(fabric.snapshot().transactions);

    // A truncated tail (crash mid-write) is ignored, earlier records survive.
    const bytes = await readFile(file);
    const cut = join(await tmp(), 'cut.p2pt');
    await writeFile(cut, bytes.subarray(0, bytes.length - 5));
    const partial = await readTrace(cut);
    expect(partial.records.length).toBe(trace.records.length - 1);
    expect(partial.truncatedBytes).toBeGreaterThan(0);
    let n = 0;
    for await (const _ of readTraceRecords(file)) n++;
    expect(n).toBe(trace.records.length + 1);
  });

  it('renders per-link totals as a table, an SVG and an HTML page', async () => {
    const { fabric } = switchRig();
    await traffic(fabric);
    const snap = fabric.snapshot();
    const text = renderLinkTable(snap.links, fabric.topology);
    expect(text).toMatch(/rp0 → sw0 \*/);
    expect(text).toMatch(/Gen4 x16/);
    expect(text.split('\n')[0]).toMatch(/^link\s+trained\s+up bytes/);
    expect(renderEndpointTable(snap.endpoints)).toMatch(/^endpoint/);
    const svg = renderLinkChartSvg(snap.links, { topology: fabric.topology, title: 'a <test>' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &#60;test&#62;');
    expect(svg.match(/<rect /g)?.length).toBe(snap.links.length * 2 + 2);
    expect(renderLinkChartHtml(snap.links)).toMatch(/^<!doctype html>[\s\S]*<svg[\s\S]*<\/html>/);
  });
});

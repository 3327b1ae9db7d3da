/**
 * The demo report and the trace page in a real browser: Debian's headless Chromium, provisioned
 * into p2pkit's cache (no network needed after the first run), driven by playwright-core. Rendered
 * from a recorded demo run (test/fixtures/demo-run: figures.json and both traces), so no guest is
 * booted. Screenshots land in test-artifacts/report-browser/ (gitignored).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace, traceTimeline, traceToPerfetto, traceTotals } from '@p2pkit/fabric';
import { type ChromiumInstall, provisionChromium } from '@p2pkit/testbed';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoFigures } from '../src/demo/figures.ts';
import { renderDemoReport } from '../src/report/demo-report.ts';
import { renderTraceReport } from '../src/report/trace-report.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'demo-run');
const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'test-artifacts', 'report-browser');
const COLD_MS = 300_000; // cold provisioning downloads ~170 MiB (about 1–3 min); cached afterwards

let browser: Browser;
let install: ChromiumInstall;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // No skip: a browser that cannot be provisioned fails the suite with provisioning's reason.
  install = await provisionChromium();
  browser = await chromium.launch({ executablePath: install.executable, args: ['--no-sandbox'] });
}, COLD_MS);

afterAll(async () => {
  await browser?.close();
});

/** Opens `html` (written to the artefacts folder) and collects console errors and page errors. */
async function open(name: string, html: string): Promise<{ page: Page; errors: string[] }> {
  const file = join(ARTIFACTS, name);
  writeFileSync(file, html);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(`file://${file}`);
  // A string, evaluated in the page (this project's TypeScript has no DOM types).
  await page.waitForFunction("[...document.querySelectorAll('.bw-chart')].every((el) => el.hasAttribute('data-drawn'))", undefined, {
    timeout: 10_000,
  });
  return { page, errors };
}

async function fixture() {
  const figures = JSON.parse(readFileSync(join(FIXTURE, 'figures.json'), 'utf8')) as DemoFigures;
  const p2p = await readTrace(join(FIXTURE, 'p2p-copy.p2pt'));
  const host = await readTrace(join(FIXTURE, 'host-copy.p2pt'));
  return { figures, p2p, host };
}

describe('reports in headless Chromium', () => {
  it('the demo report shows the topology, the headline share, both copies and drawn charts, without errors', async () => {
    const { figures, p2p, host } = await fixture();
    const html = renderDemoReport({
      figures,
      topology: p2p.header.topology,
      timelines: { p2p: traceTimeline(p2p, { buckets: 60 }), host: traceTimeline(host, { buckets: 60 }) },
    });
    const { page, errors } = await open('report.html', html);
    for (const node of ['rp0', 'sw0', 'dn0', 'dn1', 'nvmeA', 'nvmeB']) {
      expect(await page.locator(`[data-copy="p2p"] .node[data-node="${node}"]`).count(), node).toBe(1);
      expect(await page.locator(`[data-copy="host"] .node[data-node="${node}"]`).count(), node).toBe(1);
    }
    expect(await page.locator('.node', { hasText: 'root complex' }).count()).toBe(2);
    const headline = await page.locator('#headline .big').first().innerText();
    expect(headline).toBe(`${(figures.p2p.upstreamShare * 100).toPrecision(2)} %`);
    expect(await page.locator('#headline').innerText()).toMatch(/switch upstream port \(rp0\)/);
    expect(await page.locator('[data-copy="p2p"] h2').innerText()).toBe('Peer-to-peer copy');
    expect(await page.locator('[data-copy="host"] h2').innerText()).toBe('Host-memory copy');
    // Both copies side by side: the panels share a row.
    const [a, b] = [await page.locator('[data-copy="p2p"]').boundingBox(), await page.locator('[data-copy="host"]').boundingBox()];
    expect(a && b && Math.abs(a.y - b.y) < 2 && b.x > a.x + a.width - 1).toBe(true);
    // The busiest p2p link is drawn thicker than the idle-ish upstream link.
    const width = (copy: string, link: string) =>
      page.locator(`[data-copy="${copy}"] line.link[data-link="${link}"]`).getAttribute('stroke-width');
    expect(Number(await width('p2p', 'dn0'))).toBeGreaterThan(Number(await width('p2p', 'rp0')));
    expect(Number(await width('host', 'rp0'))).toBeGreaterThan(Number(await width('p2p', 'rp0')));
    // Charts: uPlot canvases of real size with something painted on them.
    type Canvas = {
      width: number;
      height: number;
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
    };
    const canvases = await page.locator('.bw-chart canvas').evaluateAll((els) =>
      (els as unknown as Canvas[]).map((c) => {
        const px = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
        let painted = 0;
        for (let i = 3; i < px.length; i += 4) if ((px[i] as number) > 0) painted++;
        return { w: c.width, h: c.height, painted };
      }),
    );
    expect(canvases).toHaveLength(2);
    for (const c of canvases) {
      expect(c.w).toBeGreaterThan(200);
      expect(c.h).toBeGreaterThan(100);
      expect(c.painted).toBeGreaterThan(500);
    }
    expect(await page.locator('#legend').innerText()).toMatch(/MB\/s = 10⁶ bytes\/s/);
    expect(await page.locator('.cards').innerText()).toContain(figures.versions.qemu);
    expect(await page.locator('.cards').innerText()).toContain(figures.versions.kernel);
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('the trace page shows the tables and the chart; the Perfetto export validates in the page', async () => {
    const { p2p } = await fixture();
    const html = renderTraceReport({
      file: 'p2p-copy.p2pt',
      header: p2p.header,
      records: p2p.records.length,
      totals: traceTotals(p2p),
      timeline: traceTimeline(p2p),
    });
    const { page, errors } = await open('trace.html', html);
    const tables = page.locator('table:not(.u-legend)'); // uPlot's legend is a table too
    expect(await tables.count()).toBe(2);
    expect(await tables.first().innerText()).toMatch(/rp0 → sw0/);
    expect(await tables.nth(1).innerText()).toMatch(/nvmeB/);
    expect(await page.locator('.bw-chart').getAttribute('data-drawn')).not.toBe('0');
    const perfetto = JSON.stringify(traceToPerfetto(p2p));
    writeFileSync(join(ARTIFACTS, 'p2p-copy.perfetto.json'), perfetto);
    const check = await page.evaluate((text) => {
      const t = JSON.parse(text) as {
        traceEvents: { ph: string; name: string; ts?: number; dur?: number; tid?: number; args?: Record<string, unknown> }[];
      };
      const tracks = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').length;
      const complete = t.traceEvents.filter((e) => e.ph === 'X');
      const ordered = complete.every((e, i) => i === 0 || (e.ts as number) >= (complete[i - 1]?.ts as number));
      const valid = complete.every(
        (e) => typeof e.ts === 'number' && typeof e.dur === 'number' && (e.dur as number) >= 0 && typeof e.tid === 'number',
      );
      return { tracks, complete: complete.length, ordered, valid, counters: t.traceEvents.filter((e) => e.ph === 'C').length };
    }, perfetto);
    expect(check).toMatchObject({ tracks: 6, ordered: true, valid: true });
    expect(check.complete).toBeGreaterThan(1000);
    expect(check.counters).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'trace.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});

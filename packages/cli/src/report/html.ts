/** The page around every p2pkit report: styles, the inlined chart library, tables. */
import { CHART_INIT, uplotAssets } from './assets.ts';

/** Escapes text for HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A table; `numeric` columns are right-aligned. Cells are text (escaped here). */
export function htmlTable(head: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number> = new Set()): string {
  const cell = (tag: string, c: string, i: number) => `<${tag}${numeric.has(i) ? ' class="num"' : ''}>${esc(c)}</${tag}>`;
  return `<table><thead><tr>${head.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const CSS = `
:root { --ink: #1d2430; --muted: #5b6573; --line: #dde3ea; --p2p: #1f7a4d; --host: #b4451f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: #fafbfc; }
main { max-width: 1400px; margin: 0 auto; padding: 20px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0 0 8px; } h3 { font-size: 14px; margin: 14px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.headline { display: flex; gap: 28px; align-items: center; background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 22px; margin-bottom: 16px; }
.headline .big { font-size: 44px; font-weight: 700; color: var(--p2p); white-space: nowrap; }
.headline .big.host { color: var(--host); font-size: 30px; }
.headline p { margin: 2px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; margin-bottom: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 17px; font-weight: 600; }
.ok { color: var(--p2p); } .bad { color: #c0262d; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 1000px) { .pair { grid-template-columns: 1fr; } }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; overflow-x: auto; }
.panel.p2p { border-top: 4px solid var(--p2p); } .panel.host { border-top: 4px solid var(--host); }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: #f2f4f7; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { color: var(--muted); font-size: 13px; } .legend .ramp { display: inline-block; width: 160px; height: 10px; vertical-align: middle; border-radius: 3px; }
code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
.bw-chart { min-height: 260px; }
.row { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: flex-start; }
`;

/** A complete, self-contained HTML document (uPlot and its CSS inlined; charts drawn on load). */
export function page(title: string, body: string): string {
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
<style>${CSS}</style>
</head>
<body><main>
${body}
</main>
<script>${js.replaceAll('</script', '<\\/script')}</script>
<script>${CHART_INIT}</script>
</body></html>
`;
}

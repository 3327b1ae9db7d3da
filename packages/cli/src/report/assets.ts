/**
 * The charting library inlined into every report: uPlot's IIFE build and stylesheet, read from
 * node_modules when a report is rendered, so a report opens anywhere without a network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let cached: { js: string; css: string } | undefined;

/** uPlot's minified script and CSS (read once per process). */
export function uplotAssets(): { js: string; css: string } {
  cached ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return cached;
}

/**
 * Draws every `.bw-chart` element from the JSON in its `data-chart` attribute
 * (`{ x: ms[], series: [{ label, color, dash, values: MB/s[] }], yMax }`) with uPlot.
 */
export const CHART_INIT = `
(function () {
  var steps = uPlot.paths.stepped({ align: 1 });
  function draw(el) {
    var d = JSON.parse(el.getAttribute('data-chart'));
    var width = Math.max(320, el.clientWidth || 560);
    var series = [{ label: 'time (ms)', value: function (u, v) { return v == null ? '' : v.toFixed(2) + ' ms'; } }];
    var data = [d.x];
    d.series.forEach(function (s) {
      series.push({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash ? [6, 4] : undefined, points: { show: false },
        paths: steps, // one value per bucket: steps, not a line between samples
        value: function (u, v) { return v == null ? '' : v.toFixed(1) + ' MB/s'; } });
      data.push(s.values);
    });
    new uPlot({
      width: width, height: 240, series: series,
      scales: { x: { time: false }, y: { range: [0, d.yMax || null] } },
      axes: [{ label: 'ms since recording started' }, { label: 'MB/s', size: 60 }],
      legend: { live: true }
    }, data, el);
    el.setAttribute('data-drawn', String(d.series.length));
  }
  document.querySelectorAll('.bw-chart').forEach(draw);
})();
`;

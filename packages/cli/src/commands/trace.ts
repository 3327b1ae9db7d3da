import { writeFileSync } from 'node:fs';
import { Topology, readTrace, renderEndpointTable, renderLinkChartHtml, renderLinkChartSvg, renderLinkTable, traceTotals } from '@p2pkit/fabric';
import type { Command } from 'commander';

/** `p2pkit trace <file>`: per-link traffic of a recorded fabric trace, as a table and a chart. */
export function traceCommand(program: Command): void {
  program
    .command('trace')
    .description('render per-link traffic of a fabric trace file (msgpackr) as a table, SVG or HTML chart')
    .argument('<file>', 'trace file written by Fabric.startTrace()')
    .option('--svg <out>', 'write an SVG bar chart of bytes per link and direction')
    .option('--html <out>', 'write an HTML page with the chart and the tables')
    .action(async (file: string, opts: { svg?: string; html?: string }) => {
      const trace = await readTrace(file);
      const totals = traceTotals(trace);
      console.log(`${trace.records.length} transactions${trace.truncatedBytes ? ` (ignored ${trace.truncatedBytes} bytes of a truncated last record)` : ''}`);
      console.log(renderLinkTable(totals.links, new Topology(trace.header.topology)));
      console.log();
      console.log(renderEndpointTable(totals.endpoints));
      if (opts.svg) {
        writeFileSync(opts.svg, renderLinkChartSvg(totals.links, { title: file }));
        console.log(`wrote ${opts.svg}`);
      }
      if (opts.html) {
        writeFileSync(opts.html, renderLinkChartHtml(totals.links, { title: file }));
        console.log(`wrote ${opts.html}`);
      }
    });
}

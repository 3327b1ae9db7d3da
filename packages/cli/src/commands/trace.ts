import { writeFileSync } from 'node:fs';
import {
  readTrace,
  renderEndpointTable,
  renderLinkChartSvg,
  renderLinkTable,
  sliceTrace,
  Topology,
  traceTimeline,
  traceToPerfetto,
  traceTotals,
} from '@p2pkit/fabric';
import type { Command } from 'commander';
import { formatNs, parseTimeNs } from '../duration.ts';
import { checkOutputs } from '../paths.ts';
import { renderTraceReport } from '../report/trace-report.ts';

interface TraceOptions {
  svg?: string;
  html?: string;
  perfetto?: string;
  from?: string;
  to?: string;
  allowTruncated?: boolean;
}

/**
 * `p2pkit trace <file>`: per-link traffic of a recorded fabric trace as tables, and optionally an
 * SVG chart, an HTML page and a Perfetto / chrome://tracing export. Never writes over its input;
 * a bad input file gives one line naming it and exit code 1.
 */
export function traceCommand(program: Command): void {
  program
    .command('trace')
    .description('per-link traffic of a fabric trace file: tables, SVG, HTML page, Perfetto trace-event JSON')
    .argument('<file>', 'trace file written by Fabric.startTrace()')
    .option('--svg <out>', 'write an SVG bar chart of bytes per link and direction')
    .option('--html <out>', 'write a self-contained HTML page: topology, tables, bandwidth over time')
    .option('--perfetto <out>', 'write Chrome/Perfetto trace-event JSON (open in ui.perfetto.dev or chrome://tracing)')
    .option('--from <time>', 'only records from this time after the start (ms, or with a unit: 500us, 1.5s)')
    .option('--to <time>', 'only records before this time after the start')
    .option('--allow-truncated', 'read a trace whose last record is incomplete (the recorder died mid-write)')
    .action(async (file: string, opts: TraceOptions) => {
      checkOutputs(file, { '--svg': opts.svg, '--html': opts.html, '--perfetto': opts.perfetto });
      const window = {
        ...(opts.from !== undefined ? { fromNs: parseTimeNs(opts.from, '--from') } : {}),
        ...(opts.to !== undefined ? { toNs: parseTimeNs(opts.to, '--to') } : {}),
      };
      const whole = await readTrace(file);
      if (whole.truncatedBytes && !opts.allowTruncated) {
        throw new Error(
          `${file}: truncated: the last record is incomplete (${whole.truncatedBytes} bytes); --allow-truncated reads the ${whole.records.length} complete records`,
        );
      }
      const trace = window.fromNs !== undefined || window.toNs !== undefined ? sliceTrace(whole, window) : whole;
      const windowText =
        trace === whole ? undefined : `${formatNs(window.fromNs ?? 0)} – ${window.toNs === undefined ? 'end' : formatNs(window.toNs)}`;
      const totals = traceTotals(trace);
      const note = whole.truncatedBytes ? `ignored ${whole.truncatedBytes} bytes of a truncated last record` : undefined;
      console.log(`${trace.records.length} transactions${windowText ? ` in ${windowText}` : ''}${note ? ` (${note})` : ''}`);
      console.log(renderLinkTable(totals.links, new Topology(trace.header.topology)));
      console.log();
      console.log(renderEndpointTable(totals.endpoints));
      if (opts.svg) {
        writeFileSync(opts.svg, renderLinkChartSvg(totals.links, { title: file }));
        console.log(`wrote ${opts.svg}`);
      }
      if (opts.html) {
        const data = { file, header: trace.header, records: trace.records.length, totals, timeline: traceTimeline(trace) };
        writeFileSync(opts.html, renderTraceReport({ ...data, ...(windowText ? { window: windowText } : {}), ...(note ? { note } : {}) }));
        console.log(`wrote ${opts.html}`);
      }
      if (opts.perfetto) {
        writeFileSync(opts.perfetto, JSON.stringify(traceToPerfetto(trace)));
        console.log(`wrote ${opts.perfetto} (open it in ui.perfetto.dev or chrome://tracing)`);
      }
    });
}

/**
 * @p2pkit/cli — the `p2pkit` command line (`provision`, `trace`), and the report renderers it is made of.
 */
export type { CopyFigures, DemoFigures, LinkFigures } from './demo/figures.ts';
export { type DemoReportData, renderDemoReport } from './report/demo-report.ts';
export { renderTraceReport, type TraceReportData } from './report/trace-report.ts';

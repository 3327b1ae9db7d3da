/**
 * @p2pkit/cli — the `p2pkit` command line (`provision`, `trace`, `demo`), and the demo and report
 * renderers it is made of, for scripts such as examples/p2p-copy/demo.ts.
 */
export type { CopyFigures, DemoFigures, LinkFigures } from './demo/figures.ts';
export type { DemoOptions } from './demo/options.ts';
export { runDemo } from './demo/run-demo.ts';
export { type DemoReportData, renderDemoReport } from './report/demo-report.ts';
export { renderTraceReport, type TraceReportData } from './report/trace-report.ts';

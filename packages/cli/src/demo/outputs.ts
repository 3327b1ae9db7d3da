/** Writes a demo run's files: the HTML report, the figures as JSON, and a Perfetto export per trace. */
import { writeFileSync } from 'node:fs';
import { readTrace, type TopologyDescription, traceTimeline, traceToPerfetto } from '@p2pkit/fabric';
import { renderDemoReport } from '../report/demo-report.ts';
import type { DemoFigures } from './figures.ts';

/** Reads both traces back, writes their Perfetto exports, the report and figures.json. */
export async function writeDemoOutputs(figures: DemoFigures, topology: TopologyDescription): Promise<void> {
  const p2p = await readTrace(figures.p2p.trace);
  const host = await readTrace(figures.host.trace);
  writeFileSync(figures.p2p.perfetto, JSON.stringify(traceToPerfetto(p2p)));
  writeFileSync(figures.host.perfetto, JSON.stringify(traceToPerfetto(host)));
  const timelines = { p2p: traceTimeline(p2p, { buckets: 60 }), host: traceTimeline(host, { buckets: 60 }) };
  writeFileSync(figures.files.report, renderDemoReport({ figures, topology, timelines }));
  writeFileSync(figures.files.figures, `${JSON.stringify(figures, null, 2)}\n`);
}

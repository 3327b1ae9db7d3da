/** Scenario results: the record a run keeps (result.json), the pass/fail table and the events a runner reports. */
import type { CheckResult, StepResult } from './checks.ts';

/** The outcome of one scenario. */
export interface ScenarioResult {
  readonly name: string;
  /** The scenario file, when it came from one. */
  readonly file?: string;
  /** Every step passed, no setup error, no device-model bug logged. */
  readonly ok: boolean;
  readonly steps: readonly StepResult[];
  /** Why the scenario could not run (device creation, boot, configuration). */
  readonly error?: string;
  /** Guest boot times (QEMU start → agent ready), one per boot. */
  readonly bootMs: readonly number[];
  readonly durationMs: number;
  /** Output folder: steps.log, server.log, dmesg.txt, console and QEMU logs, traces, result.json. */
  readonly outDir: string;
}

/** Progress of a run, for a live display. */
export type ScenarioEvent =
  | { readonly type: 'scenario-start'; readonly scenario: string; readonly outDir: string }
  | { readonly type: 'booted'; readonly scenario: string; readonly bootMs: number }
  | { readonly type: 'step-start'; readonly scenario: string; readonly step: string }
  | { readonly type: 'check'; readonly scenario: string; readonly step: string; readonly check: CheckResult }
  | { readonly type: 'step-end'; readonly scenario: string; readonly result: StepResult }
  | { readonly type: 'scenario-end'; readonly result: ScenarioResult };

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Plain-text pass/fail table: one row per scenario and step, failed checks spelled out below. */
export function formatScenarioTable(results: readonly ScenarioResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    const checks = r.steps.flatMap((s) => s.checks);
    const failed = checks.filter((c) => !c.ok).length;
    rows.push([r.ok ? 'PASS' : 'FAIL', r.name, `${checks.length - failed}/${checks.length}`, seconds(r.durationMs), r.outDir]);
    for (const s of r.steps)
      rows.push([
        s.ok ? '  ok' : '  FAIL',
        `  ${s.name}`,
        `${s.checks.filter((c) => c.ok).length}/${s.checks.length}`,
        seconds(s.durationMs),
        '',
      ]);
  }
  const head = ['result', 'scenario / step', 'checks', 'time', 'output'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const problems = results.flatMap((r) => [
    ...(r.error ? [`${r.name}: ${r.error.split('\n')[0]}`] : []),
    ...r.steps.flatMap((s) => [
      ...(s.error ? [`${r.name} / ${s.name}: ${s.error.split('\n')[0]}`] : []),
      ...s.checks.filter((c) => !c.ok).map((c) => `${r.name} / ${s.name} / ${c.name}: ${(c.detail ?? 'failed').split('\n')[0]}`),
    ]),
  ]);
  const passed = results.filter((r) => r.ok).length;
  out.push('', `${passed}/${results.length} scenarios passed`);
  if (problems.length > 0) out.push('', 'failures:', ...problems.map((p) => `  ${p}`));
  return out.join('\n');
}

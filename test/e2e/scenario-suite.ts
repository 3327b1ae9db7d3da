/**
 * Scenario files as vitest suites, through the same runner as `p2pkit run`: one `describe` per
 * scenario (one guest boot, in beforeAll), one `it` per step (its failed checks are the assertion
 * message), and a last `it` for what the whole scenario must satisfy (setup, device-model log).
 * Logs, dmesg and traces land in p2pkit-runs/<timestamp>/<scenario>/, as with the CLI.
 */
import {
  defaultRunDir,
  loadScenarios,
  type Provisioned,
  type ProvisionOptions,
  provision,
  ScenarioSession,
  type StepResult,
  scenarioSteps,
} from '@p2pkit/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A failed step as readable text: each failed check with its detail, or the exception. */
function explain(r: StepResult): string {
  const failed = r.checks.filter((c) => !c.ok).map((c) => `✗ ${c.name}: ${c.detail ?? ''}`);
  return [...failed, ...(r.error ? [`threw: ${r.error}`] : [])].join('\n');
}

/** Declare the suites of every scenario in `path` (a *.scenario.ts file or a folder of them). */
export async function scenarioSuite(path: string, options: { provision?: ProvisionOptions } = {}): Promise<void> {
  const loaded = await loadScenarios([path]);
  const runDir = defaultRunDir();
  let provisioned: Promise<Provisioned> | undefined;
  for (const { file, scenario } of loaded) {
    describe(scenario.name, () => {
      let session: ScenarioSession;
      beforeAll(async () => {
        provisioned ??= provision(options.provision);
        const folder = scenario.name
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '');
        session = await ScenarioSession.start(scenario, { provisioned: await provisioned, outDir: `${runDir}/${folder}`, file });
        if (session.guest) console.info(`[${scenario.name}] boot ${((session.bootMs[0] ?? 0) / 1000).toFixed(1)} s → ${runDir}/${folder}`);
      });
      afterAll(async () => {
        await session?.finish();
      });
      for (const [step] of scenarioSteps(scenario)) {
        it(step, async () => {
          const r = await session.runStep(step);
          expect(r.ok, explain(r)).toBe(true);
        });
      }
      it('(scenario) set up, shut down, no device-model errors logged', async () => {
        const result = await session.finish();
        expect(result.error, `output: ${result.outDir}`).toBeUndefined();
      });
    });
  }
}

/** The scenario runner without a guest: checks, step errors, output folder, results table. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Provisioned } from '../src/provision/index.ts';
import { formatScenarioTable } from '../src/scenario/result.ts';
import { findScenarioFiles, loadScenarios, runScenarios } from '../src/scenario/run.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'no-guest.scenario.ts');
/** Never used for booting: the fixture has no topology. */
const provisioned = { qemu: { version: 'test' }, kernel: { abi: 'test' } } as unknown as Provisioned;

describe('scenario runner', () => {
  it('finds *.scenario.ts files in a folder and loads their default export', async () => {
    expect(findScenarioFiles(join(import.meta.dirname, 'fixtures'))).toEqual([fixture]);
    const [loaded] = await loadScenarios([fixture]);
    expect(loaded?.scenario.name).toBe('Runner self-test (no guest)');
  });

  it('records checks, goes on after a failure, keeps logs and result.json, prints a table', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'p2pkit-runs-'));
    const events: string[] = [];
    const [r] = await runScenarios(await loadScenarios([fixture]), { provisioned, outDir, onEvent: (e) => events.push(e.type) });
    expect(r?.ok).toBe(false);
    expect(r?.outDir).toBe(join(outDir, 'runner-self-test-no-guest'));
    expect(r?.steps.map((s) => [s.name, s.ok, s.checks.length])).toEqual([
      ['passing checks', true, 4],
      ['a failing check', false, 2],
      ['a step that throws', false, 0],
    ]);
    expect(r?.steps[1]?.checks[0]).toEqual({ name: 'size', ok: false, detail: 'expected 64, got 32' });
    expect(r?.steps[2]?.error).toMatch(
      /^Error: scenario Runner self-test \(no guest\) has no topology: it boots nothing\n\s*at .*no-guest\.scenario\.ts/,
    );
    expect(r?.error).toBe('1 device-model error(s) logged, first: device model bug: register 0x40 callback threw');
    expect(events.filter((e) => e === 'check')).toHaveLength(6);
    expect(events.at(0)).toBe('scenario-start');
    expect(events.at(-1)).toBe('scenario-end');

    const dir = r?.outDir as string;
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).toMatchObject({ name: r?.name, ok: false });
    const steps = readFileSync(join(dir, 'steps.log'), 'utf8');
    expect(steps).toMatch(/step: a failing check\n.*FAIL size: expected 64, got 32/);
    expect(steps).toContain('a line from the step');
    expect(readFileSync(join(dir, 'server.log'), 'utf8')).toContain('device: device model bug');
    expect(existsSync(join(dir, 'dmesg.txt'))).toBe(false); // nothing booted

    const table = formatScenarioTable(r ? [r] : []);
    expect(table).toMatch(/^result +scenario \/ step +checks +time +output/);
    expect(table).toMatch(/FAIL +Runner self-test \(no guest\) +5\/6/);
    expect(table).toMatch(/ {2}ok +passing checks +4\/4/);
    expect(table).toContain('0/1 scenarios passed');
    expect(table).toContain('Runner self-test (no guest) / a failing check / size: expected 64, got 32');
  });
});

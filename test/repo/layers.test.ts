/**
 * Layer rules (.dependency-cruiser.cjs): no upward or same-level imports between packages, no
 * cycles, src never imports tests, devDependencies or undeclared packages. dependency-cruiser runs
 * once, over packages/<name>/src for every package folder that exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ICruiseResult, IViolation } from 'dependency-cruiser';
import { beforeAll, describe, expect, it } from 'vitest';
import { failIfAny, ROOT, TOOL_TIMEOUT_MS } from './report.ts';

const CONFIG = '.dependency-cruiser.cjs';
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const packageFolders = readdirSync(join(ROOT, 'packages'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'packages', d.name, 'package.json')))
  .map((d) => d.name)
  .sort();

function describeViolation(v: IViolation, result: ICruiseResult, comments: Map<string, string>): string {
  const comment = comments.get(v.rule.name);
  const why = comment ? `\n      ${comment}` : '';
  if (v.cycle && v.cycle.length > 0) {
    return `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(' → ')}${why}`;
  }
  // The import as written, next to where it resolved to.
  const written = result.modules.find((m) => m.source === v.from)?.dependencies.find((d) => d.resolved === v.to)?.module;
  const to = written && written !== v.to ? `${v.to} (import '${written}')` : v.to;
  return `${v.rule.name}: ${v.from} → ${to}${why}`;
}

describe('layer rules (dependency-cruiser)', () => {
  let result: ICruiseResult;
  let layers: string[][];

  beforeAll(() => {
    layers = (createRequire(import.meta.url)(join(ROOT, CONFIG)) as { LAYERS: string[][] }).LAYERS;
    const srcDirs = packageFolders.map((p) => `packages/${p}/src`).filter((dir) => existsSync(join(ROOT, dir)));
    const run = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', ...srcDirs], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    if (run.error) throw run.error;
    try {
      result = JSON.parse(run.stdout) as ICruiseResult;
    } catch {
      throw new Error(`depcruise did not produce a JSON report (exit ${run.status}):\n${run.stderr}`);
    }
  }, TOOL_TIMEOUT_MS);

  it('places every package folder in the layer table of .dependency-cruiser.cjs', () => {
    const placed = new Set(layers.flat());
    failIfAny(
      'packages not placed in a layer',
      packageFolders.filter((p) => !placed.has(p)),
      `Add each to LAYERS in ${CONFIG} (bottom → top).`,
    );
  });

  it('finds no violations', () => {
    expect(result.summary.totalCruised).toBeGreaterThan(0);
    const comments = new Map((result.summary.ruleSetUsed?.forbidden ?? []).map((r) => [r.name ?? '', r.comment ?? '']));
    failIfAny(
      'dependency-cruiser violations',
      result.summary.violations.map((v) => describeViolation(v, result, comments)),
      `Layers (bottom → top): ${layers.map((level) => level.join(' | ')).join(' → ')}. Rules: ${CONFIG}.`,
    );
  });
});

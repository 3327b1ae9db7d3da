/**
 * knip (knip.json): unused files, unused / unlisted dependencies, unresolved imports, unused exports.
 *
 * knip runs once, with knip.json minus its ignoreIssues entries for exports/types, so this test sees
 * every unused export and applies the lists itself:
 * - packages' src: fails unless the export is named in knip.json's tolerated list (the trailing
 *   `// name, name` comment of its ignoreIssues line), and fails on a tolerated name knip no longer
 *   reports (stale: remove it from knip.json);
 * - elsewhere (test helpers, e2e): printed as warnings.
 * Every other kind of finding fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, it } from 'vitest';
import { failIfAny, ROOT, TOOL_TIMEOUT_MS } from './report.ts';

const KNIP = join(ROOT, 'node_modules', 'knip', 'bin', 'knip.js');

interface KnipItem {
  name: string;
  line?: number;
  col?: number;
}
type KnipIssue = { file: string } & Record<string, KnipItem[] | string>;

/** Findings that are about exported symbols (the rest are about files and dependencies). */
const EXPORT_KINDS = new Set(['exports', 'types', 'nsExports', 'nsTypes', 'enumMembers', 'namespaceMembers', 'duplicates']);
const isPackageSrc = (file: string) => /^packages\/[^/]+\/src\//.test(file);

/** knip.json's ignoreIssues lines for packages' src exports: file → the names in the trailing comment. */
function toleratedExports(text: string): Map<string, Set<string>> {
  const tolerated = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^\s*"(packages\/[^/"]+\/src\/[^"]+)":\s*\[[^\]]*\],?\s*\/\/\s*(.+)$/.exec(line);
    if (m?.[1] && m[2]) tolerated.set(m[1], new Set(m[2].split(',').map((n) => n.trim())));
  }
  return tolerated;
}

describe('knip', () => {
  const fails = new Map<string, string[]>();
  const unusedSrcExports = new Map<string, Set<string>>();
  const warnings: string[] = [];
  let tolerated: Map<string, Set<string>>;

  beforeAll(() => {
    const text = readFileSync(join(ROOT, 'knip.json'), 'utf8');
    tolerated = toleratedExports(text);
    const parsed = ts.parseConfigFileTextToJson('knip.json', text);
    if (parsed.error) throw new Error(ts.flattenDiagnosticMessageText(parsed.error.messageText, '\n'));
    const config = parsed.config as { $schema?: string; ignoreIssues?: Record<string, string[]> };
    delete config.$schema;
    if (config.ignoreIssues) {
      config.ignoreIssues = Object.fromEntries(
        Object.entries(config.ignoreIssues)
          .map(([glob, kinds]) => [glob, kinds.filter((k) => !EXPORT_KINDS.has(k))] as const)
          .filter(([, kinds]) => kinds.length > 0),
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-knip-'));
    try {
      const configFile = join(dir, 'knip.json');
      writeFileSync(configFile, JSON.stringify(config));
      const run = spawnSync(process.execPath, [KNIP, '--config', configFile, '--reporter', 'json', '--no-progress', '--no-config-hints'], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (run.error) throw run.error;
      let report: { issues: KnipIssue[] };
      try {
        report = JSON.parse(run.stdout) as { issues: KnipIssue[] };
      } catch {
        throw new Error(`knip did not produce a JSON report (exit ${run.status}):\n${run.stderr}${run.stdout}`);
      }
      for (const issue of report.issues) {
        for (const [kind, items] of Object.entries(issue)) {
          if (!Array.isArray(items)) continue;
          for (const item of items) {
            const where = kind === 'files' ? issue.file : `${issue.file}${item.line ? `:${item.line}` : ''}  ${item.name}`;
            if (!EXPORT_KINDS.has(kind)) {
              fails.set(kind, [...(fails.get(kind) ?? []), where]);
            } else if (isPackageSrc(issue.file)) {
              unusedSrcExports.set(issue.file, (unusedSrcExports.get(issue.file) ?? new Set()).add(item.name));
              if (!tolerated.get(issue.file)?.has(item.name)) fails.set(kind, [...(fails.get(kind) ?? []), where]);
            } else {
              warnings.push(`${kind}: ${where}`);
            }
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (warnings.length > 0) console.warn(`knip: unused exports outside packages' src (not failing):\n  ${warnings.join('\n  ')}`);
  }, TOOL_TIMEOUT_MS);

  const kinds: [string, string][] = [
    ['files', 'unused files'],
    ['dependencies', 'unused dependencies'],
    ['devDependencies', 'unused devDependencies'],
    ['optionalPeerDependencies', 'unused optional peer dependencies'],
    ['unlisted', 'unlisted dependencies (imported, not in package.json)'],
    ['binaries', 'unlisted binaries'],
    ['unresolved', 'unresolved imports'],
  ];
  for (const [kind, title] of kinds) {
    it(`reports no ${title}`, () => failIfAny(`knip: ${title}`, fails.get(kind) ?? []));
  }

  it("reports no unused exports in packages' src beyond knip.json's tolerated list", () => {
    const exportFails = [...EXPORT_KINDS].flatMap((kind) => (fails.get(kind) ?? []).map((f) => `${kind}: ${f}`));
    failIfAny(
      "knip: unused exports in packages' src",
      exportFails,
      'Remove the export (or use it). Tolerating one for now: add it to ignoreIssues in knip.json, name in the trailing comment.',
    );
  });

  it('has no stale entries in the tolerated unused-exports list', () => {
    const stale = [...tolerated].flatMap(([file, names]) =>
      [...names].filter((name) => !unusedSrcExports.get(file)?.has(name)).map((name) => `${file}  ${name}`),
    );
    failIfAny('knip.json tolerates unused exports that knip no longer reports', stale, 'Remove them from ignoreIssues in knip.json.');
  });

  it('knows every finding kind knip reported', () => {
    const known = new Set([...kinds.map(([k]) => k), ...EXPORT_KINDS]);
    failIfAny(
      'knip: other findings',
      [...fails].filter(([kind]) => !known.has(kind)).flatMap(([kind, items]) => items.map((i) => `${kind}: ${i}`)),
    );
  });
});

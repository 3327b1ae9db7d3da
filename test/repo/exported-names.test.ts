/**
 * Exported names are unique across packages, and entry files list their exports by name.
 *
 * For every packages/*\/package.json, each `exports` entry (".", "./internal", "./testing", …) is
 * resolved to its source (`source` condition) and its exported names are read with the TypeScript
 * checker. The test fails when one name is exported by two packages, and on `export * from` in an
 * entry file, unless exported-names.allow.json lists it:
 *   { "Name": "why" }                                          a name exported by several packages
 *   { "packages/x/src/index.ts: export * from './y.ts'": "why" }  one `export *` of an entry file
 * Keys starting with "//" are comments. An entry that no longer matches anything fails too (stale:
 * remove it), so the list only shrinks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, it } from 'vitest';
import { allowEntries, failIfAny, ROOT, TOOL_TIMEOUT_MS } from './report.ts';

const ALLOW_FILE = 'test/repo/exported-names.allow.json';
const EXPORT_STAR = ': export * from ';

interface Entry {
  pkg: string;
  subpath: string;
  /** Absolute path of the source file, when the entry has one. */
  file?: string;
}

type ExportsValue = string | null | { [condition: string]: ExportsValue } | ExportsValue[];

/** The `source` condition (or a plain .ts target) of one `exports` value. */
function sourceOf(value: ExportsValue): string | undefined {
  if (typeof value === 'string') return value.endsWith('.ts') ? value : undefined;
  if (value === null) return undefined;
  if (Array.isArray(value)) return value.map(sourceOf).find((s) => s !== undefined);
  return value.source !== undefined ? sourceOf(value.source) : undefined;
}

function packageEntries(): Entry[] {
  const entries: Entry[] = [];
  for (const dir of readdirSync(join(ROOT, 'packages')).sort()) {
    const manifestPath = join(ROOT, 'packages', dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name: string; exports?: ExportsValue };
    const exp = manifest.exports;
    // "exports": "./x" or { "source": … } (no subpath keys) mean ".".
    const map =
      exp && typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.')) ? exp : { '.': exp ?? null };
    for (const [subpath, value] of Object.entries(map)) {
      const source = sourceOf(value);
      entries.push({ pkg: manifest.name, subpath, ...(source ? { file: join(ROOT, 'packages', dir, source) } : {}) });
    }
  }
  return entries;
}

describe('exported names', () => {
  const entries = packageEntries();
  /** name → packages exporting it */
  const exporters = new Map<string, Set<string>>();
  /** package → its exported names (all subpaths) */
  const byPackage = new Map<string, Set<string>>();
  /** `<file>: export * from '<specifier>'` for every `export *` of an entry file */
  const exportStars: string[] = [];
  let allow: Map<string, string>;

  beforeAll(() => {
    allow = allowEntries(JSON.parse(readFileSync(join(ROOT, ALLOW_FILE), 'utf8')) as Record<string, string>);
    const configPath = join(ROOT, 'tsconfig.base.json');
    const read = ts.readConfigFile(configPath, ts.sys.readFile);
    const options = { ...ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath).options, noEmit: true };
    const files = entries.flatMap((e) => (e.file && existsSync(e.file) ? [e.file] : []));
    const program = ts.createProgram({ rootNames: files, options });
    const checker = program.getTypeChecker();
    for (const entry of entries) {
      const names = byPackage.get(entry.pkg) ?? new Set<string>();
      byPackage.set(entry.pkg, names);
      const sf = entry.file ? program.getSourceFile(entry.file) : undefined;
      if (!sf) continue;
      const moduleSymbol = checker.getSymbolAtLocation(sf);
      for (const symbol of moduleSymbol ? checker.getExportsOfModule(moduleSymbol) : []) {
        names.add(symbol.name);
        exporters.set(symbol.name, (exporters.get(symbol.name) ?? new Set()).add(entry.pkg));
      }
      for (const statement of sf.statements) {
        if (ts.isExportDeclaration(statement) && !statement.exportClause && statement.moduleSpecifier) {
          exportStars.push(`${relative(ROOT, sf.fileName)}${EXPORT_STAR}${statement.moduleSpecifier.getText(sf)}`);
        }
      }
    }
    const width = Math.max(...[...byPackage.keys()].map((p) => p.length));
    console.log(
      [
        'exported names per package:',
        ...[...byPackage].map(([pkg, names]) => `  ${pkg.padEnd(width)}  ${String(names.size).padStart(4)}`),
      ].join('\n'),
    );
  }, TOOL_TIMEOUT_MS);

  it('resolves every exports entry to an existing source file', () => {
    failIfAny(
      'exports entries without a source file (`source` condition)',
      entries
        .filter((e) => !e.file || !existsSync(e.file))
        .map((e) => `${e.pkg} "${e.subpath}"${e.file ? ` → ${relative(ROOT, e.file)} (missing)` : ''}`),
    );
  });

  it('has no name exported by two packages outside the allow-list', () => {
    const clashes = [...exporters]
      .filter(([name, pkgs]) => pkgs.size > 1 && !allow.has(name))
      .map(([name, pkgs]) => `${name}: ${[...pkgs].sort().join(', ')}`)
      .sort();
    failIfAny(
      'names exported by more than one package',
      clashes,
      `Rename (or stop exporting) one of them; ${ALLOW_FILE} lists the known ones.`,
    );
  });

  it('has no `export *` in entry files outside the allow-list', () => {
    failIfAny(
      '`export *` in entry files (export the names explicitly)',
      exportStars.filter((s) => !allow.has(s)),
    );
  });

  it('has no stale allow-list entries', () => {
    const stale = [...allow.keys()].flatMap((key) => {
      if (key.includes(EXPORT_STAR)) return exportStars.includes(key) ? [] : [`${key}: gone`];
      const pkgs = exporters.get(key);
      return pkgs && pkgs.size > 1 ? [] : [`${key}: exported by ${pkgs ? [...pkgs].join(', ') : 'no package'}`];
    });
    failIfAny(`stale entries in ${ALLOW_FILE}`, stale, 'Remove them.');
  });
});

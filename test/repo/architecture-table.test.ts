/**
 * docs/architecture.md's package table says what each package imports; this keeps it equal to the
 * dependencies each package.json declares (p2pkit packages by short name, others by npm name), and
 * its row order equal to the layer order the dependency-cruiser rules enforce.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failIfAny, ROOT } from './report.ts';

interface Row {
  name: string;
  imports: string[];
}

function tableRows(): Row[] {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const rows: Row[] = [];
  for (const line of doc.split('\n')) {
    const m = /^\| `@p2pkit\/([a-z-]+)` \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const imports = (m[2] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== '—');
    rows.push({ name: m[1] ?? '', imports: imports.sort() });
  }
  return rows;
}

function declaredImports(pkg: string): string[] {
  const json = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  return Object.keys(json.dependencies ?? {})
    .map((d) => d.replace(/^@p2pkit\//, ''))
    .sort();
}

describe('docs/architecture.md package table', () => {
  const rows = tableRows();
  const layers = (createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as { LAYERS: string[][] }).LAYERS;

  it('lists every package once, bottom to top in layer order', () => {
    expect(rows.map((r) => r.name)).toEqual(layers.flat());
  });

  it("names exactly the dependencies each package declares in its 'imports' column", () => {
    const drift = rows.flatMap((r) => {
      const declared = declaredImports(r.name);
      return JSON.stringify(declared) === JSON.stringify(r.imports)
        ? []
        : [`@p2pkit/${r.name}: table says [${r.imports.join(', ')}], package.json declares [${declared.join(', ')}]`];
    });
    failIfAny('architecture table drifted from package.json', drift, 'Edit the table in docs/architecture.md (or the dependencies).');
  });
});

/**
 * Code blocks the docs include from real files stay equal to them. A fenced block whose line above
 * is `<!-- include: <path>[#<region>] … -->` must be exactly that file (path from the repository
 * root), or the lines between `// #region <region>` and `// #endregion <region>` in it (`/* … *\/`
 * markers for C), with marker lines inside removed and the common indentation stripped. The files
 * are what tests import and run, so the docs show tested code; the comment is also the reason a
 * fragment is fenced ```ts nocheck (test/repo/doc-snippets.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { markdownFiles } from '../../scripts/extract-doc-snippets.ts';
import { failIfAny, ROOT } from './report.ts';

interface Include {
  markdown: string;
  line: number;
  path: string;
  region: string | undefined;
  code: string;
}

const INCLUDE = /^<!--\s*include:\s*([^\s#]+)(?:#([\w-]+))?(?:\s[\s\S]*)?-->$/;
const MARKER = /^\s*(?:\/\/|\/\*)\s*#(region|endregion)\b\s*([\w-]*)/;

/** Every fenced block with an include comment right above it. */
function includes(): Include[] {
  const out: Include[] = [];
  for (const markdown of markdownFiles()) {
    const lines = readFileSync(join(ROOT, markdown), 'utf8').split('\n');
    for (let i = 1; i < lines.length; i++) {
      const open = /^(\s*)(`{3,}|~{3,})/.exec(lines[i] ?? '');
      if (!open) continue;
      const [, indent = '', fence = '```'] = open;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !(lines[j]?.trim().startsWith(fence) && lines[j]?.trim().replace(/[`~]/g, '') === '')) {
        const line = lines[j] ?? '';
        body.push(line.startsWith(indent) ? line.slice(indent.length) : line);
        j++;
      }
      const m = INCLUDE.exec((lines[i - 1] ?? '').trim());
      if (m?.[1]) out.push({ markdown, line: i + 1, path: m[1], region: m[2], code: body.join('\n') });
      i = j;
    }
  }
  return out;
}

/** The region's lines (markers removed, common indentation stripped), or an error text. */
function regionOf(text: string, region: string | undefined): string | { error: string } {
  let lines = text.split('\n');
  if (region !== undefined) {
    const start = lines.findIndex((l) => MARKER.exec(l)?.[1] === 'region' && MARKER.exec(l)?.[2] === region);
    if (start < 0) return { error: `no '#region ${region}'` };
    const end = lines.findIndex(
      (l, k) => k > start && MARKER.exec(l)?.[1] === 'endregion' && [region, ''].includes(MARKER.exec(l)?.[2] ?? ''),
    );
    if (end < 0) return { error: `'#region ${region}' has no '#endregion'` };
    lines = lines.slice(start + 1, end);
  }
  lines = lines.filter((l) => !MARKER.test(l));
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0));
  return trimBlank(lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join('\n'));
}

const trimBlank = (s: string) => s.replace(/^\s*\n/, '').replace(/\s+$/, '');

describe('doc includes', () => {
  const found = includes();

  it('finds the included blocks', () => {
    failIfAny('no <!-- include: … --> blocks in the docs', found.length === 0 ? ['docs/*.md'] : []);
  });

  it('every included block equals its file or region', () => {
    const problems: string[] = [];
    for (const inc of found) {
      const where = `${inc.markdown}:${inc.line} (${inc.path}${inc.region ? `#${inc.region}` : ''})`;
      const file = join(ROOT, inc.path);
      if (!existsSync(file)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      const want = regionOf(readFileSync(file, 'utf8'), inc.region);
      if (typeof want !== 'string') problems.push(`${where}: ${want.error}`);
      else if (want !== trimBlank(inc.code)) {
        const [a, b] = [want.split('\n'), trimBlank(inc.code).split('\n')];
        const k = a.findIndex((l, n) => l !== b[n]);
        problems.push(
          `${where}: differs from line ${k + 1} of the region:\n      file: ${a[k] ?? '(end)'}\n      doc:  ${b[k] ?? '(end)'}`,
        );
      }
    }
    failIfAny('included code blocks that differ from their source', problems, 'Copy the region again (the file is the tested truth).');
  });
});

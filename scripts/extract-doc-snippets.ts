/**
 * Pulls every ```ts fenced block out of README.md, docs/**\/*.md and packages/*\/README.md into
 * test/repo/.snippets/<file>-<n>.ts (gitignored) and typechecks them with the TypeScript API, using
 * tsconfig.base.json's options (customConditions ['source']: `@p2pkit/*` resolves to the sources).
 *
 * Each snippet is its own module (an `export {}` is appended), so snippets do not share names and
 * may use top-level await. A fence marked ```ts nocheck is skipped; it must have a reason in an HTML
 * comment on the line right above it, e.g. `<!-- nocheck: a fragment of the example above -->`.
 *
 * Used by test/repo/doc-snippets.test.ts. By hand: npx tsx scripts/extract-doc-snippets.ts
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

export const ROOT = join(import.meta.dirname, '..');
export const SNIPPET_DIR = join(ROOT, 'test', 'repo', '.snippets');

const LANGUAGES = new Set(['ts', 'typescript', 'mts']);

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => ROOT,
  getNewLine: () => '\n',
};

export interface Snippet {
  /** `<markdown file>#<n>`, n counting the file's ts fences from 1 (nocheck ones included). */
  id: string;
  /** The markdown file, relative to the repository root. */
  markdown: string;
  /** 1-based line of the opening fence in the markdown file. */
  fenceLine: number;
  code: string;
  nocheck: boolean;
  /** The line right above the fence (where a nocheck reason goes). */
  lineAbove: string;
  /** Where the snippet was written (absolute); empty for nocheck snippets. */
  file: string;
}

export interface SnippetError {
  snippet: Snippet;
  /** 1-based line in the markdown file. */
  line: number;
  /** `TS<code>: <message>`, without a position: stable while the docs around it move. */
  text: string;
}

/** README.md, docs/**\/*.md and packages/*\/README.md, relative to the root, sorted. */
export function markdownFiles(root = ROOT): string[] {
  const files: string[] = [];
  if (existsSync(join(root, 'README.md'))) files.push('README.md');
  const walk = (dir: string): void => {
    if (!existsSync(join(root, dir))) return;
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  for (const pkg of readdirSync(join(root, 'packages')).sort()) {
    if (existsSync(join(root, 'packages', pkg, 'README.md'))) files.push(`packages/${pkg}/README.md`);
  }
  return files.sort();
}

/** The ts fences of one markdown text. */
export function parseSnippets(markdown: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '```', lang = '', rest = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? '';
      if (line.trim().startsWith(fence[0]?.repeat(fence.length) ?? fence) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line);
    }
    if (LANGUAGES.has(lang.toLowerCase())) {
      const n = snippets.length + 1;
      snippets.push({
        id: `${markdown}#${n}`,
        markdown,
        fenceLine: i + 1,
        code: body.join('\n'),
        nocheck: rest.split(/\s+/).includes('nocheck'),
        lineAbove: (lines[i - 1] ?? '').trim(),
        file: '',
      });
    }
    i = j; // skip the block (and its closing fence)
  }
  return snippets;
}

/** Extracts all snippets and writes the checked ones to test/repo/.snippets (emptied first). */
export function extractSnippets(root = ROOT, outDir = SNIPPET_DIR): Snippet[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const snippets = markdownFiles(root).flatMap((md) => parseSnippets(md, readFileSync(join(root, md), 'utf8')));
  for (const s of snippets) {
    if (s.nocheck) continue;
    const n = s.id.slice(s.id.lastIndexOf('#') + 1);
    s.file = join(outDir, `${s.markdown.replace(/\.md$/, '').replaceAll('/', '_')}-${n}.ts`);
    writeFileSync(s.file, `${s.code}\nexport {};\n`);
  }
  return snippets;
}

/** Typechecks the written snippets in one program; returns their errors (errors elsewhere are ignored). */
export function typecheckSnippets(snippets: readonly Snippet[], root = ROOT): SnippetError[] {
  const checked = snippets.filter((s) => s.file !== '');
  if (checked.length === 0) return [];
  const configPath = join(root, 'tsconfig.base.json');
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, customConditions: ['source'] };
  const program = ts.createProgram({ rootNames: checked.map((s) => s.file), options });
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  if (global.length > 0) throw new Error(ts.formatDiagnostics(global, formatHost));
  const errors: SnippetError[] = [];
  for (const snippet of checked) {
    // Only the snippets are checked: the package sources they import are resolved, not checked.
    const sf = program.getSourceFile(snippet.file);
    if (!sf) throw new Error(`${snippet.file} is not in the program`);
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      if (d.category !== ts.DiagnosticCategory.Error) continue;
      const { line } = sf.getLineAndCharacterOfPosition(d.start ?? 0);
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\s+/g, ' ');
      errors.push({ snippet, line: snippet.fenceLine + 1 + line, text: `TS${d.code}: ${message}` });
    }
  }
  return errors.sort((a, b) => a.snippet.id.localeCompare(b.snippet.id) || a.line - b.line);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const snippets = extractSnippets();
  const errors = typecheckSnippets(snippets);
  console.log(`${snippets.length} snippets (${snippets.filter((s) => s.nocheck).length} nocheck) → ${relative(ROOT, SNIPPET_DIR)}`);
  for (const e of errors) console.log(`${e.snippet.markdown}:${e.line} (${e.snippet.id}) ${e.text}`);
  process.exitCode = errors.length > 0 ? 1 : 0;
}

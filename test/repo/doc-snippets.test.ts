/**
 * Every ```ts block in README.md, docs/**\/*.md and packages/*\/README.md typechecks against the
 * sources (scripts/extract-doc-snippets.ts). Known failures are listed, with their errors, in
 * doc-snippets.allow.json; the test fails on a failing snippet not listed there, on a listed one
 * whose errors changed, and on a listed one that now passes (stale entry: remove it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import { extractSnippets, type Snippet, type SnippetError, typecheckSnippets } from '../../scripts/extract-doc-snippets.ts';
import { failIfAny, ROOT, TOOL_TIMEOUT_MS } from './report.ts';

const ALLOW_FILE = 'test/repo/doc-snippets.allow.json';
const HOW_TO_FIX =
  'Fix the snippet (add its imports; a fragment that cannot stand alone gets ```ts nocheck with an <!-- HTML comment --> giving the reason on the line above).';

describe('doc snippets typecheck', () => {
  let snippets: Snippet[];
  /** snippet id → its errors */
  const failing = new Map<string, SnippetError[]>();
  /** snippet id → the allow-listed error texts */
  let allowed: Map<string, string[]>;

  beforeAll(() => {
    const raw = JSON.parse(readFileSync(join(ROOT, ALLOW_FILE), 'utf8')) as Record<string, string | string[]>;
    allowed = new Map(
      Object.entries(raw)
        .filter((entry): entry is [string, string[]] => !entry[0].startsWith('//') && Array.isArray(entry[1]))
        .map(([id, errors]) => [id, errors]),
    );
    snippets = extractSnippets();
    for (const error of typecheckSnippets(snippets)) {
      failing.set(error.snippet.id, [...(failing.get(error.snippet.id) ?? []), error]);
    }
  }, TOOL_TIMEOUT_MS);

  const texts = (errors: readonly SnippetError[]) => [...new Set(errors.map((e) => e.text))].sort();
  const show = (errors: readonly SnippetError[]) => errors.map((e) => `${e.snippet.markdown}:${e.line} (${e.snippet.id}) ${e.text}`);

  it('finds the snippets', () => {
    failIfAny('no ```ts snippets found in the docs', snippets.length === 0 ? ['README.md, docs/**/*.md, packages/*/README.md'] : []);
  });

  it('has a reason above every ```ts nocheck fence', () => {
    failIfAny(
      '```ts nocheck fences without a reason',
      snippets.filter((s) => s.nocheck && !/^<!--.*\S.*-->$/.test(s.lineAbove)).map((s) => `${s.markdown}:${s.fenceLine} (${s.id})`),
      'Put the reason in an HTML comment on the line right above the fence: <!-- nocheck: why -->',
    );
  });

  it('has no failing snippet outside the allow-list', () => {
    failIfAny(
      'doc snippets that do not typecheck',
      [...failing].filter(([id]) => !allowed.has(id)).flatMap(([, errors]) => show(errors)),
      HOW_TO_FIX,
    );
  });

  it('has the allow-listed errors, no more and no fewer', () => {
    const changed: string[] = [];
    for (const [id, listed] of allowed) {
      const errors = failing.get(id);
      if (!errors) continue; // stale: the next test
      const now = texts(errors);
      const added = errors.filter((e) => !listed.includes(e.text));
      const gone = listed.filter((t) => !now.includes(t));
      changed.push(...show(added).map((line) => `new error: ${line}`));
      changed.push(...gone.map((t) => `fixed (remove it from the allow-list entry): ${id} ${t}`));
    }
    failIfAny(`allow-listed doc snippets whose errors changed (${ALLOW_FILE})`, changed, HOW_TO_FIX);
  });

  it('has no stale allow-list entries', () => {
    const ids = new Map(snippets.map((s) => [s.id, s]));
    const stale = [...allowed.keys()].flatMap((id) => {
      const snippet = ids.get(id);
      if (!snippet) return [`${id}: no such snippet`];
      if (snippet.nocheck) return [`${id}: marked nocheck`];
      return failing.has(id) ? [] : [`${id}: typechecks now`];
    });
    failIfAny(`stale entries in ${ALLOW_FILE}`, stale, 'Remove them.');
  });
});

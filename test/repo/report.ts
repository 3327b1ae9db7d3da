/** Helpers shared by the repo-level checks in test/repo (layer rules, knip, doc snippets, exported names). */
import { join } from 'node:path';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');

/** Repo-level checks run a whole tool once; give them room on a loaded 2-core machine. */
export const TOOL_TIMEOUT_MS = 120_000;

/** Throws one error listing every item (nothing when the list is empty), so a failure reads as a list. */
export function failIfAny(title: string, items: readonly string[], hint?: string): void {
  if (items.length === 0) return;
  const lines = [`${title} (${items.length}):`, ...items.map((item) => `  - ${item}`)];
  if (hint) lines.push('', hint);
  const error = new Error(lines.join('\n'));
  error.stack = error.message; // the list is the message; the stack of the test helper adds nothing
  throw error;
}

/** A JSON allow-list: `{ "entry": "why" }`. Keys starting with "//" are comments. */
export function allowEntries(list: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(list).filter(([key]) => !key.startsWith('//')));
}

/** Compiles a scenario's C helper statically on the host (cached by content) to hand to a guest job. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export function buildGuestTool(source: string): Buffer {
  const text = readFileSync(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'p2pkit-guest-tools');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${basename(source, '.c')}-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', tmp, source], { stdio: 'pipe' });
    renameSync(tmp, out);
  }
  return readFileSync(out);
}

/** `key=value` lines printed by guest helpers. */
export function kv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m?.[1]) out[m[1]] = m[2] ?? '';
  }
  return out;
}

/** Static C helpers for guest jobs: compiled on the host (gcc -static), cached by content. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * Compile `source` (a single C file) into a static binary and return its bytes, to hand to
 * `guest.run(script, { files: { name: bytes } })`. Rebuilt only when the source changes.
 */
export function buildGuestTool(source: string): Buffer {
  const text = readFileSync(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'p2pkit-guest-tools');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${basename(source, '.c')}-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    try {
      execFileSync('gcc', ['-O2', '-static', '-Wall', '-o', tmp, source], { stdio: 'pipe' });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new Error(`cannot build guest tool ${source}: ${err.stderr?.toString() ?? (e as Error).message}`);
    }
    renameSync(tmp, out);
  }
  return readFileSync(out);
}

/** Shell prefix that installs a tool passed in `files` into the job's working directory. */
export const installTool = (name: string) => `install -m755 "$JOB_IN/${name}" ./${name}`;

/** `key=value` lines printed by guest helpers, as an object. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m?.[1]) out[m[1]] = m[2] ?? '';
  }
  return out;
}

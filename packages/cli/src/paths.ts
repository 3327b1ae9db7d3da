/** Output paths that must never clobber an input: compared after resolving `.`/`..` and symlinks. */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The absolute, symlink-free form of `path` (for a file that does not exist yet, of its folder). */
function canonicalPath(path: string): string {
  const abs = resolve(path);
  if (existsSync(abs)) return realpathSync(abs);
  const dir = dirname(abs);
  return existsSync(dir) ? join(realpathSync(dir), basename(abs)) : abs;
}

/**
 * Throws a one-line error when an output (`{ '--html': path }`) is the input or another output.
 * Checked before anything is read or written.
 */
export function checkOutputs(input: string, outputs: Readonly<Record<string, string | undefined>>): void {
  const inputPath = canonicalPath(input);
  const seen = new Map<string, string>();
  for (const [option, path] of Object.entries(outputs)) {
    if (path === undefined) continue;
    const p = canonicalPath(path);
    if (p === inputPath)
      throw new Error(`refusing to write ${option} ${path}: it is the input trace ${input} (choose another output file)`);
    const other = seen.get(p);
    if (other) throw new Error(`${other} and ${option} name the same file ${path}`);
    seen.set(p, option);
  }
}

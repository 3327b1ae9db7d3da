/** Kernel module dependency resolution from `modules.dep` / `modules.builtin` (no kmod needed). */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** Module name as the kernel sees it: basename without `.ko[.xz|.zst|.gz]`, `-` folded to `_`. */
export function moduleName(path: string): string {
  return basename(path)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replace(/-/g, '_');
}

/** Parsed dependency data of one kernel. */
export class ModuleIndex {
  /** name → relative path (as in modules.dep). */
  readonly paths = new Map<string, string>();
  /** relative path → dependency paths. */
  readonly deps = new Map<string, string[]>();
  /** Names of built-in modules. */
  readonly builtin = new Set<string>();

  /** Parse the text of `modules.dep` and `modules.builtin`. */
  static parse(dep: string, builtin: string): ModuleIndex {
    const idx = new ModuleIndex();
    for (const line of dep.split('\n')) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const path = line.slice(0, colon).trim();
      const deps = line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      idx.paths.set(moduleName(path), path);
      idx.deps.set(path, deps);
    }
    for (const line of builtin.split('\n')) if (line.trim()) idx.builtin.add(moduleName(line.trim()));
    return idx;
  }

  /** Load the index of a module folder (`.../lib/modules/<abi>`). */
  static async load(modulesDir: string): Promise<ModuleIndex> {
    const [dep, builtin] = await Promise.all([
      readFile(join(modulesDir, 'modules.dep'), 'utf8'),
      readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => ''),
    ]);
    return ModuleIndex.parse(dep, builtin);
  }

  /**
   * Relative paths of `names` and all their dependencies, dependencies first (insmod order).
   * Built-in modules are skipped; unknown names throw.
   */
  loadOrder(names: readonly string[]): string[] {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (path: string): void => {
      if (seen.has(path)) return;
      seen.add(path);
      // modules.dep lists the full closure, nearest first; visiting each recursively keeps it correct
      // even if a line were incomplete.
      for (const d of [...(this.deps.get(path) ?? [])].reverse()) visit(d);
      order.push(path);
    };
    for (const raw of names) {
      const name = raw.replace(/-/g, '_');
      if (this.builtin.has(name)) continue;
      const path = this.paths.get(name);
      if (!path) throw new Error(`kernel module ${raw} is neither built in nor in modules.dep`);
      visit(path);
    }
    return order;
  }
}

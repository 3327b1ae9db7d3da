/** Finding, loading and running scenario files: what `p2pkit run <file|folder>` does. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Provisioned, type ProvisionOptions, provision } from '../provision/index.ts';
import type { BootOptions } from '../qemu.ts';
import { isScenario, type Scenario } from './define.ts';
import type { ScenarioEvent, ScenarioResult } from './result.ts';
import { ScenarioSession } from './session.ts';

/** A scenario and the file it came from. */
export interface LoadedScenario {
  readonly file: string;
  readonly scenario: Scenario;
}

/** Scenario files of a folder (recursively): `*.scenario.ts`, sorted. A file path is taken as it is. */
export function findScenarioFiles(path: string): string[] {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`no such scenario file or folder: ${path}`);
  if (!statSync(abs).isDirectory()) return [abs];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) walk(join(dir, e.name));
      else if (e.isFile() && e.name.endsWith('.scenario.ts')) out.push(join(dir, e.name));
    }
  };
  walk(abs);
  if (out.length === 0) throw new Error(`no *.scenario.ts files in ${path}`);
  return out;
}

/** Import each file and take its default export (a `defineScenario()` value). */
export async function loadScenarios(paths: readonly string[]): Promise<LoadedScenario[]> {
  const files = paths.flatMap(findScenarioFiles);
  const loaded: LoadedScenario[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (!isScenario(mod.default))
      throw new Error(`${relative(process.cwd(), file)}: the default export is not a defineScenario(...) value`);
    loaded.push({ file, scenario: mod.default });
  }
  return loaded;
}

/** Options of {@link runScenarios}. */
export interface RunScenariosOptions {
  /** What to boot; default `provision(options.provision)`. */
  provisioned?: Provisioned;
  /** How to provision when `provisioned` is absent (your kernel, your QEMU, cache folder). */
  provision?: ProvisionOptions;
  /** Output folder of the run; default `p2pkit-runs/<timestamp>` in the working directory. */
  outDir?: string;
  /** Extra boot options for every scenario. */
  boot?: Partial<BootOptions>;
  onEvent?: (event: ScenarioEvent) => void;
}

/** `p2pkit-runs/<timestamp>` below `base` (default: the working directory). */
export function defaultRunDir(base = process.cwd()): string {
  return join(base, 'p2pkit-runs', new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, ''));
}

/** A folder name for a scenario: its name in lowercase, `-` for anything but letters and digits. */
function folderName(name: string, taken: Set<string>): string {
  const base =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'scenario';
  let n = base;
  for (let i = 2; taken.has(n); i++) n = `${base}-${i}`;
  taken.add(n);
  return n;
}

/** Run each scenario (one boot each, steps in order) and return every result; failures never throw. */
export async function runScenarios(scenarios: readonly LoadedScenario[], options: RunScenariosOptions = {}): Promise<ScenarioResult[]> {
  const provisioned = options.provisioned ?? (await provision(options.provision));
  const outDir = options.outDir ?? defaultRunDir();
  const taken = new Set<string>();
  const results: ScenarioResult[] = [];
  for (const { file, scenario } of scenarios) {
    const session = await ScenarioSession.start(scenario, {
      provisioned,
      outDir: join(outDir, folderName(scenario.name, taken)),
      file,
      ...(options.boot ? { boot: options.boot } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    try {
      await session.runAll();
    } finally {
      results.push(await session.finish());
    }
  }
  return results;
}

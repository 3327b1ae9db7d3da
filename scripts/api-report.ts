/**
 * API reports: one api-extractor report per package entry point, checked in under
 * packages/<pkg>/api/, so every change to a public API shows up in review.
 *
 *   npx tsx scripts/api-report.ts            check (CI, `npm run api:check`): exit 1 if a report differs,
 *                                            is missing, or belongs to no entry any more
 *   npx tsx scripts/api-report.ts --update   rewrite the reports (`npm run api:update`)
 *   --verbose                                print every api-extractor/TSDoc message, not only counts
 *
 * How it works:
 * 1. One TypeScript emit (tsconfig.api.json, in-process) writes declarations for every package's src/
 *    into .api-build/packages/<pkg>/src/**.d.ts (gitignored; wiped first so no stale file is analysed).
 * 2. The entries are read from each packages/<pkg>/package.json `exports` map ('.', './internal',
 *    './testing', ...; the `source` condition names the .ts file, whose emitted .d.ts is analysed).
 * 3. api-extractor runs in-process once per entry, all entries sharing ONE compiler program
 *    (CompilerState). Cross-package imports (`@p2pkit/*`) are mapped with `paths` to the emitted
 *    .d.ts files so they resolve, and stay external references (`bundledPackages: []`): the
 *    .d.ts files are reached through .api-build/node_modules/<package name> links, so the compiler
 *    flags them as external libraries and api-extractor prints `import { X } from '@p2pkit/base'`
 *    instead of copying base's declarations into every report.
 * 4. Reports are generated into .api-build/reports/ and compared here with packages/<pkg>/api/:
 *    '.' → <pkg>.api.md, './internal' → <pkg>-internal.api.md, './a/b' → <pkg>-a-b.api.md.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  CompilerState,
  Extractor,
  ExtractorConfig,
  ExtractorLogLevel,
  type ExtractorMessage,
  type IConfigFile,
  type IExtractorMessagesConfig,
} from '@microsoft/api-extractor';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..');
const PACKAGES_DIR = join(ROOT, 'packages');
const BUILD_DIR = join(ROOT, '.api-build');
const REPORT_TEMP_DIR = join(BUILD_DIR, 'reports');
const LINKS_DIR = join(BUILD_DIR, 'node_modules');
const TSCONFIG = join(ROOT, 'tsconfig.api.json');

const args = new Set(process.argv.slice(2));
const UPDATE = args.has('--update');
const VERBOSE = args.has('--verbose');
for (const a of args) {
  if (a !== '--update' && a !== '--verbose') {
    console.error(`api-report: unknown argument ${a} (use --update, --verbose)`);
    process.exit(2);
  }
}

const rel = (p: string) => relative(ROOT, p);
const started = performance.now();
/** Wall time, and CPU time of this process (the machine may be busy with other work). */
const elapsed = () => {
  const cpu = process.cpuUsage();
  return `${((performance.now() - started) / 1000).toFixed(1)}s (cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)}s)`;
};

// ---------------------------------------------------------------------------------------------
// 1. Entries from the exports maps

interface PackageInfo {
  dir: string; // absolute packages/<pkg>
  name: string; // @p2pkit/pci
  unscoped: string; // pci
  packageJsonPath: string;
}

interface Entry {
  pkg: PackageInfo;
  subpath: string; // '.', './internal'
  specifier: string; // '@p2pkit/pci', '@p2pkit/pci/internal'
  sourceFile: string; // absolute packages/pci/src/internal.ts
  dtsFile: string; // absolute .api-build/packages/pci/src/internal.d.ts
  reportFileName: string; // pci-internal.api.md
}

type ExportTarget = string | null | ExportTarget[] | { [condition: string]: ExportTarget };

/** The file an exports target names under `condition` (nested conditions and fallbacks arrays included). */
function pickCondition(target: ExportTarget, condition: string): string | undefined {
  if (target === null) return undefined;
  if (typeof target === 'string') return undefined;
  if (Array.isArray(target)) {
    for (const t of target) {
      const found = pickCondition(t, condition);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(target)) {
    if (key === condition && typeof value === 'string') return value;
    const nested = typeof value === 'object' ? pickCondition(value, condition) : undefined;
    if (nested) return nested;
  }
  return undefined;
}

function entrySource(pkgDir: string, target: ExportTarget): string | undefined {
  const source = typeof target === 'string' ? target : pickCondition(target, 'source');
  if (source && /\.(c|m)?tsx?$/.test(source) && !source.endsWith('.d.ts')) return resolve(pkgDir, source);
  // No `source` condition: map a dist/…d.ts `types` target back to src/ (tsconfig.build.json: rootDir src, outDir dist).
  const types = typeof target === 'string' ? target : pickCondition(target, 'types');
  if (types?.endsWith('.d.ts')) {
    const candidate = resolve(pkgDir, types.replace(/^\.\/dist\//, './src/').replace(/\.d\.ts$/, '.ts'));
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const problems: string[] = []; // fatal, printed at the end

function readPackages(): { packages: PackageInfo[]; entries: Entry[] } {
  const packages: PackageInfo[] = [];
  const entries: Entry[] = [];
  for (const dirName of readdirSync(PACKAGES_DIR).sort()) {
    const dir = join(PACKAGES_DIR, dirName);
    const packageJsonPath = join(dir, 'package.json');
    if (!existsSync(packageJsonPath)) continue;
    const json = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { name: string; exports?: ExportTarget };
    const unscoped = json.name.replace(/^@[^/]+\//, '');
    const pkg: PackageInfo = { dir, name: json.name, unscoped, packageJsonPath };
    packages.push(pkg);
    let exportsMap = json.exports;
    if (exportsMap === undefined) {
      problems.push(`${json.name}: package.json has no "exports" map, so no entry to report`);
      continue;
    }
    // `"exports": "./x"` or `"exports": { "source": …, "default": … }` both mean '.'.
    if (
      typeof exportsMap === 'string' ||
      Array.isArray(exportsMap) ||
      exportsMap === null ||
      !Object.keys(exportsMap).some((k) => k.startsWith('.'))
    ) {
      exportsMap = { '.': exportsMap };
    }
    for (const [subpath, target] of Object.entries(exportsMap)) {
      if (subpath === './package.json') continue;
      if (subpath.includes('*')) {
        problems.push(`${json.name}: exports pattern "${subpath}" cannot be reported; list its entries one by one`);
        continue;
      }
      const sourceFile = entrySource(dir, target);
      if (!sourceFile) {
        // A non-TypeScript entry (CSS, JSON, a .js bin …) has no API to report.
        const any = typeof target === 'string' ? target : (pickCondition(target, 'default') ?? pickCondition(target, 'import'));
        if (any && !/\.(c|m)?[jt]sx?$/.test(any)) continue;
        problems.push(`${json.name}: exports "${subpath}" has no "source" condition naming a .ts file`);
        continue;
      }
      const srcRel = relative(ROOT, sourceFile);
      const dtsFile = join(
        BUILD_DIR,
        srcRel.replace(/\.(c|m)?tsx?$/, (ext) => `.d${ext.replace('x', '')}`),
      );
      const suffix = subpath === '.' ? '' : `-${subpath.replace(/^\.\//, '').replace(/[/\\]+/g, '-')}`;
      entries.push({
        pkg,
        subpath,
        specifier: subpath === '.' ? json.name : `${json.name}/${subpath.replace(/^\.\//, '')}`,
        sourceFile,
        dtsFile,
        reportFileName: `${unscoped}${suffix}.api.md`,
      });
    }
  }
  return { packages, entries };
}

// ---------------------------------------------------------------------------------------------
// 2. One declaration emit for all packages

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => ROOT,
  getNewLine: () => '\n',
};

/**
 * Returns the package folders whose declarations could not be emitted (their entries are not reported,
 * other packages still are), or undefined when the emit could not run at all.
 */
function emitDeclarations(packages: PackageInfo[]): Set<string> | undefined {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const configErrors: ts.Diagnostic[] = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(TSCONFIG, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => configErrors.push(d),
  });
  if (!parsed || configErrors.length > 0 || parsed.errors.length > 0) {
    console.error(ts.formatDiagnostics([...configErrors, ...(parsed?.errors ?? [])], formatHost));
    return undefined;
  }
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences });
  // Declaration emit only: type errors in function bodies are `npm run typecheck`'s business (test:all runs it
  // first); what matters here is that every declaration can be written (TS4xxx/TS9xxx errors would break
  // the packages' own dist build too). The 6th argument (forceDtsEmit, internal to TypeScript) lets the
  // emit skip the full type check of each file that a declaration emit otherwise does first: the same
  // .d.ts files in half the time (should a TypeScript release drop it, the emit is just slower).
  const emit = program.emit as (...args: unknown[]) => ts.EmitResult;
  const emitted = emit.call(program, undefined, undefined, undefined, true, undefined, true);
  const diagnostics = [...program.getOptionsDiagnostics(), ...program.getSyntacticDiagnostics(), ...emitted.diagnostics];
  const failed = new Set<string>();
  if (diagnostics.length > 0) {
    console.error(
      process.stderr.isTTY
        ? ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost)
        : ts.formatDiagnostics(diagnostics, formatHost),
    );
    for (const d of diagnostics) {
      const pkg = d.file && packages.find((p) => !relative(p.dir, d.file!.fileName).startsWith('..'));
      if (!pkg) {
        console.error('api-report: the declaration emit (tsconfig.api.json) failed; see above.');
        return undefined;
      }
      failed.add(pkg.dir);
    }
    for (const dir of failed) {
      const pkg = packages.find((p) => p.dir === dir)!;
      const count = diagnostics.filter((d) => d.file && !relative(dir, d.file.fileName).startsWith('..')).length;
      problems.push(`${pkg.name}: ${count} declaration emit error(s) (listed above), so its entries were not reported; fix the sources`);
    }
  }
  // The emitted tree is ESM like the sources (no package.json in .api-build would fall back to the root's "type").
  writeFileSync(join(BUILD_DIR, 'package.json'), '{ "type": "module", "private": true }\n');
  return failed;
}

/**
 * .api-build/node_modules/<package name> → .api-build/packages/<pkg>: `paths` point through these links so the
 * compiler resolves `@p2pkit/*` to a path inside a node_modules folder, which it marks as an external library
 * import — that is what api-extractor reads to keep another package's declarations out of a report.
 */
function linkPackages(packages: PackageInfo[]): void {
  for (const pkg of packages) {
    const link = join(LINKS_DIR, pkg.name);
    mkdirSync(dirname(link), { recursive: true });
    if (existsSync(link)) unlinkSync(link);
    symlinkSync(join(BUILD_DIR, rel(pkg.dir)), link, 'dir');
  }
}

// ---------------------------------------------------------------------------------------------
// 3. api-extractor, in-process, one shared program

/** tsconfig.base.json's compilerOptions as written (JSON with comments allowed). */
const baseOptions = (ts.readConfigFile(join(ROOT, 'tsconfig.base.json'), ts.sys.readFile).config?.compilerOptions ?? {}) as Record<
  string,
  unknown
>;

/** `paths` cover every emitted entry (a package whose own report failed still resolves for its dependents). */
function overrideTsconfig(pathEntries: Entry[], files: Entry[]): Record<string, unknown> {
  const paths: Record<string, string[]> = {};
  for (const e of pathEntries) {
    const viaLink = join(LINKS_DIR, e.pkg.name, relative(e.pkg.dir, e.sourceFile)).replace(
      /\.(c|m)?tsx?$/,
      (ext) => `.d${ext.replace('x', '')}`,
    );
    paths[e.specifier] = [viaLink];
  }
  return {
    compilerOptions: {
      target: baseOptions.target ?? 'ES2022',
      // Symbol.dispose / Disposable and friends come from the project's lib list (ESNext.Disposable).
      lib: baseOptions.lib ?? ['ES2023', 'ESNext.Disposable'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      skipLibCheck: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      // Keep the node_modules link paths (see linkPackages) instead of resolving them to .api-build/packages.
      preserveSymlinks: true,
      types: baseOptions.types ?? ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      paths,
    },
    files: files.map((e) => e.dtsFile),
  };
}

const messages: IExtractorMessagesConfig = {
  compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
  extractorMessageReporting: {
    // Whatever api-extractor finds wrong with a public API is listed in the report, where review sees it.
    default: { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: true },
    'ae-forgotten-export': { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: true },
    // We use no release tags (@public/@beta/...).
    'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
    'ae-undocumented': { logLevel: ExtractorLogLevel.None },
    // A broken {@link} is a documentation matter: counted and shown with --verbose, not part of the API.
    'ae-unresolved-link': { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: false },
    'ae-wrong-input-file-type': { logLevel: ExtractorLogLevel.Error },
  },
  // TSDoc syntax (our comments are JSDoc-flavoured): counted and shown with --verbose, never fatal.
  tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning, addToApiReportFile: false } },
};

function extractorConfigFor(entry: Entry, tsconfig: Record<string, unknown>): ExtractorConfig {
  const tempFolder = join(REPORT_TEMP_DIR, entry.pkg.unscoped);
  const configObject: IConfigFile = {
    projectFolder: ROOT,
    mainEntryPointFilePath: entry.dtsFile,
    bundledPackages: [],
    newlineKind: 'lf',
    compiler: { overrideTsconfig: tsconfig, skipLibCheck: true },
    // Written to and compared against the temp folder only; this script compares with packages/<pkg>/api itself.
    apiReport: {
      enabled: true,
      reportFileName: entry.reportFileName,
      reportFolder: tempFolder,
      reportTempFolder: tempFolder,
      includeForgottenExports: false,
    },
    docModel: { enabled: false },
    dtsRollup: { enabled: false },
    tsdocMetadata: { enabled: false },
    messages,
  };
  return ExtractorConfig.prepare({
    configObject,
    configObjectFullPath: undefined,
    packageJsonFullPath: entry.pkg.packageJsonPath,
  });
}

interface Collected {
  errors: string[];
  warnings: Map<string, string[]>; // messageId → formatted messages
}

function formatMessage(m: ExtractorMessage): string {
  const where = m.sourceFilePath
    ? `${rel(m.sourceFilePath)}${m.sourceFileLine ? `:${m.sourceFileLine}:${m.sourceFileColumn ?? 1}` : ''}: `
    : '';
  return `${where}(${m.messageId}) ${m.text}`;
}

/**
 * api-extractor names the file of a warning it cannot attach to an API item (the "Warnings were
 * encountered during analysis" list at the end) by absolute path and line. Make that
 * `packages/<pkg>/src/<file>.d.ts`, without line and column, so a report does not depend on the
 * checkout's folder nor change when unrelated lines above move.
 */
function normalizeReport(text: string): string {
  const escapeRegExp = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text
    .replace(/\r\n/g, '\n')
    .replace(new RegExp(`${escapeRegExp(BUILD_DIR + sep)}(\\S+?\\.d\\.[cm]?ts)(?::\\d+:\\d+)?`, 'g'), (_, file: string) =>
      file.split(sep).join('/'),
    )
    .replaceAll(ROOT + sep, '');
}

function runExtractor(entry: Entry, config: ExtractorConfig, compilerState: CompilerState): Collected & { report: string | undefined } {
  const collected: Collected = { errors: [], warnings: new Map() };
  const reportPath = join(REPORT_TEMP_DIR, entry.pkg.unscoped, entry.reportFileName);
  rmSync(reportPath, { force: true });
  let result: ReturnType<typeof Extractor.invoke> | undefined;
  try {
    result = Extractor.invoke(config, {
      compilerState,
      localBuild: true,
      showVerboseMessages: false,
      messageCallback: (m) => {
        m.handled = true;
        if (m.category === 'console') {
          // api-extractor's own chatter ("API report created" etc. on the temp folder) is noise here;
          // keep only its warnings and errors.
          if (m.messageId === 'console-api-report-created' || m.messageId === 'console-api-report-copied') return;
          if (m.logLevel !== 'error' && m.logLevel !== 'warning') return;
        }
        if (m.logLevel === 'error') collected.errors.push(formatMessage(m));
        else if (m.logLevel === 'warning') {
          const list = collected.warnings.get(m.messageId) ?? [];
          list.push(formatMessage(m));
          collected.warnings.set(m.messageId, list);
        }
      },
    });
  } catch (error) {
    collected.errors.push(`api-extractor threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  if (result && result.errorCount > 0 && collected.errors.length === 0)
    collected.errors.push(`api-extractor reported ${result.errorCount} error(s)`);
  const report = existsSync(reportPath) ? normalizeReport(readFileSync(reportPath, 'utf8')) : undefined;
  if (report === undefined && collected.errors.length === 0) collected.errors.push('api-extractor wrote no report');
  return { ...collected, report };
}

// ---------------------------------------------------------------------------------------------
// 4. Compare / update

/**
 * The changed lines (-checked in, +now), at most `maxLines` of them: a hint of what moved;
 * `npm run api:update` then `git diff` shows the rest.
 */
function diffHint(expected: string, actual: string, maxLines = 20): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // Trim the common head and tail, then a line LCS on what is left (small for a real API change).
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  const out: string[] = [];
  if (x.length * y.length > 4_000_000) {
    out.push(...x.map((l) => `- ${l}`), ...y.map((l) => `+ ${l}`));
  } else {
    // lcs[i][j]: LCS length of x[i..] and y[j..]
    const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) {
        lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        i++;
        j++;
      } else if (i < x.length && (j === y.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`- ${x[i++]}`);
      else out.push(`+ ${y[j++]}`);
    }
  }
  const shown = out.slice(0, maxLines).map((l) => `    ${l}`);
  if (out.length > maxLines) shown.push(`    … ${out.length - maxLines} more changed lines`);
  return [`    (first change at line ${start + 1})`, ...shown].join('\n');
}

function main(): number {
  const { packages, entries } = readPackages();
  console.log(`api-report: ${entries.length} entries in ${packages.length} packages (${UPDATE ? 'update' : 'check'} mode)`);

  const failedPackages = emitDeclarations(packages);
  if (!failedPackages) return 1;
  const emitDone = elapsed();
  for (const e of entries) {
    if (!failedPackages.has(e.pkg.dir) && !existsSync(e.dtsFile)) {
      problems.push(`${e.specifier}: ${rel(e.sourceFile)} emitted no ${rel(e.dtsFile)} (is it under packages/*/src/?)`);
    }
  }
  const runnable = entries.filter((e) => !failedPackages.has(e.pkg.dir) && existsSync(e.dtsFile));
  linkPackages(packages);

  const tsconfig = overrideTsconfig(
    entries.filter((e) => existsSync(e.dtsFile)),
    runnable,
  );
  const configs = new Map<Entry, ExtractorConfig>();
  for (const e of runnable) {
    try {
      configs.set(e, extractorConfigFor(e, tsconfig));
    } catch (error) {
      problems.push(`${e.specifier}: api-extractor rejected its config: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const firstConfig = configs.values().next().value;
  let compilerState: CompilerState | undefined;
  try {
    if (firstConfig)
      compilerState = CompilerState.create(firstConfig, { additionalEntryPoints: [...configs.keys()].map((e) => e.dtsFile) });
  } catch (error) {
    console.error(
      `api-report: api-extractor could not build its compiler program: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
  const programDone = elapsed();

  const changed: string[] = [];
  const expectedFiles = new Set<string>();
  let warningTotal = 0;
  for (const [entry, config] of configs) {
    const { errors, warnings, report } = runExtractor(entry, config, compilerState!);
    const target = join(entry.pkg.dir, 'api', entry.reportFileName);
    expectedFiles.add(target);
    const counts = [...warnings].map(([id, list]) => `${list.length} ${id}`).join(', ');
    for (const list of warnings.values()) warningTotal += list.length;
    const label = `${entry.specifier} → ${rel(target)}`;
    if (errors.length > 0) {
      problems.push(`${label}: api-extractor failed:\n    ${errors.join('\n    ')}`);
      continue;
    }
    if (VERBOSE) for (const list of warnings.values()) for (const w of list) console.log(`    warning ${w}`);
    const current = existsSync(target) ? readFileSync(target, 'utf8').replace(/\r\n/g, '\n') : undefined;
    let status: string;
    if (current === report) status = 'unchanged';
    else if (UPDATE) {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, report!);
      status = current === undefined ? 'created' : 'updated';
    } else if (current === undefined) {
      status = 'MISSING';
      changed.push(`${label}: no checked-in report for this entry`);
    } else {
      status = 'CHANGED';
      changed.push(`${label}: the public API differs from the checked-in report\n${diffHint(current, report!)}`);
    }
    console.log(`  ${status.padEnd(9)} ${label}${counts ? `  [warnings: ${counts}]` : ''}`);
  }

  // Reports that belong to no entry any more (an entry or package was removed or renamed).
  for (const pkg of packages) {
    const apiDir = join(pkg.dir, 'api');
    if (!existsSync(apiDir)) continue;
    for (const f of readdirSync(apiDir)) {
      const file = join(apiDir, f);
      if (!f.endsWith('.api.md') || expectedFiles.has(file)) continue;
      // An entry that failed above keeps its report; it is already a problem.
      if (entries.some((e) => join(e.pkg.dir, 'api', e.reportFileName) === file)) continue;
      if (UPDATE) {
        rmSync(file);
        console.log(`  removed   ${rel(file)} (no such entry in ${pkg.name}'s exports)`);
      } else changed.push(`${rel(file)}: report for an entry that ${pkg.name}'s exports no longer has`);
    }
  }

  console.log(
    `api-report: timings (since start): declarations emitted ${emitDone}, analysis program ${programDone}, ${configs.size} reports done ${elapsed()}${warningTotal ? `, ${warningTotal} warnings (--verbose lists them)` : ''}`,
  );
  if (problems.length > 0) {
    console.error(`\napi-report: ${problems.length} problem(s), reports not written for what they name:`);
    for (const p of problems) console.error(`  ${p}`);
  }
  if (changed.length > 0) {
    console.error(`\napi-report: ${changed.length} API report(s) out of date:`);
    for (const c of changed) console.error(`  ${c}`);
    console.error(
      '\nA public API changed: run `npm run api:update` and review the diff of packages/*/api/*.api.md (commit it with the change).',
    );
  }
  return problems.length > 0 || changed.length > 0 ? 1 : 0;
}

process.exitCode = main();

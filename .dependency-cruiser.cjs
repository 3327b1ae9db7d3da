// Layer rules for the p2pkit packages, checked by test/repo/layers.test.ts (part of `npm test`).
//
// Layer order, bottom → top. A package's src may import only packages on a LOWER level;
// packages on the same level may not import each other. @p2pkit/base is the bottom: it imports
// no other p2pkit package and every package may import it. A package listed here whose folder
// does not exist (yet) is fine: the rules are plain path patterns.
//
// Imports are mapped by package folder (folder name = package name without the @p2pkit/ scope):
// `@p2pkit/pci` resolves (through the `source` export condition, symlinks preserved) to
// node_modules/@p2pkit/pci/src/index.ts, a relative import to packages/pci/src/…; the layer rules
// match both. Preserving the workspace symlinks also makes dependency-cruiser classify a
// `@p2pkit/*` import by the importing package's package.json (npm / npm-dev / npm-no-pkg), so the
// devDependency and undeclared-dependency rules cover workspace packages too. Modules under
// node_modules are not followed, so each package's src is cruised on its own; a cycle through two
// packages always contains an upward or same-level import, which the layer rules report.
//
// Run by hand: npx depcruise --config .dependency-cruiser.cjs packages/*/src

/** @type {string[][]} */
const LAYERS = [['base'], ['native'], ['vfio-user'], ['pci'], ['fabric'], ['nvme', 'devices'], ['testbed'], ['cli']];

/** @param {string} s */
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
/**
 * The folder of each named package, whether reached by a relative path (packages/<name>/) or by its
 * package name through the workspace symlink (node_modules/@p2pkit/<name>/, see preserveSymlinks).
 * @param {string[]} names
 */
const folders = (names) => `^(packages|node_modules/@p2pkit)/(${names.map(escape).join('|')})/`;

/** One rule per package: it may not import its own level's siblings nor anything above. */
const layerRules = LAYERS.flatMap((level, i) =>
  level.flatMap((pkg) => {
    const notBelow = LAYERS.slice(i).flat().filter((other) => other !== pkg);
    if (notBelow.length === 0) return [];
    return [
      {
        name: `layer-${pkg}`,
        comment: `@p2pkit/${pkg} (level ${i}) may import only packages below it: ${LAYERS.slice(0, i).flat().join(', ') || 'none'}`,
        severity: 'error',
        from: { path: `^packages/${escape(pkg)}/src/` },
        to: { path: folders(notBelow) },
      },
    ];
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-relative-cross-package',
      comment: "Another package is imported by its name ('@p2pkit/x'), never by a relative path into its folder.",
      severity: 'error',
      from: { path: '^packages/([^/]+)/src/' },
      to: { path: '^packages/', pathNot: '^packages/$1/', dependencyTypes: ['local'] },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles (also within a package, also type-only ones).',
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-to-test',
      comment: "A package's src may not import test files (its own test/ folder or any other).",
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: ['^packages/[^/]+/test/', '\\.test\\.ts$', '^test/'] },
    },
    {
      name: 'src-not-to-dev-dep',
      comment: "A package's src may not import its devDependencies (they are not installed for consumers).",
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'src-not-to-undeclared',
      comment: "A package's src may import only packages declared in its package.json.",
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve.',
      severity: 'error',
      from: { path: '^packages/[^/]+/src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    // Type-only imports count: an upward `import type` is still an upward dependency.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['source', 'import', 'node', 'default'],
      mainFields: ['module', 'main'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    // Keep `@p2pkit/x` as node_modules/@p2pkit/x/… (see the header comment).
    preserveSymlinks: true,
  },
};

// Not part of the configuration (hence not enumerable): the layer table, for test/repo/layers.test.ts.
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });

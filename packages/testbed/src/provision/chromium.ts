/**
 * Chromium's headless shell from Debian sid in a private tree, for checking p2pkit's HTML reports
 * in a real browser (playwright-core / puppeteer-core take the `executable`). Nothing is installed
 * on the host: mmdebstrap (`--variant=extract`) unpacks `chromium-headless-shell`, its shared
 * libraries, a font and patchelf into `$CACHE/chromium/sysroot`; the browser binaries get the
 * sysroot's dynamic loader as their interpreter (so the sub-processes Chromium re-executes from
 * /proc/self/exe work too) and a wrapper script sets the library path and a private fontconfig.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverMirror } from './apt.ts';
import { isStamped, resolveCacheDir, stamp } from './cache.ts';
import { run } from './exec.ts';
import { acquireLock } from './lock.ts';
import { consoleReporter, type ProgressListener, step } from './progress.ts';
import { ensureTools, mmdebstrap } from './tools.ts';

/** Debian packages of the browser tree (their dependencies come along). */
const CHROMIUM_PACKAGES = ['chromium-headless-shell', 'fonts-dejavu-core', 'patchelf'];
const BROWSER_DIR = ['usr', 'lib', 'chromium'];
const PATCHED = ['chromium-headless-shell', 'chrome_crashpad_handler'];

/** Options of {@link provisionChromium}. */
export interface ChromiumOptions {
  /** Cache folder, as for `provision()`. */
  cacheDir?: string;
  /** Rebuild even if a browser is cached. */
  refresh?: boolean;
  /** Progress callback (default {@link consoleReporter}). */
  onProgress?: ProgressListener;
  /** How long to wait for another process provisioning the browser (default 10 minutes). */
  lockTimeoutMs?: number;
}

/** A runnable headless Chromium. */
export interface ChromiumInstall {
  /** Wrapper script: pass it as `executablePath` to playwright-core or puppeteer-core. */
  executable: string;
  /** e.g. `Chromium 142.0.7444.59` (what `--version` prints). */
  version: string;
  sysroot: string;
  /** True when the cached browser was used as is. */
  fromCache: boolean;
}

/** Provision (or reuse) headless Chromium in the cache; safe to call concurrently from several processes. */
export async function provisionChromium(options: ChromiumOptions = {}): Promise<ChromiumInstall> {
  const report = options.onProgress ?? consoleReporter;
  const cacheDir = resolveCacheDir(options.cacheDir);
  const dir = join(cacheDir, 'chromium');
  const cached = (): ChromiumInstall | undefined => {
    const executable = join(dir, 'bin', 'chromium');
    if (options.refresh || !isStamped(dir) || !existsSync(executable)) return undefined;
    const version = (JSON.parse(readFileSync(join(dir, '.done'), 'utf8')) as { version?: string }).version ?? 'unknown';
    return { executable, version, sysroot: join(dir, 'sysroot'), fromCache: true };
  };
  const quick = cached();
  if (quick) return quick;
  await mkdir(cacheDir, { recursive: true });
  const release = await acquireLock(join(cacheDir, 'chromium.lock'), options.lockTimeoutMs ?? 600_000, (pid) =>
    report({ step: 'chromium', status: 'info', message: `waiting for provisioner pid ${pid}` }),
  );
  try {
    const again = cached(); // another process may have finished meanwhile
    if (again) return again;
    const install = await step(
      report,
      'chromium',
      `headless Chromium from Debian sid (${CHROMIUM_PACKAGES.join(', ')})`,
      () => build(cacheDir, dir),
      () => [join(dir, 'sysroot', 'var', 'cache', 'apt', 'archives')],
    );
    return install;
  } finally {
    release();
  }
}

async function build(cacheDir: string, dir: string): Promise<ChromiumInstall> {
  await rm(join(dir, '.done'), { force: true });
  await mkdir(dir, { recursive: true }); // mmdebstrap needs the target's parent
  const sysroot = join(dir, 'sysroot');
  const tools = await ensureTools(join(cacheDir, 'tools'));
  await mmdebstrap(tools, {
    suite: 'sid',
    mirror: await discoverMirror(),
    target: sysroot,
    include: CHROMIUM_PACKAGES,
    variant: 'extract',
    exclude: ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*', '/usr/share/info/*'],
  });
  const lib = join(sysroot, 'usr', 'lib', 'x86_64-linux-gnu');
  const loader = join(lib, 'ld-linux-x86-64.so.2');
  if (!existsSync(loader)) throw new Error(`no dynamic loader in the browser tree (${loader})`);
  // Every folder of shared objects in the tree (pulseaudio keeps its private library in a subfolder).
  const libDirs = [
    lib,
    ...readdirSync(lib, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(lib, d.name)),
  ].filter((d) => readdirSync(d).some((f) => /\.so(\.|$)/.test(f)));
  const libraryPath = libDirs.join(':');
  const browser = join(sysroot, ...BROWSER_DIR);
  for (const name of PATCHED) {
    if (!existsSync(join(browser, name))) continue;
    await run([
      loader,
      '--library-path',
      libraryPath,
      join(sysroot, 'usr', 'bin', 'patchelf'),
      '--set-interpreter',
      loader,
      join(browser, name),
    ]);
  }
  const fontsConf = join(dir, 'fonts.conf');
  await writeFile(
    fontsConf,
    `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><dir>${join(sysroot, 'usr', 'share', 'fonts')}</dir><cachedir>${join(dir, 'fontconfig-cache')}</cachedir></fontconfig>\n`,
  );
  const executable = join(dir, 'bin', 'chromium');
  await mkdir(join(dir, 'bin'), { recursive: true });
  await writeFile(
    executable,
    `#!/bin/sh
# Generated by @p2pkit/testbed: Debian sid's chromium-headless-shell from a private tree, nothing installed.
export LD_LIBRARY_PATH='${libraryPath}'
export FONTCONFIG_FILE='${fontsConf}'
exec '${join(browser, 'chromium-headless-shell')}' "$@"
`,
  );
  await chmod(executable, 0o755);
  const version = (await run([executable, '--version'], { timeoutMs: 60_000 })).stdout.trim() || 'unknown';
  await stamp(dir, { version, packages: CHROMIUM_PACKAGES });
  return { executable, version, sysroot, fromCache: false };
}

/**
 * Chromium's headless shell from Debian sid in a private tree, for checking p2pkit's HTML reports
 * in a real browser (playwright-core / puppeteer-core take the `executable`). Nothing is installed
 * on the host: a private apt state for sid resolves `chromium-headless-shell`, a font and patchelf
 * with all their dependencies, `apt-get download` fetches them and `dpkg-deb -x` unpacks them into
 * `$CACHE/chromium/sysroot` — without mesa's GPU drivers (LLVM and friends, ~60% of the tree):
 * headless Chromium renders on the CPU and only links libgbm, which does not need them. The browser
 * binaries get the sysroot's dynamic loader as their interpreter (so the sub-processes Chromium
 * re-executes from /proc/self/exe work too) and a wrapper script sets the library path and a
 * private fontconfig.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverMirror, extractDeb, PrivateApt } from './apt.ts';
import { isStamped, resolveCacheDir, stamp } from './cache.ts';
import { run } from './exec.ts';
import { acquireLock } from './lock.ts';
import { consoleReporter, type ProgressListener, step } from './progress.ts';

/** Debian packages of the browser tree (their dependencies come along). */
const CHROMIUM_PACKAGES = ['chromium-headless-shell', 'fonts-dejavu-core', 'patchelf'];
const BROWSER_DIR = ['usr', 'lib', 'chromium'];
const PATCHED = ['chromium-headless-shell', 'chrome_crashpad_handler'];
/** Dependencies left out: mesa's gallium drivers and what only they pull in (a DRM GPU is never used). */
const SKIPPED = /^(mesa-libgallium|libllvm\d+|libz3-\d+|libclang-cpp\d+)$/;

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
      // apt-get download fetches into the apt cache's partial/ and copies finished files to debs/.
      () => [join(cacheDir, 'apt', 'chromium-sid', 'cache', 'archives'), join(dir, 'debs')],
    );
    return install;
  } finally {
    release();
  }
}

async function build(cacheDir: string, dir: string): Promise<ChromiumInstall> {
  await rm(join(dir, '.done'), { force: true });
  await mkdir(dir, { recursive: true });
  const sysroot = join(dir, 'sysroot');
  const debs = join(dir, 'debs');
  await rm(sysroot, { recursive: true, force: true });
  await rm(debs, { recursive: true, force: true });
  await mkdir(debs, { recursive: true });
  // Its own apt state: the QEMU provisioner may be using the testbed's sid state at the same time.
  const apt = new PrivateApt(join(cacheDir, 'apt', 'chromium-sid'), 'sid');
  await apt.update(await discoverMirror());
  const specs = (await resolveClosure(apt)).filter((s) => !SKIPPED.test(s.split('=')[0] as string));
  try {
    await run(['apt-get', ...apt.options, 'download', ...specs], { cwd: debs, timeoutMs: 900_000 });
  } catch (e) {
    throw new Error(`download of the browser packages failed: ${(e as Error).message.split('\n').slice(-4).join(' ')}`);
  }
  const files = readdirSync(debs).filter((f) => f.endsWith('.deb'));
  if (files.length !== specs.length) throw new Error(`apt-get download fetched ${files.length} of ${specs.length} packages`);
  // Two unpackers at a time: xz decompression is the slow part and the machine has two cores.
  const queue = [...files];
  await Promise.all(
    [0, 1].map(async () => {
      for (let f = queue.shift(); f; f = queue.shift()) await extractDeb(join(debs, f), sysroot);
    }),
  );
  await rm(debs, { recursive: true, force: true });
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
  await stamp(dir, { version, packages: CHROMIUM_PACKAGES, unpacked: specs.length });
  return { executable, version, sysroot, fromCache: false };
}

/** `name=version` of the packages and every dependency, as apt would install them on an empty system. */
async function resolveClosure(apt: PrivateApt): Promise<string[]> {
  const r = await run(['apt-get', ...apt.options, '-s', '-o', 'APT::Install-Recommends=false', 'install', ...CHROMIUM_PACKAGES], {
    timeoutMs: 120_000,
  });
  const specs = [...r.stdout.matchAll(/^Inst (\S+) \((\S+)/gm)].map((m) => `${m[1]}=${m[2]}`);
  if (!specs.some((s) => s.startsWith('chromium-headless-shell=')))
    throw new Error(`apt cannot install chromium-headless-shell from sid:\n${r.stdout.slice(-500)}`);
  return specs;
}

/**
 * Bring your own kernel: a kernel image with its modules folder, or a built kernel tree. Its
 * configuration is found and checked first (every missing option listed with its fix, before
 * anything is built); then its modules go into a guest root image and initramfs built the way the
 * testbed builds them for sid's kernel, cached per kernel build.
 */
import { existsSync, statSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { shortHash, stamp, stampMatches } from './cache.ts';
import { run } from './exec.ts';
import { buildHelpers, buildRootImage, ROOT_IMAGE_FORMAT } from './guest-rootfs.ts';
import { buildInitramfs } from './initramfs.ts';
import {
  KernelConfigError,
  type MissingOption,
  missingKernelOptions,
  parseKernelConfig,
  REQUIRED_KERNEL_OPTIONS,
} from './kernel-config.ts';
import { bzImageRelease, extractIkconfig, moduleIkconfig } from './kernel-image.ts';
import type { HostTools } from './tools.ts';

/** A kernel you bring: an image (+ its modules folder), or a built kernel tree. */
export type KernelSource =
  | {
      /** bzImage / vmlinuz. */
      image: string;
      /** `/lib/modules/<release>` of that build (or an `INSTALL_MOD_PATH` holding `lib/modules/<release>`). */
      modules?: string;
      /** The build's `.config`; found next to the image, in the modules folder or in the image otherwise. */
      config?: string;
    }
  | {
      /** A built Linux tree (`make bzImage modules` done): arch/x86/boot/bzImage, .config, modules. */
      tree: string;
      config?: string;
    };

/** A kernel whose configuration passed the check. */
export interface InspectedKernel {
  image: string;
  /** `uname -r` of the kernel. */
  release: string;
  /** The modules folder (`…/lib/modules/<release>`), when modules come from a folder. */
  modulesDir?: string;
  /** A tree whose modules are installed with `make modules_install`. */
  tree?: string;
  /** Where the configuration was read. */
  configSource: string;
  config: Map<string, string>;
}

/** The modules folder of a release inside `dir` (dir itself, or dir/[usr/]lib/modules/<release>). */
function releaseDir(dir: string, release: string | undefined): string {
  if (existsSync(join(dir, 'modules.dep')) || existsSync(join(dir, 'kernel'))) return dir;
  for (const base of [join(dir, 'lib', 'modules'), join(dir, 'usr', 'lib', 'modules')]) {
    if (!existsSync(base)) continue;
    if (release && existsSync(join(base, release))) return join(base, release);
  }
  return dir;
}

async function findConfig(
  image: string,
  release: string,
  modulesDir: string | undefined,
  explicit: string | undefined,
  tree: string | undefined,
) {
  const files = [
    explicit,
    tree && join(tree, '.config'),
    modulesDir && join(modulesDir, 'config'),
    modulesDir && join(modulesDir, 'build', '.config'),
    join(dirname(image), `config-${release}`),
    join(dirname(image), basename(image).replace(/^(vmlinuz|bzImage)/, 'config')),
  ].filter((f): f is string => !!f);
  for (const f of files) if (existsSync(f) && statSync(f).isFile()) return { text: await readFile(f, 'utf8'), source: f };
  const embedded = await extractIkconfig(image);
  if (embedded) return { text: embedded, source: `${image} (CONFIG_IKCONFIG)` };
  const module = modulesDir ? await moduleIkconfig(modulesDir) : undefined;
  if (module) return { text: module, source: `${modulesDir}/kernel/kernel/configs.ko` };
  throw new Error(
    `cannot find the configuration of kernel ${image}: looked at ${files.join(', ')} and for CONFIG_IKCONFIG in the image — pass its .config (--kernel-config)`,
  );
}

/** Find the image, release, modules and configuration, and check the configuration (throws `KernelConfigError`). */
export async function inspectKernel(source: KernelSource): Promise<InspectedKernel> {
  const tree = 'tree' in source ? source.tree : undefined;
  const image = tree ? join(tree, 'arch', 'x86', 'boot', 'bzImage') : 'image' in source ? source.image : '';
  if (!existsSync(image))
    throw new Error(tree ? `${image} missing: build the tree first (make bzImage modules)` : `kernel image ${image} not found`);
  const fromImage = bzImageRelease(await readFile(image));
  const fromTree =
    tree && existsSync(join(tree, 'include/config/kernel.release'))
      ? (await readFile(join(tree, 'include/config/kernel.release'), 'utf8')).trim()
      : undefined;
  const given = 'modules' in source && source.modules ? source.modules : undefined;
  if (given && !existsSync(given)) throw new Error(`modules folder ${given} not found`);
  const modulesDir = given ? releaseDir(given, fromImage) : undefined;
  const release = fromTree ?? fromImage ?? (modulesDir ? basename(modulesDir) : undefined);
  if (!release) throw new Error(`cannot read the kernel release of ${image} (not an x86 bzImage?)`);
  if (modulesDir && basename(modulesDir) !== release) {
    throw new Error(`kernel ${image} is release ${release}, but the modules folder ${modulesDir} is for ${basename(modulesDir)}`);
  }
  const { text, source: configSource } = await findConfig(image, release, modulesDir, source.config, tree);
  const config = parseKernelConfig(text);
  const missing: MissingOption[] = missingKernelOptions(text);
  if (!modulesDir && !tree) {
    // Options built as modules need the modules folder: without it only built-ins exist in the guest.
    for (const option of REQUIRED_KERNEL_OPTIONS) {
      if (config.get(option.name) === 'm') {
        missing.push({
          option: { ...option, need: 'y', menu: `${option.menu} — or give the modules folder (--modules <dir>)` },
          found: 'm',
        });
      }
    }
  }
  if (missing.length > 0) throw new KernelConfigError(configSource, missing);
  return { image, release, ...(modulesDir ? { modulesDir } : {}), ...(tree ? { tree } : {}), configSource, config };
}

/** What a custom kernel boots with. */
interface CustomKernelBuild {
  vmlinuz: string;
  modulesDir: string | undefined;
  rootImage: string;
  initramfs: string;
}

const KEEP_BUILDS = 3;

/** Build (or reuse) the root image and initramfs for `k` below `<cache>/custom-kernel/`. Call with the provision lock held. */
export async function buildCustomKernel(
  cacheDir: string,
  k: InspectedKernel,
  base: { rootfs: string; guestInputsHash: string },
  tools: HostTools,
): Promise<CustomKernelBuild> {
  const stat = (p: string | undefined) => (p && existsSync(p) ? `${p}:${statSync(p).size}:${statSync(p).mtimeMs}` : '-');
  const key = shortHash(
    stat(k.image),
    stat(k.modulesDir && join(k.modulesDir, 'modules.dep')),
    stat(k.modulesDir),
    k.tree ?? '',
    base.rootfs,
    base.guestInputsHash,
    ROOT_IMAGE_FORMAT,
  );
  const root = join(cacheDir, 'custom-kernel');
  const dir = join(root, `${k.release.replace(/[^A-Za-z0-9.+_-]/g, '_')}-${key}`);
  const rootImage = join(dir, 'root.ext4');
  const initramfs = join(dir, 'initramfs.cpio.gz');
  let modulesDir = k.modulesDir;
  const installed = join(dir, 'modules', 'lib', 'modules', k.release);
  if (k.tree && k.config.get('MODULES') === 'y') modulesDir = installed;
  else if (modulesDir && !existsSync(join(modulesDir, 'modules.dep'))) modulesDir = installed;
  if (stampMatches(dir, 'key', key)) return { vmlinuz: k.image, modulesDir, rootImage, initramfs };

  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (k.tree && modulesDir === installed) {
    // DEPMOD: the host has no kmod; the testbed's extracted one does the job.
    await run(['make', '-s', '-C', k.tree, 'modules_install', `INSTALL_MOD_PATH=${join(dir, 'modules')}`, `DEPMOD=${tools.depmod}`], {
      timeoutMs: 1_800_000,
    });
  } else if (k.modulesDir && modulesDir === installed) {
    await cp(k.modulesDir, installed, { recursive: true });
    await run([tools.depmod, '-b', join(dir, 'modules'), k.release]);
  }
  const bins = await buildHelpers(join(dir, 'bin'));
  if (modulesDir) await buildRootImage(base.rootfs, { abi: k.release, modulesDir }, bins, `${rootImage}.tmp`);
  else await buildRootImage(base.rootfs, { abi: k.release, modulesDir: await emptyModules(dir, k.release) }, bins, `${rootImage}.tmp`);
  await rename(`${rootImage}.tmp`, rootImage);
  await buildInitramfs(join(base.rootfs, 'bin', 'busybox'), modulesDir, initramfs);
  await stamp(dir, { key, release: k.release, image: k.image });
  await pruneOld(root, dir);
  return { vmlinuz: k.image, modulesDir, rootImage, initramfs };
}

/** An empty `/lib/modules/<release>` for a kernel without modules (everything the guest needs is built in). */
async function emptyModules(dir: string, release: string): Promise<string> {
  const m = join(dir, 'modules', 'lib', 'modules', release);
  await mkdir(m, { recursive: true });
  return m;
}

async function pruneOld(root: string, keep: string): Promise<void> {
  const dirs = (await readdir(root)).map((d) => join(root, d)).filter((d) => d !== keep);
  dirs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const d of dirs.slice(KEEP_BUILDS - 1)) await rm(d, { recursive: true, force: true });
}

/**
 * The guest kernel: Debian sid's stock kernel, resolved from the `linux-image-amd64` metapackage
 * (testbed.md §5), checked for P2PDMA and given a `modules.dep` (§6).
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extractDeb, type PrivateApt } from './apt.ts';
import { stamp, stampMatches } from './cache.ts';
import { run } from './exec.ts';
import { assertKernelConfig } from './kernel-config.ts';
import type { HostTools } from './tools.ts';

/** The metapackage the kernel is resolved from. */
export const KERNEL_META = 'linux-image-amd64';

/** Changes whenever the extracted kernel tree is post-processed differently (checked in its stamp). */
export const KERNEL_TREE_FORMAT = 'kt-2:hot-modules-uncompressed';

/**
 * Module folders stored uncompressed in the guest: xz decompression under TCG costs ~1 s per
 * module chain at boot, and these are the modules guests load (channel, NVMe, PCI stubs).
 */
export const UNCOMPRESSED_MODULE_DIRS = [
  'kernel/fs/9p',
  'kernel/net/9p',
  'kernel/fs/netfs',
  'kernel/drivers/nvme',
  'kernel/drivers/vfio',
  'kernel/drivers/uio',
  'kernel/drivers/pci',
] as const;

/** Decompress {@link UNCOMPRESSED_MODULE_DIRS} in place (before depmod). */
async function decompressModules(modulesDir: string): Promise<void> {
  const dirs = UNCOMPRESSED_MODULE_DIRS.map((d) => join(modulesDir, d)).filter((d) => existsSync(d));
  if (dirs.length > 0) await run(['find', ...dirs, '-name', '*.ko.xz', '-exec', 'xz', '-d', '{}', '+']);
}

/** Resolved kernel package names. */
export interface KernelRelease {
  /** Debian version of the metapackage, e.g. `7.2.13-1`. */
  debVersion: string;
  /** Kernel ABI / `uname -r`, e.g. `7.2.13+deb14-amd64`. */
  abi: string;
  /** Exact package specs (`name=version`) to download. */
  packages: string[];
}

/** An extracted, depmod'ed kernel. */
export interface KernelInstall extends KernelRelease {
  root: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Resolve `linux-image-amd64` → ABI → the three packages holding vmlinuz, config and modules. */
export async function resolveKernel(apt: PrivateApt): Promise<KernelRelease> {
  const meta = await apt.show(KERNEL_META);
  if (!meta?.Version) throw new Error(`${KERNEL_META} not found in sid; Debian may have renamed the metapackage`);
  const debVersion = meta.Version;
  const abi = /linux-image-([^ ,]*-amd64) \(/.exec(meta.Depends ?? '')?.[1];
  if (!abi) {
    throw new Error(
      `metapackage naming changed: ${KERNEL_META} ${debVersion} depends on "${meta.Depends}", no linux-image-<ABI>-amd64 found`,
    );
  }
  const names = [`linux-binary-${abi}`, `linux-base-${abi}`, `linux-modules-${abi}`];
  const missing: string[] = [];
  for (const n of names) if (!(await apt.show(`${n}=${debVersion}`))) missing.push(n);
  if (missing.length > 0) {
    throw new Error(
      `metapackage naming changed: ${missing.join(', ')} (=${debVersion}) not in sid; the kernel package split differs from linux-{binary,base,modules}-<ABI>`,
    );
  }
  return { debVersion, abi, packages: names.map((n) => `${n}=${debVersion}`) };
}

/** Download, extract, check and depmod the kernel into `dir` = `$CACHE/kernel/<abi>` (cached). */
export async function ensureKernel(
  apt: PrivateApt | undefined,
  tools: HostTools,
  dir: string,
  release: KernelRelease,
): Promise<KernelInstall> {
  const root = join(dir, 'root');
  const modulesDir = join(root, 'usr', 'lib', 'modules', release.abi);
  const install: KernelInstall = { ...release, root, modulesDir, vmlinuz: join(modulesDir, 'vmlinuz') };
  if (stampMatches(dir, 'format', KERNEL_TREE_FORMAT) && existsSync(install.vmlinuz)) return install;
  if (!apt) throw new Error('kernel missing from the cache and no package index available');

  const debs = await apt.download(release.packages, join(dir, 'debs'));
  await rm(root, { recursive: true, force: true });
  for (const deb of debs) await extractDeb(deb, root);
  if (!existsSync(install.vmlinuz)) throw new Error(`no vmlinuz in ${release.packages.join(' ')}`);
  await checkKernelConfig(join(modulesDir, 'config'));
  await decompressModules(modulesDir);
  await run([tools.depmod, '-b', join(root, 'usr'), release.abi]);
  if (!existsSync(join(modulesDir, 'modules.dep'))) throw new Error('depmod produced no modules.dep');
  await rm(join(dir, 'debs'), { recursive: true, force: true });
  await stamp(dir, { abi: release.abi, debVersion: release.debVersion, format: KERNEL_TREE_FORMAT });
  return install;
}

/** Throw a `KernelConfigError` listing every required option (kernel-config.ts) the config file lacks. */
async function checkKernelConfig(configFile: string): Promise<void> {
  assertKernelConfig(await readFile(configFile, 'utf8'), configFile);
}

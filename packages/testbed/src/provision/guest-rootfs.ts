/**
 * The guest's root file system: a Debian sid userland (busybox, fio, nvme-cli, pciutils,
 * e2fsprogs, kmod, util-linux and util-linux-extra for blkzone, mount) with the kernel's modules and the static C helpers, packed as an
 * ext4 image attached read-write as a snapshot (`-drive snapshot=on`), so every boot starts clean.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isStamped, stamp } from './cache.ts';
import { run } from './exec.ts';
import { GUEST_DIR, GUEST_HELPERS } from './guest-assets.ts';
import type { KernelInstall } from './kernel.ts';
import { type HostTools, mmdebstrap } from './tools.ts';

/** Packages installed into the guest root (plus sid's essential set). */
export const GUEST_PACKAGES = [
  'busybox-static',
  'fio',
  'nvme-cli',
  'pciutils',
  'e2fsprogs',
  'kmod',
  'util-linux',
  'util-linux-extra',
  'mount',
] as const;

/** Changes whenever the way the root image is assembled changes (part of its cache key). */
export const ROOT_IMAGE_FORMAT = 'img-3:no-journal,eager-itable,uncompressed-hot-modules';

/** Bootstrap (or reuse) the guest userland tree in `dir/rootfs`; returns installed package versions. */
export async function ensureGuestRootfs(
  tools: HostTools,
  dir: string,
  mirror: () => Promise<string>,
): Promise<{ rootfs: string; packages: Record<string, string> }> {
  const rootfs = join(dir, 'rootfs');
  if (!isStamped(dir) || !existsSync(join(rootfs, 'bin', 'busybox'))) {
    await mkdir(dir, { recursive: true });
    await mmdebstrap(tools, {
      suite: 'sid',
      mirror: await mirror(),
      target: rootfs,
      include: GUEST_PACKAGES,
      exclude: ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*', '/usr/share/info/*'],
    });
    const packages = await installedVersions(rootfs);
    const missing = GUEST_PACKAGES.filter((p) => !packages[p]);
    if (missing.length > 0) throw new Error(`guest rootfs lacks ${missing.join(', ')}`);
    await stamp(dir, { packages });
  }
  return { rootfs, packages: await installedVersions(rootfs) };
}

/** Versions of the packages of interest, read from the tree's dpkg status. */
async function installedVersions(rootfs: string): Promise<Record<string, string>> {
  // dpkg-query's own ${field} syntax, not a template placeholder.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format
  const format = '${Package} ${Version}';
  const r = await run(['dpkg-query', `--admindir=${join(rootfs, 'var', 'lib', 'dpkg')}`, '-W', '-f', `${format}\n`]);
  const all = new Map(r.stdout.split('\n').map((l) => l.split(' ') as [string, string]));
  const out: Record<string, string> = {};
  for (const p of GUEST_PACKAGES) {
    const v = all.get(p);
    if (v) out[p] = v;
  }
  return out;
}

/** Compile the guest C helpers statically with the host's gcc into `binDir`. */
export async function buildHelpers(binDir: string): Promise<string[]> {
  await mkdir(binDir, { recursive: true });
  const out: string[] = [];
  for (const h of GUEST_HELPERS) {
    const bin = join(binDir, h);
    try {
      await run(['gcc', '-O2', '-static', '-Wall', '-o', bin, join(GUEST_DIR, `${h}.c`)]);
    } catch (e) {
      throw new Error(`cannot build guest helper ${h} with gcc -static: ${(e as Error).message}`);
    }
    out.push(bin);
  }
  return out;
}

/**
 * Install modules and helpers into the tree, then pack it into `image` with `mke2fs -d`
 * (no journal: the image is only ever used through a QEMU snapshot).
 */
export async function buildRootImage(
  rootfs: string,
  kernel: Pick<KernelInstall, 'abi' | 'modulesDir'>,
  helperBins: readonly string[],
  image: string,
): Promise<void> {
  const modRoot = join(rootfs, 'usr', 'lib', 'modules');
  await rm(modRoot, { recursive: true, force: true });
  await mkdir(modRoot, { recursive: true });
  await cp(kernel.modulesDir, join(modRoot, kernel.abi), { recursive: true });
  await rm(join(modRoot, kernel.abi, 'vmlinuz'), { force: true });
  const localBin = join(rootfs, 'usr', 'local', 'bin');
  await mkdir(localBin, { recursive: true });
  for (const b of await readdir(localBin)) await rm(join(localBin, b), { force: true });
  for (const bin of helperBins) await cp(bin, join(localBin, bin.split('/').pop() ?? 'helper'));
  await writeFile(join(rootfs, 'etc', 'hostname'), 'p2pkit-guest\n');

  const bytes = Number.parseInt((await run(['du', '-sb', rootfs])).stdout, 10);
  const files = (await run(['find', rootfs, '-xdev', '-printf', '.'])).stdout.length;
  const sizeKiB = Math.ceil((bytes * 1.25) / 1024) + 128 * 1024;
  await rm(image, { force: true });
  await run([
    'mke2fs',
    '-q',
    '-F',
    '-t',
    'ext4',
    '-O',
    '^has_journal',
    '-L',
    'p2pkit-root',
    '-N',
    String(Math.ceil(files * 1.3) + 16_384),
    '-E',
    'root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0',
    '-d',
    rootfs,
    image,
    `${sizeKiB}K`,
  ]);
}

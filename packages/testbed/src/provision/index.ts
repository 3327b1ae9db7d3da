/**
 * `provision()`: make QEMU (sid), the sid kernel and the guest userland available in the cache.
 *
 * Cold: discover the host's mirror → private sid index → resolve versions → fetch tools →
 * bootstrap QEMU's sysroot and the guest rootfs (in parallel) → kernel + depmod → root image →
 * initramfs → manifest. Warm: validate `manifest.json` and return (milliseconds). Guest script
 * changes rebuild only the image/initramfs, without network.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverMirror, PrivateApt } from './apt.ts';
import { type Manifest, RECIPE_VERSION, readManifest, resolveCacheDir, safeName, shortHash, stampMatches, writeManifest } from './cache.ts';
import { buildCustomKernel, type InspectedKernel, inspectKernel, type KernelSource } from './custom-kernel.ts';
import { guestInputsHash } from './guest-assets.ts';
import { buildHelpers, buildRootImage, ensureGuestRootfs, GUEST_PACKAGES, ROOT_IMAGE_FORMAT } from './guest-rootfs.ts';
import { buildInitramfs } from './initramfs.ts';
import { ensureKernel, KERNEL_TREE_FORMAT, type KernelRelease, resolveKernel } from './kernel.ts';
import { acquireLock } from './lock.ts';
import { PreflightError, preflight } from './preflight.ts';
import { consoleReporter, type ProgressListener, step } from './progress.ts';
import { checkQemu, ensureQemu } from './qemu-sysroot.ts';
import { ensureTools } from './tools.ts';

/** Options of {@link provision}. */
export interface ProvisionOptions {
  /** Cache folder; default `P2PKIT_CACHE`, else `$XDG_CACHE_HOME/p2pkit`, else `~/.cache/p2pkit`. */
  cacheDir?: string;
  /** Re-resolve sid's current versions even if a manifest exists (also env `P2PKIT_REFRESH=1`). */
  refresh?: boolean;
  /** Progress callback; default prints one line per step to stderr ({@link consoleReporter}). */
  onProgress?: ProgressListener;
  /** How long to wait for another provisioner holding the lock (default 10 minutes). */
  lockTimeoutMs?: number;
  /**
   * Boot this kernel instead of sid's: its configuration is checked before anything else
   * (`KernelConfigError` lists every missing option), its modules go into a root image and
   * initramfs of its own (cached per build).
   */
  kernel?: KernelSource;
  /** Run this QEMU instead of sid's; checked first (version ≥ 10.1, `vfio-user-pci` and the other devices). */
  qemu?: string;
  /** Check the host before building anything (default true; `PreflightError` lists every missing item). */
  preflight?: boolean;
}

/** Everything a boot needs, as absolute paths plus the versions they came from. */
export interface Provisioned {
  cacheDir: string;
  /** Folder for per-boot run folders (console logs). */
  runsDir: string;
  /** True when the manifest was reused without any rebuild. */
  fromCache: boolean;
  qemu: { binary: string; img: string; version: string; debVersion: string; sysroot: string };
  kernel: { abi: string; debVersion: string; vmlinuz: string; modulesDir: string };
  guest: { rootImage: string; initramfs: string; packages: Record<string, string> };
}

function fromManifest(cacheDir: string, m: Manifest, fromCache: boolean): Provisioned {
  return {
    cacheDir,
    runsDir: join(cacheDir, 'runs'),
    fromCache,
    qemu: m.qemu,
    kernel: { abi: m.kernel.abi, debVersion: m.kernel.debVersion, vmlinuz: m.kernel.vmlinuz, modulesDir: m.kernel.modulesDir },
    guest: { rootImage: m.guest.rootImage, initramfs: m.guest.initramfs, packages: m.guest.packages },
  };
}

function manifestUsable(m: Manifest | undefined, inputs: string): m is Manifest {
  return (
    m !== undefined &&
    m.recipe === RECIPE_VERSION &&
    m.guestInputsHash === inputs &&
    [m.qemu.binary, m.kernel.vmlinuz, m.guest.rootImage, m.guest.initramfs].every((f) => existsSync(f))
  );
}

/**
 * Provision (or reuse) the testbed; safe to call concurrently from several processes. With
 * `kernel` / `qemu`, those are checked first and the result boots them.
 */
export async function provision(options: ProvisionOptions = {}): Promise<Provisioned> {
  const report = options.onProgress ?? consoleReporter;
  const cacheDir = resolveCacheDir(options.cacheDir);
  // What you bring is checked before anything is downloaded or built.
  const kernel = options.kernel
    ? await step(report, 'kernel-config', 'your kernel: find and check its configuration', () =>
        inspectKernel(options.kernel as KernelSource),
      )
    : undefined;
  const qemuVersion = options.qemu
    ? await step(report, 'qemu-check', `your QEMU ${options.qemu}: version and devices`, () => checkQemu(options.qemu as string))
    : undefined;
  const base = await provisionBase(cacheDir, report, options);
  let p = base.provisioned;
  if (options.qemu && qemuVersion)
    p = { ...p, qemu: { ...p.qemu, binary: options.qemu, version: qemuVersion, debVersion: 'local', sysroot: '' } };
  if (kernel) p = await withKernel(cacheDir, p, base.manifest, kernel, report, options.lockTimeoutMs);
  return p;
}

async function provisionBase(
  cacheDir: string,
  report: ProgressListener,
  options: ProvisionOptions,
): Promise<{ provisioned: Provisioned; manifest: Manifest }> {
  const refresh = options.refresh ?? process.env.P2PKIT_REFRESH === '1';
  await mkdir(cacheDir, { recursive: true });
  const hashes = await guestInputsHash();
  // The guest package list is an input too: a new package must rebuild the root, not reuse the manifest.
  const inputs = `${hashes.initramfs}-${hashes.helpers}-${shortHash(ROOT_IMAGE_FORMAT, KERNEL_TREE_FORMAT, GUEST_PACKAGES.join(','))}`;

  const quick = await readManifest(cacheDir);
  if (!refresh && manifestUsable(quick, inputs)) {
    report({ step: 'cache', status: 'cached', message: `QEMU ${quick.qemu.version}, kernel ${quick.kernel.abi} in ${cacheDir}` });
    return { provisioned: fromManifest(cacheDir, quick, true), manifest: quick };
  }

  const release = await acquireLock(join(cacheDir, 'provision.lock'), options.lockTimeoutMs ?? 600_000, (pid) =>
    report({ step: 'lock', status: 'info', message: `waiting for provisioner pid ${pid}` }),
  );
  try {
    const again = await readManifest(cacheDir); // another process may have finished meanwhile
    if (!refresh && manifestUsable(again, inputs)) {
      report({ step: 'cache', status: 'cached', message: `provisioned by another process in ${cacheDir}` });
      return { provisioned: fromManifest(cacheDir, again, true), manifest: again };
    }
    const previous = refresh ? undefined : again;
    if (options.preflight ?? true) {
      // A rebuild from a previous manifest (changed guest scripts) needs no network.
      const items = await step(report, 'preflight', 'host tools, apt mirror, disk space', () =>
        preflight(cacheDir, { checkMirror: !previous }),
      );
      if (items.some((i) => !i.ok)) throw new PreflightError(items);
    }
    const m = await build(cacheDir, report, previous, inputs, hashes);
    await writeManifest(cacheDir, m);
    return { provisioned: fromManifest(cacheDir, m, false), manifest: m };
  } finally {
    release();
  }
}

/** `p` with your kernel: its own root image and initramfs (built once per kernel build, under the lock). */
async function withKernel(
  cacheDir: string,
  p: Provisioned,
  m: Manifest,
  k: InspectedKernel,
  report: ProgressListener,
  lockTimeoutMs = 600_000,
): Promise<Provisioned> {
  const release = await acquireLock(join(cacheDir, 'provision.lock'), lockTimeoutMs, () => {});
  try {
    const tools = await ensureTools(join(cacheDir, 'tools'));
    const built = await step(report, 'custom-kernel', `kernel ${k.release}: modules → root image and initramfs`, () =>
      buildCustomKernel(cacheDir, k, { rootfs: m.guest.rootfs, guestInputsHash: m.guestInputsHash }, tools),
    );
    return {
      ...p,
      kernel: { abi: k.release, debVersion: 'local', vmlinuz: built.vmlinuz, modulesDir: built.modulesDir ?? '' },
      guest: { ...p.guest, rootImage: built.rootImage, initramfs: built.initramfs },
    };
  } finally {
    release();
  }
}

async function build(
  cacheDir: string,
  report: ProgressListener,
  previous: Manifest | undefined,
  inputs: string,
  hashes: { initramfs: string; helpers: string },
): Promise<Manifest> {
  const t0 = performance.now();
  // Network access (mirror discovery + sid index) happens lazily: only when something is missing.
  let network: Promise<{ mirror: string; apt: PrivateApt }> | undefined;
  const online = (): Promise<{ mirror: string; apt: PrivateApt }> => {
    network ??= (async () => {
      const mirror = await step(report, 'mirror', 'discover the host mirror (apt-get indextargets)', discoverMirror);
      const apt = new PrivateApt(join(cacheDir, 'apt', 'sid'), 'sid');
      await step(
        report,
        'apt-update',
        'private Debian sid package index',
        () => apt.update(mirror),
        () => [join(apt.dir, 'lists')],
      );
      return { mirror, apt };
    })();
    return network;
  };
  const mirror = async (): Promise<string> => (await online()).mirror;

  let qemuDeb: string;
  let kernel: KernelRelease;
  if (previous && previous.recipe === RECIPE_VERSION) {
    qemuDeb = previous.qemu.debVersion;
    const { debVersion, abi } = previous.kernel;
    kernel = { debVersion, abi, packages: ['binary', 'base', 'modules'].map((k) => `linux-${k}-${abi}=${debVersion}`) };
    report({ step: 'resolve', status: 'cached', message: `qemu-system-x86 ${qemuDeb}, kernel ${kernel.abi} (from manifest)` });
  } else {
    const { apt } = await online();
    [qemuDeb, kernel] = await step(report, 'resolve', 'resolve qemu-system-x86 and linux-image-amd64 in sid', () =>
      Promise.all([apt.version('qemu-system-x86'), resolveKernel(apt)]),
    );
    report({ step: 'resolve', status: 'info', message: `qemu-system-x86 ${qemuDeb}, kernel ${kernel.debVersion} (ABI ${kernel.abi})` });
  }

  const tools = await step(
    report,
    'tools',
    'mmdebstrap + kmod from bookworm',
    () => ensureTools(join(cacheDir, 'tools')),
    () => [join(cacheDir, 'tools', 'debs')],
  );
  const archives = (tree: string) => () => [join(tree, 'var', 'cache', 'apt', 'archives')];
  const rootfsKey = `sid-${shortHash(GUEST_PACKAGES.join(','), qemuDeb, kernel.debVersion, String(RECIPE_VERSION))}`;
  const guestDir = join(cacheDir, 'guest', rootfsKey);
  const qemuDir = join(cacheDir, 'qemu', safeName(qemuDeb));
  const [qemu, guest] = await Promise.all([
    step(
      report,
      'qemu-sysroot',
      `QEMU ${qemuDeb} sysroot (mmdebstrap sid) + version/device checks`,
      () => ensureQemu(tools, qemuDir, mirror),
      archives(join(qemuDir, 'sysroot')),
    ),
    step(
      report,
      'guest-rootfs',
      `guest userland (${GUEST_PACKAGES.join(', ')})`,
      () => ensureGuestRootfs(tools, guestDir, mirror),
      archives(join(guestDir, 'rootfs')),
    ),
  ]);
  const kernelDir = join(cacheDir, 'kernel', safeName(kernel.abi));
  const kinst = await step(
    report,
    'kernel',
    `kernel ${kernel.abi}: fetch, CONFIG_PCI_P2PDMA check, depmod`,
    async () => {
      if (stampMatches(kernelDir, 'format', KERNEL_TREE_FORMAT)) return ensureKernel(undefined, tools, kernelDir, kernel);
      const { apt } = await online();
      return ensureKernel(apt, tools, kernelDir, kernel);
    },
    () => [join(cacheDir, 'apt', 'sid', 'cache', 'archives'), join(kernelDir, 'debs')],
  );

  const imageDir = join(guestDir, `image-${shortHash(kernel.abi, hashes.helpers, ROOT_IMAGE_FORMAT, KERNEL_TREE_FORMAT)}`);
  const rootImage = join(imageDir, 'root.ext4');
  if (!existsSync(rootImage)) {
    await step(report, 'root-image', 'static helpers (gcc) + modules → ext4 root image (mke2fs -d)', async () => {
      await pruneSiblings(guestDir, 'image-', imageDir);
      await mkdir(imageDir, { recursive: true });
      const bins = await buildHelpers(join(imageDir, 'bin'));
      await buildRootImage(guest.rootfs, kinst, bins, `${rootImage}.tmp`);
      await rm(rootImage, { force: true });
      await rename(`${rootImage}.tmp`, rootImage);
    });
  }
  const initramfs = join(guestDir, `initramfs-${shortHash(kernel.abi, hashes.initramfs, String(RECIPE_VERSION))}.cpio.gz`);
  if (!existsSync(initramfs)) {
    await step(report, 'initramfs', 'busybox initramfs with boot modules', async () => {
      await pruneSiblings(guestDir, 'initramfs-', initramfs);
      await buildInitramfs(join(guest.rootfs, 'bin', 'busybox'), kinst.modulesDir, initramfs);
    });
  }
  await pruneSiblings(join(cacheDir, 'guest'), '', guestDir);
  await pruneSiblings(join(cacheDir, 'kernel'), '', kernelDir);
  await pruneSiblings(join(cacheDir, 'qemu'), '', join(cacheDir, 'qemu', safeName(qemuDeb)));
  report({ step: 'provision', status: 'done', message: `ready in ${cacheDir}`, elapsedMs: performance.now() - t0 });

  return {
    recipe: RECIPE_VERSION,
    createdAt: new Date().toISOString(),
    guestInputsHash: inputs,
    qemu: { debVersion: qemuDeb, version: qemu.version, sysroot: qemu.sysroot, binary: qemu.binary, img: qemu.img },
    kernel: { debVersion: kinst.debVersion, abi: kinst.abi, root: kinst.root, vmlinuz: kinst.vmlinuz, modulesDir: kinst.modulesDir },
    guest: { rootfs: guest.rootfs, rootImage, initramfs, packages: guest.packages },
  };
}

/** Delete older builds (`prefix*`) next to `keep`, so stale images do not pile up. */
async function pruneSiblings(dir: string, prefix: string, keep: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of await readdir(dir)) {
    const p = join(dir, f);
    if (f.startsWith(prefix) && p !== keep) await rm(p, { recursive: true, force: true });
  }
}

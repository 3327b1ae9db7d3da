/**
 * The flags that pick what a guest boots — your kernel (`--kernel` + `--modules`, or
 * `--kernel-tree`), your QEMU (`--qemu`), the cache folder — shared by provision, run and shell.
 */
import type { Provisioned, ProvisionOptions } from '@p2pkit/testbed';
import type { Command } from 'commander';
import { UsageError } from './exit.ts';

/** Parsed machine flags. */
export interface MachineFlags {
  kernel?: string;
  modules?: string;
  kernelTree?: string;
  kernelConfig?: string;
  qemu?: string;
  cache?: string;
}

/** Add the machine flags to `command`. */
export function machineOptions(command: Command): Command {
  return command
    .option('--kernel <image>', 'boot this kernel (bzImage / vmlinuz) instead of sid’s; its config is checked first')
    .option('--modules <dir>', 'the modules of --kernel: /lib/modules/<release> (or an INSTALL_MOD_PATH holding lib/modules/<release>)')
    .option('--kernel-tree <dir>', 'boot a built Linux tree (arch/x86/boot/bzImage, .config, modules installed with make modules_install)')
    .option('--kernel-config <file>', 'the kernel’s .config, when it is not beside the image, in the modules folder or built in (IKCONFIG)')
    .option('--qemu <binary>', 'run this QEMU instead of the provisioned one (checked: ≥ 10.1 with vfio-user-pci)')
    .option('--cache <dir>', 'cache folder (default: $P2PKIT_CACHE or ~/.cache/p2pkit)');
}

/** `provision()` options for the flags; contradictory combinations are usage errors. */
export function provisionOptions(f: MachineFlags): ProvisionOptions {
  if (f.kernel && f.kernelTree) throw new UsageError('--kernel and --kernel-tree exclude each other (a tree has its own bzImage)');
  if (f.modules && !f.kernel) throw new UsageError('--modules belongs to --kernel (a --kernel-tree installs its own modules)');
  if (f.kernelConfig && !f.kernel && !f.kernelTree) throw new UsageError('--kernel-config needs --kernel or --kernel-tree');
  const config = f.kernelConfig ? { config: f.kernelConfig } : {};
  const kernel = f.kernelTree
    ? { kernel: { tree: f.kernelTree, ...config } }
    : f.kernel
      ? { kernel: { image: f.kernel, ...(f.modules ? { modules: f.modules } : {}), ...config } }
      : {};
  return { ...kernel, ...(f.qemu ? { qemu: f.qemu } : {}), ...(f.cache ? { cacheDir: f.cache } : {}) };
}

/**
 * `provision()` with the live step display on stderr. A failed step is not drawn: the command's
 * error line says the same, once.
 */
export async function provisionShown(options: ProvisionOptions): Promise<Provisioned> {
  const { provision } = await import('@p2pkit/testbed');
  const { provisionDisplay } = await import('./progress/provision-progress.ts');
  const display = provisionDisplay();
  return provision({ ...options, onProgress: (e) => e.status !== 'fail' && display.listener(e) }).finally(() => display.stop());
}

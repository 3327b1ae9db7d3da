/**
 * The initramfs: static busybox (taken from the guest rootfs), the modules needed to mount the
 * root image (decompressed on the host for busybox insmod) and the guest scripts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type CpioEntry, cpioNewc } from './cpio.ts';
import { run } from './exec.ts';
import { readGuestFile } from './guest-assets.ts';
import { ModuleIndex } from './modules.ts';

/** Modules the initramfs loads to reach `/dev/vda` (built-ins are skipped automatically). */
export const BOOT_MODULES = ['virtio_pci', 'virtio_blk', 'ext4'] as const;

/** Busybox applets the initramfs scripts use. */
const APPLETS = ['sh', 'mount', 'insmod', 'mkdir', 'cat', 'sleep', 'cp', 'switch_root', 'poweroff', 'ls', 'echo'];

/**
 * Build `output` (gzip'ed newc cpio) from `busybox` and the kernel modules in `modulesDir`; without
 * `modulesDir` (a kernel with everything built in) the initramfs holds no modules.
 */
export async function buildInitramfs(busybox: string, modulesDir: string | undefined, output: string): Promise<{ modules: string[] }> {
  const order = modulesDir ? (await ModuleIndex.load(modulesDir)).loadOrder(BOOT_MODULES) : [];
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules', 'newroot', 'p2pkit'].map((path): CpioEntry => ({ type: 'dir', path })),
    { type: 'file', path: 'bin/busybox', data: await readFile(busybox), mode: 0o755 },
    ...APPLETS.map((a): CpioEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'init', data: await readGuestFile('init.sh'), mode: 0o755 },
    { type: 'file', path: 'p2pkit/agent.sh', data: await readGuestFile('agent.sh'), mode: 0o755 },
    { type: 'file', path: 'p2pkit/lib.sh', data: await readGuestFile('lib.sh'), mode: 0o644 },
  ];
  const names: string[] = [];
  for (const rel of order) {
    const src = join(modulesDir ?? '', rel);
    const name = basename(rel).replace(/\.ko\.(xz|zst|gz)$/, '.ko');
    const data = rel.endsWith('.xz')
      ? (await run(['xz', '-dc', src])).stdoutBytes
      : rel.endsWith('.zst')
        ? (await run(['zstd', '-dc', src])).stdoutBytes
        : await readFile(src);
    entries.push({ type: 'file', path: `lib/modules/${name}`, data });
    names.push(name);
  }
  entries.push({ type: 'file', path: 'modules.order', data: Buffer.from(`${names.join('\n')}\n`) });
  await writeFile(output, gzipSync(cpioNewc(entries), { level: 6 }));
  return { modules: names };
}

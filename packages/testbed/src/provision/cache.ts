/**
 * Cache folder layout and the manifest that makes warm runs instant.
 *
 * ```
 * $CACHE/
 *   manifest.json                 resolved versions + absolute paths (written last)
 *   provision.lock                held while provisioning
 *   apt/sid/                      private apt state for Debian sid (lists, cache, sources.list)
 *   tools/                        mmdebstrap and kmod extracted from bookworm .debs
 *   qemu/<qemu-version>/          sysroot/ + bin/qemu-system-x86_64, bin/qemu-img wrappers
 *   kernel/<abi>/                 extracted kernel tree (vmlinuz, modules, modules.dep)
 *   guest/<guest-key>/rootfs/     sid userland for the guest (busybox, fio, nvme-cli, ...)
 *   guest/<guest-key>/<img-key>/  root.ext4 + initramfs.cpio.gz built from the rootfs + our guest files
 *   runs/<run-id>/                console and kernel logs of recent boots
 * ```
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** Bump when the provisioning recipe changes in a way that invalidates cached artefacts. */
export const RECIPE_VERSION = 1;

/** Resolve the cache folder: option, then `P2PKIT_CACHE`, then `$XDG_CACHE_HOME/p2pkit`, then `~/.cache/p2pkit`. */
export function resolveCacheDir(explicit?: string): string {
  if (explicit) return explicit;
  const env = process.env.P2PKIT_CACHE;
  if (env) return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'p2pkit');
}

/** Short content hash used in folder names. */
export function shortHash(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Make a version string safe as a folder name (`1:11.1.3+ds-1` → `1_11.1.3+ds-1`). */
export function safeName(version: string): string {
  return version.replace(/[^A-Za-z0-9.+-]/g, '_');
}

/** Schema of `manifest.json`. */
export const manifestSchema = z.object({
  recipe: z.number(),
  createdAt: z.string(),
  guestInputsHash: z.string(),
  qemu: z.object({
    debVersion: z.string(),
    version: z.string(),
    sysroot: z.string(),
    binary: z.string(),
    img: z.string(),
  }),
  kernel: z.object({
    debVersion: z.string(),
    abi: z.string(),
    root: z.string(),
    vmlinuz: z.string(),
    modulesDir: z.string(),
  }),
  guest: z.object({
    rootfs: z.string(),
    rootImage: z.string(),
    initramfs: z.string(),
    packages: z.record(z.string(), z.string()),
  }),
});

/** Parsed manifest. */
export type Manifest = z.infer<typeof manifestSchema>;

/** Read and validate the manifest; `undefined` if missing or unreadable. */
export async function readManifest(cacheDir: string): Promise<Manifest | undefined> {
  const file = join(cacheDir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Write the manifest atomically. */
export async function writeManifest(cacheDir: string, manifest: Manifest): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const file = join(cacheDir, 'manifest.json');
  await writeFile(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** A `.done` stamp next to an artefact marks it complete (written after the last step). */
export function isStamped(dir: string): boolean {
  return existsSync(join(dir, '.done'));
}

/** True if `dir` is stamped and its stamp records `key` = `value`. */
export function stampMatches(dir: string, key: string, value: unknown): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, '.done'), 'utf8')) as Record<string, unknown>)[key] === value;
  } catch {
    return false;
  }
}

/** Mark `dir` complete, recording `info` for humans. */
export async function stamp(dir: string, info: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, '.done'), `${JSON.stringify({ ...info, at: new Date().toISOString() })}\n`);
}

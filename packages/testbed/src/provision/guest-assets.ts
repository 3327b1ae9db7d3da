/** Locate the guest-side files shipped with the package (`packages/testbed/guest/`). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shortHash } from './cache.ts';

/** Folder holding init.sh, agent.sh, lib.sh and p2p-copy.c. */
export const GUEST_DIR = fileURLToPath(new URL('../../guest/', import.meta.url));

/** Files that end up in the initramfs (`/init` and `/p2pkit/*`). */
export const INITRAMFS_FILES = ['init.sh', 'agent.sh', 'lib.sh'] as const;

/** C helpers compiled statically on the host and installed in the guest's /usr/local/bin. */
export const GUEST_HELPERS = ['p2p-copy'] as const;

/** Read a guest asset. */
export function readGuestFile(name: string): Promise<Buffer> {
  return readFile(join(GUEST_DIR, name));
}

/** Hash of every guest asset: a change rebuilds the initramfs / root image, nothing else. */
export async function guestInputsHash(): Promise<{ initramfs: string; helpers: string }> {
  const init = await Promise.all(INITRAMFS_FILES.map(readGuestFile));
  const helpers = await Promise.all(GUEST_HELPERS.map((h) => readGuestFile(`${h}.c`)));
  return { initramfs: shortHash(...init), helpers: shortHash(...helpers) };
}

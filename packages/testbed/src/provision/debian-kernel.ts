/**
 * A Debian suite's stock kernel, fetched into the cache with a private apt state (nothing is
 * installed on the host): to run scenarios against a distribution kernel with `kernel: { image, modules }`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverMirror, extractDeb, PrivateApt } from './apt.ts';
import { resolveCacheDir, stamp, stampMatches } from './cache.ts';

/** A fetched stock kernel: pass `image` and `modules` as `provision({ kernel })`. */
export interface DebianKernel {
  /** The suite, e.g. `bookworm`. */
  suite: string;
  /** `uname -r`, e.g. `6.1.0-28-amd64`. */
  release: string;
  /** Version of the suite's `linux-image-amd64`. */
  debVersion: string;
  /** The extracted vmlinuz. */
  image: string;
  /** Its `lib/modules/<release>` folder (as shipped: no modules.dep). */
  modules: string;
}

/** Fetch (or reuse) `linux-image-amd64` of `suite` (e.g. `bookworm`) into `<cache>/debian-kernel/<suite>/`. */
export async function fetchDebianKernel(suite: string, options: { cacheDir?: string } = {}): Promise<DebianKernel> {
  const cacheDir = resolveCacheDir(options.cacheDir);
  const dir = join(cacheDir, 'debian-kernel', suite);
  const root = join(dir, 'root');
  const located = (release: string, debVersion: string): DebianKernel | undefined => {
    const image = [join(root, 'boot', `vmlinuz-${release}`), join(root, 'usr', 'lib', 'modules', release, 'vmlinuz')].find(existsSync);
    const modules = [join(root, 'lib', 'modules', release), join(root, 'usr', 'lib', 'modules', release)].find(existsSync);
    return image && modules ? { suite, release, debVersion, image, modules } : undefined;
  };
  if (stampMatches(dir, 'suite', suite)) {
    const done = JSON.parse(readFileSync(join(dir, '.done'), 'utf8')) as { release: string; debVersion: string };
    const hit = located(done.release, done.debVersion);
    if (hit) return hit;
  }

  const apt = new PrivateApt(join(cacheDir, 'apt', suite), suite);
  await apt.update(await discoverMirror());
  const meta = await apt.show('linux-image-amd64');
  const release = /linux-image-([^ ,]*-amd64)\b/.exec(meta?.Depends ?? '')?.[1];
  if (!meta?.Version || !release) throw new Error(`cannot resolve linux-image-amd64 in ${suite} (Depends: ${meta?.Depends ?? 'none'})`);
  // Older suites ship one linux-image-<release>; newer ones split it into binary/base/modules packages.
  const names = [`linux-image-${release}`, `linux-binary-${release}`, `linux-base-${release}`, `linux-modules-${release}`];
  const specs: string[] = [];
  for (const n of names) {
    const info = await apt.show(n);
    if (info?.Version) specs.push(`${n}=${info.Version}`);
  }
  await rm(dir, { recursive: true, force: true });
  for (const deb of await apt.download(specs, join(dir, 'debs'))) await extractDeb(deb, root);
  await rm(join(dir, 'debs'), { recursive: true, force: true });
  const found = located(release, meta.Version);
  if (!found) throw new Error(`${specs.join(' ')} from ${suite} holds no vmlinuz + modules for ${release}`);
  await stamp(dir, { suite, release, debVersion: meta.Version });
  return found;
}

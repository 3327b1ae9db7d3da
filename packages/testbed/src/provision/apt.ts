/**
 * Package access without touching the host: mirror discovery through the host's apt
 * configuration, a private apt state for Debian sid, version resolution and `.deb` downloads.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run } from './exec.ts';

/** The archive keyring shipped with the host's apt; used to verify sid's InRelease. */
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * The main Debian archive the host already uses (never hard-coded): the `REPO_URI` of the
 * bookworm `Packages` index target. The security archive has codename `bookworm-security`.
 */
export async function discoverMirror(env?: NodeJS.ProcessEnv): Promise<string> {
  let out: string;
  try {
    out = (
      await run(['apt-get', 'indextargets', '--format', '$(REPO_URI)', 'Identifier: Packages', 'Codename: bookworm'], env ? { env } : {})
    ).stdout;
  } catch (e) {
    throw new Error(`cannot ask apt for its mirror (apt-get indextargets): ${(e as Error).message}`);
  }
  const uris = [
    ...new Set(
      out
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ].sort();
  const mirror = uris[0];
  if (!mirror) {
    throw new Error('no bookworm Packages index target in the host apt configuration; run `apt-get update` on the host');
  }
  return mirror;
}

/** A private apt configuration for one suite, isolated from the host's state. */
export class PrivateApt {
  constructor(
    readonly dir: string,
    readonly suite: string,
  ) {}

  /** `-o` options pointing apt at the private state. */
  get options(): string[] {
    const d = this.dir;
    return [
      `Dir::Etc::SourceList=${join(d, 'sources.list')}`,
      'Dir::Etc::SourceParts=/dev/null',
      `Dir::State::Lists=${join(d, 'lists')}`,
      `Dir::Cache=${join(d, 'cache')}`,
      `Dir::State::Status=${join(d, 'status')}`,
      'Dir::Etc::Preferences=/dev/null',
      'Dir::Etc::PreferencesParts=/dev/null',
      'Acquire::Check-Valid-Until=false',
    ].flatMap((o) => ['-o', o]);
  }

  /** Create the state folders and the source list, then download the suite's index. */
  async update(mirror: string): Promise<void> {
    await mkdir(join(this.dir, 'lists', 'partial'), { recursive: true });
    await mkdir(join(this.dir, 'cache', 'archives', 'partial'), { recursive: true });
    await writeFile(join(this.dir, 'status'), '');
    await writeFile(join(this.dir, 'sources.list'), `deb [signed-by=${KEYRING}] ${mirror} ${this.suite} main\n`);
    const r = await run(['apt-get', ...this.options, 'update'], { allowFailure: true, timeoutMs: 120_000 });
    const failed = r.exitCode !== 0 || /^(E:|Err:)/m.test(r.stdout + r.stderr);
    if (failed) {
      throw new Error(
        `mirror unreachable or index invalid for ${this.suite} (apt-get update exit ${r.exitCode}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n')}`,
      );
    }
  }

  /** True once `update` has produced a Packages list. */
  async hasLists(): Promise<boolean> {
    const lists = join(this.dir, 'lists');
    if (!existsSync(lists)) return false;
    return (await readdir(lists)).some((f) => f.endsWith('_Packages'));
  }

  /** `apt-cache show` fields of `pkg` (first, i.e. candidate, stanza); `undefined` if unknown. */
  async show(pkg: string): Promise<Record<string, string> | undefined> {
    const r = await run(['apt-cache', ...this.options, 'show', pkg], { allowFailure: true });
    if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
    const stanza = r.stdout.split(/\n\n/)[0] ?? '';
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z0-9-]+): ?(.*)$/.exec(line);
      if (m?.[1]) {
        last = m[1];
        fields[last] = m[2] ?? '';
      } else if (last && line.startsWith(' ')) {
        fields[last] += `\n${line}`;
      }
    }
    return fields;
  }

  /** Candidate version of `pkg`, or throw a clear error naming the package. */
  async version(pkg: string): Promise<string> {
    const f = await this.show(pkg);
    if (!f?.Version) throw new Error(`package ${pkg} not found in ${this.suite}`);
    return f.Version;
  }

  /** Download exact `name=version` packages into `dir`; returns the .deb paths. */
  async download(specs: readonly string[], dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    try {
      await run(['apt-get', ...this.options, 'download', ...specs], { cwd: dir, timeoutMs: 300_000 });
    } catch (e) {
      if (e instanceof CommandError)
        throw new Error(`download of ${specs.join(' ')} failed: ${e.stderr.trim().split('\n').slice(-4).join('\n')}`);
      throw e;
    }
    const files = await readdir(dir);
    return specs.map((spec) => {
      const name = spec.split(/[=/]/)[0] ?? spec;
      const deb = files.find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download did not produce a .deb for ${spec}`);
      return join(dir, deb);
    });
  }
}

/** Download a bookworm package through the host's own apt lists (`name/bookworm`) into `dir`. */
export async function downloadHostBookworm(name: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const r = await run(['apt-get', 'download', `${name}/bookworm`], { cwd: dir, allowFailure: true, timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    throw new Error(
      `cannot download ${name}/bookworm with the host's apt (stale lists? run \`apt-get update\`): ${r.stderr.trim().split('\n').slice(-3).join('\n')}`,
    );
  }
  const deb = (await readdir(dir)).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download produced no .deb for ${name}`);
  return join(dir, deb);
}

/** Unpack a .deb into `dest` (no maintainer scripts, nothing installed). */
export async function extractDeb(deb: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  await run(['dpkg-deb', '-x', deb, dest]);
}

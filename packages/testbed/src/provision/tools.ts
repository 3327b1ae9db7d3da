/**
 * Host tools that bookworm lacks, run from extracted bookworm .debs: mmdebstrap (perl) and
 * kmod's depmod (testbed.md §3, §6).
 */
import { existsSync } from 'node:fs';
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadHostBookworm, extractDeb } from './apt.ts';
import { isStamped, stamp } from './cache.ts';
import { run } from './exec.ts';

/** Paths of the extracted tools. */
export interface HostTools {
  /** The mmdebstrap perl script. */
  mmdebstrap: string;
  /** Folder holding mmtarfilter (must be on PATH for mmdebstrap's path filters). */
  mmdebstrapBin: string;
  /** A `depmod` symlink to the extracted kmod. */
  depmod: string;
}

/** Fetch and extract mmdebstrap and kmod from bookworm into `$CACHE/tools` (cached). */
export async function ensureTools(toolsDir: string): Promise<HostTools> {
  const mmDir = join(toolsDir, 'mmdebstrap');
  const kmodDir = join(toolsDir, 'kmod');
  const tools: HostTools = {
    mmdebstrap: join(mmDir, 'usr', 'bin', 'mmdebstrap'),
    mmdebstrapBin: join(mmDir, 'usr', 'bin'),
    depmod: join(kmodDir, 'bin', 'depmod'),
  };
  if (isStamped(toolsDir) && existsSync(tools.mmdebstrap) && existsSync(tools.depmod)) return tools;

  const debs = join(toolsDir, 'debs');
  await rm(mmDir, { recursive: true, force: true });
  await rm(kmodDir, { recursive: true, force: true });
  await extractDeb(await downloadHostBookworm('mmdebstrap', debs), mmDir);
  await extractDeb(await downloadHostBookworm('kmod', debs), kmodDir);
  // The package's sbin/depmod is an absolute symlink to the (absent) system kmod; kmod picks
  // the tool from argv[0], so a local symlink named depmod works.
  await rm(tools.depmod, { force: true });
  await symlink('kmod', tools.depmod);
  await run(['perl', tools.mmdebstrap, '--version']);
  await run([tools.depmod, '--version']);
  await stamp(toolsDir, { mmdebstrap: tools.mmdebstrap, depmod: tools.depmod });
  return tools;
}

/** Options of {@link mmdebstrap}. */
export interface BootstrapOptions {
  suite: string;
  mirror: string;
  target: string;
  include: readonly string[];
  /** dpkg `path-exclude` globs (docs, man pages) to keep the tree small. */
  exclude?: readonly string[];
}

/** Bootstrap a Debian tree with `--variant=essential` (no recommends; Valid-Until ignored). */
export async function mmdebstrap(tools: HostTools, o: BootstrapOptions): Promise<void> {
  await rm(o.target, { recursive: true, force: true });
  const argv = [
    'perl',
    tools.mmdebstrap,
    '--variant=essential',
    `--include=${o.include.join(',')}`,
    '--aptopt=APT::Install-Recommends "false"',
    '--aptopt=Acquire::Check-Valid-Until "false"',
    ...(o.exclude ?? []).map((g) => `--dpkgopt=path-exclude=${g}`),
    o.suite,
    o.target,
    o.mirror,
  ];
  await run(argv, {
    env: { ...process.env, PATH: `${tools.mmdebstrapBin}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    timeoutMs: 600_000,
  });
}

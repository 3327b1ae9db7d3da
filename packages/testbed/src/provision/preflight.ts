/**
 * Host preflight: everything provisioning needs from the host, checked before any download, so a
 * missing tool is reported together with every other missing item (and its fix) in one go instead
 * of one failure per run, minutes into a cold provisioning.
 */
import { existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { discoverMirror } from './apt.ts';
import { run } from './exec.ts';

/** One checked requirement. */
export interface PreflightItem {
  /** What was checked, e.g. `gcc + libc6-dev (gcc -static)`. */
  readonly name: string;
  /** True when the host has it. */
  readonly ok: boolean;
  /** What was found (a version, a path, the failure). */
  readonly detail: string;
  /** How to fix it (set when `ok` is false). */
  readonly fix?: string;
}

/** Options of {@link preflight}. */
export interface PreflightOptions {
  /** Environment for the tool look-ups (`PATH`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The cache folder whose file system needs free space; default the resolved cache folder. */
  cacheDir?: string;
  /** Free bytes needed there (default 3 GiB: sysroots, kernel, root image). */
  minFreeBytes?: number;
  /** Check that the Debian mirror answers (default true; off when nothing will be downloaded). */
  checkMirror?: boolean;
}

/** Raised by `provision()` when the preflight finds missing items; `items` lists them all. */
export class PreflightError extends Error {
  /** Always `PreflightError`. */
  override name = 'PreflightError';
  constructor(
    /** Every checked item, passed and missing. */
    readonly items: readonly PreflightItem[],
  ) {
    super(`the host lacks what provisioning needs:\n${formatPreflight(items.filter((i) => !i.ok))}`);
  }
}

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const GiB = 1024 ** 3;

/** A host tool: found and runnable (first output line), or the fix. */
async function tool(name: string, argv: string[], fix: string, env: NodeJS.ProcessEnv): Promise<PreflightItem> {
  try {
    const r = await run(argv, { env, allowFailure: true, timeoutMs: 20_000 });
    const first = `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
    if (r.exitCode === 0) return { name, ok: true, detail: first.slice(0, 80) };
    return { name, ok: false, detail: `${argv.join(' ')} exited ${r.exitCode}: ${first}`, fix };
  } catch {
    return { name, ok: false, detail: `${argv[0]} not found on PATH`, fix };
  }
}

/** gcc that can link statically: the guest helpers are `gcc -static` binaries (needs libc6-dev's libc.a). */
async function staticGcc(env: NodeJS.ProcessEnv): Promise<PreflightItem> {
  const name = 'gcc + libc6-dev (gcc -static)';
  const fix = 'apt-get install gcc libc6-dev';
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-preflight-'));
  try {
    writeFileSync(join(dir, 'a.c'), 'int main(void) { return 0; }\n');
    const r = await run(['gcc', '-static', '-o', join(dir, 'a'), join(dir, 'a.c')], { env, allowFailure: true, timeoutMs: 60_000 });
    if (r.exitCode === 0) return { name, ok: true, detail: 'static link works' };
    return { name, ok: false, detail: `gcc -static failed: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`, fix };
  } catch {
    return { name, ok: false, detail: 'gcc not found on PATH', fix };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The host's apt knows a bookworm mirror, and (optionally) the mirror answers through apt's own transport. */
async function aptMirror(env: NodeJS.ProcessEnv, reach: boolean): Promise<PreflightItem[]> {
  const name = 'apt with a Debian mirror';
  const keyring: PreflightItem = existsSync(KEYRING)
    ? { name: 'Debian archive keyring', ok: true, detail: KEYRING }
    : { name: 'Debian archive keyring', ok: false, detail: `${KEYRING} missing`, fix: 'apt-get install debian-archive-keyring' };
  let mirror: string;
  try {
    mirror = await discoverMirror(env);
  } catch (e) {
    const missing = /ENOENT|cannot run/.test((e as Error).message);
    const detail = missing ? 'apt-get not found on PATH' : ((e as Error).message.split('\n')[0] ?? '');
    return [
      {
        name,
        ok: false,
        detail,
        fix: missing ? 'a Debian bookworm host (apt-get, dpkg)' : 'apt-get update (a bookworm entry in /etc/apt/sources.list)',
      },
      keyring,
    ];
  }
  if (!reach) return [{ name, ok: true, detail: `${mirror} (not contacted)` }, keyring];
  // apt-helper uses apt's configuration (proxies included), like the later apt-get calls.
  const dir = mkdtempSync(join(tmpdir(), 'p2pkit-preflight-'));
  try {
    const r = await run(
      ['/usr/lib/apt/apt-helper', 'download-file', `${mirror.replace(/\/?$/, '/')}dists/sid/Release.gpg`, join(dir, 'r')],
      {
        env,
        allowFailure: true,
        timeoutMs: 30_000,
      },
    );
    if (r.exitCode === 0) return [{ name, ok: true, detail: `${mirror} reachable` }, keyring];
    const why = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-1)[0] ?? '';
    return [
      {
        name,
        ok: false,
        detail: `${mirror} unreachable: ${why}`,
        fix: 'network access to the mirror (or an apt proxy in /etc/apt/apt.conf.d)',
      },
      keyring,
    ];
  } catch (e) {
    return [{ name, ok: false, detail: `cannot run apt-helper: ${(e as Error).message}`, fix: 'apt-get install apt' }, keyring];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function freeDisk(cacheDir: string, minFree: number): PreflightItem {
  const name = `free disk for the cache (≥ ${(minFree / GiB).toFixed(0)} GiB)`;
  let at = cacheDir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const s = statfsSync(at);
  const free = s.bavail * s.bsize;
  const detail = `${(free / GiB).toFixed(1)} GiB free at ${at}`;
  return free >= minFree
    ? { name, ok: true, detail }
    : { name, ok: false, detail, fix: 'free some space, or put the cache elsewhere (P2PKIT_CACHE=/big/disk)' };
}

/** Check the host for provisioning; never throws, returns every item with its result. */
export async function preflight(cacheDir: string, options: PreflightOptions = {}): Promise<PreflightItem[]> {
  const env = options.env ?? process.env;
  const isRoot = process.getuid?.() === 0;
  const basics: PreflightItem[] = [
    process.platform === 'linux'
      ? { name: 'Linux host', ok: true, detail: process.platform }
      : {
          name: 'Linux host',
          ok: false,
          detail: process.platform,
          fix: 'a Debian bookworm x86_64 host (QEMU, memfd and vfio-user sockets are Linux-only)',
        },
    process.arch === 'x64'
      ? { name: 'x86_64', ok: true, detail: process.arch }
      : { name: 'x86_64', ok: false, detail: process.arch, fix: 'an x86_64 host (the guest kernel and QEMU sysroot are amd64)' },
    isRoot
      ? { name: 'root privileges', ok: true, detail: 'uid 0' }
      : {
          name: 'root privileges',
          ok: false,
          detail: `uid ${process.getuid?.()}`,
          fix: 'run as root (mmdebstrap builds the QEMU and guest trees in root mode)',
        },
  ];
  const checks = await Promise.all([
    aptMirror(env, options.checkMirror ?? true),
    staticGcc(env),
    tool('perl', ['perl', '-e', 'print "perl $]\\n"'], 'apt-get install perl', env),
    tool('mke2fs (e2fsprogs)', ['mke2fs', '-V'], 'apt-get install e2fsprogs (mke2fs is in /usr/sbin: put it on PATH)', env),
    tool('xz', ['xz', '--version'], 'apt-get install xz-utils', env),
    tool('dpkg-deb', ['dpkg-deb', '--version'], 'apt-get install dpkg', env),
  ]);
  return [...basics, ...checks.flat(), freeDisk(cacheDir, options.minFreeBytes ?? 3 * GiB)];
}

/** One line per item (`ok` or `MISSING`, name, what was found), a `fix:` line under each missing one. */
export function formatPreflight(items: readonly PreflightItem[]): string {
  return items
    .map((i) => (i.ok ? `  ok       ${i.name}: ${i.detail}` : `  MISSING  ${i.name}: ${i.detail}\n           fix: ${i.fix ?? '-'}`))
    .join('\n');
}

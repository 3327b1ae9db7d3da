/**
 * Facts read from a kernel image file (x86 bzImage / vmlinuz, or an uncompressed vmlinux): its
 * release string, and its embedded configuration when it was built with CONFIG_IKCONFIG — the same
 * search scripts/extract-ikconfig does, without a kernel tree.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { run } from './exec.ts';

/** `uname -r` of an x86 bzImage: the boot header's kernel_version string (first word). */
export function bzImageRelease(image: Buffer): string | undefined {
  if (image.length < 0x210 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const at = image.readUInt16LE(0x20e) + 0x200;
  if (at >= image.length) return undefined;
  const end = image.indexOf(0, at);
  const text = image.toString('latin1', at, end < 0 ? Math.min(image.length, at + 256) : end);
  return text.split(' ')[0] || undefined;
}

const IKCFG_ST = Buffer.from('IKCFG_ST');
const IKCFG_ED = Buffer.from('IKCFG_ED');

/** The gzip'ed config between IKCFG_ST and IKCFG_ED in `bytes`, decompressed. */
function configBetweenMarkers(bytes: Buffer): string | undefined {
  const st = bytes.indexOf(IKCFG_ST);
  if (st < 0) return undefined;
  const ed = bytes.indexOf(IKCFG_ED, st);
  try {
    return gunzipSync(bytes.subarray(st + IKCFG_ST.length, ed < 0 ? undefined : ed)).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Compressed payloads a bzImage may carry (magic → external decompressor), as extract-ikconfig tries them. */
const PAYLOADS: readonly { magic: Buffer; argv: string[] }[] = [
  { magic: Buffer.from([0x1f, 0x8b, 0x08]), argv: ['gzip', '-dc'] },
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), argv: ['xz', '-dc', '--single-stream'] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), argv: ['zstd', '-dc'] },
  { magic: Buffer.from([0x5d, 0x00, 0x00]), argv: ['xz', '-dc', '--format=lzma'] },
];

/**
 * The configuration embedded in a kernel image (CONFIG_IKCONFIG), or `undefined`. Looks in the raw
 * file first (vmlinux), then in each compressed payload (bzImage: the kernel proper is compressed).
 */
export async function extractIkconfig(imagePath: string): Promise<string | undefined> {
  const image = await readFile(imagePath);
  const direct = configBetweenMarkers(image);
  if (direct) return direct;
  for (const { magic, argv } of PAYLOADS) {
    let tries = 0;
    // A short magic also occurs by chance: a few candidates per format are enough for a real payload.
    for (let at = image.indexOf(magic); at >= 0 && tries < 8; at = image.indexOf(magic, at + 1), tries++) {
      // Decompressors stop at the end of the stream and complain about trailing bytes: use what they produced.
      const r = await run(argv, { input: image.subarray(at), allowFailure: true, timeoutMs: 60_000 }).catch(() => undefined);
      if (!r || r.stdoutBytes.length < 1024 * 1024) continue;
      const found = configBetweenMarkers(r.stdoutBytes);
      if (found) return found;
      break; // the kernel payload decompressed, without a config: no need to try further offsets
    }
  }
  return undefined;
}

/** The config of `configs.ko` (CONFIG_IKCONFIG=m) in a modules folder, if present. */
export async function moduleIkconfig(modulesDir: string): Promise<string | undefined> {
  for (const suffix of ['', '.xz', '.zst', '.gz']) {
    const path = `${modulesDir}/kernel/kernel/configs.ko${suffix}`;
    if (!existsSync(path)) continue;
    const bytes =
      suffix === ''
        ? await readFile(path)
        : (await run([suffix === '.xz' ? 'xz' : suffix === '.zst' ? 'zstd' : 'gzip', '-dc', path], { allowFailure: true })).stdoutBytes;
    return configBetweenMarkers(bytes);
  }
  return undefined;
}

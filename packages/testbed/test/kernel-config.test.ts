/** Kernel configuration checks and what is read from a kernel image you bring. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inspectKernel } from '../src/provision/custom-kernel.ts';
import { KernelConfigError, missingKernelOptions, REQUIRED_KERNEL_OPTIONS } from '../src/provision/kernel-config.ts';
import { bzImageRelease, extractIkconfig } from '../src/provision/kernel-image.ts';

/** A config satisfying every requirement, with `overrides` (name → value, 'n' = not set). */
function config(overrides: Record<string, string> = {}): string {
  const values = Object.fromEntries(REQUIRED_KERNEL_OPTIONS.map((o) => [o.name, o.need === 'y' ? 'y' : 'm']));
  Object.assign(values, overrides);
  return Object.entries(values)
    .map(([k, v]) => (v === 'n' ? `# CONFIG_${k} is not set` : `CONFIG_${k}=${v}`))
    .join('\n');
}

/** A minimal bzImage: boot header with a kernel_version string, then `payload`. */
function bzImage(release: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(0x400);
  head.write('HdrS', 0x202, 'latin1');
  head.writeUInt16LE(0x300 - 0x200, 0x20e);
  head.write(`${release} (builder@host) #1 SMP\0`, 0x300, 'latin1');
  return Buffer.concat([head, payload]);
}

describe('kernel configuration check', () => {
  it('accepts a complete config and lists every missing option with its fix', () => {
    expect(missingKernelOptions(config())).toEqual([]);
    const missing = missingKernelOptions(config({ PCI_P2PDMA: 'n', ZONE_DEVICE: 'm', NET_9P: 'n' }));
    expect(missing.map((m) => [m.option.name, m.found])).toEqual([
      ['PCI_P2PDMA', 'n'],
      ['ZONE_DEVICE', 'm'],
      ['NET_9P', 'n'],
    ]);
    const text = new KernelConfigError('/boot/config-x', missing).message;
    expect(text).toContain('CONFIG_PCI_P2PDMA is not set (need =y: p2pmem');
    expect(text).toContain('CONFIG_ZONE_DEVICE =m (need =y');
    expect(text).toContain('fix: Device Drivers → PCI support → PCI peer-to-peer transfer support; or scripts/config --enable PCI_P2PDMA');
  });

  it('reads the release from the bzImage header', () => {
    expect(bzImageRelease(bzImage('6.1.0-50-amd64'))).toBe('6.1.0-50-amd64');
    expect(bzImageRelease(Buffer.alloc(0x400))).toBeUndefined();
  });

  it('finds the config beside the image (/boot/config-<release>) and names what is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-kernel-'));
    writeFileSync(join(dir, 'vmlinuz-6.1.0-50-amd64'), bzImage('6.1.0-50-amd64'));
    writeFileSync(join(dir, 'config-6.1.0-50-amd64'), config({ PCI_P2PDMA: 'n' }));
    mkdirSync(join(dir, 'modules', '6.1.0-50-amd64', 'kernel'), { recursive: true });
    const err = await inspectKernel({ image: join(dir, 'vmlinuz-6.1.0-50-amd64'), modules: join(dir, 'modules', '6.1.0-50-amd64') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KernelConfigError);
    expect((err as KernelConfigError).source).toBe(join(dir, 'config-6.1.0-50-amd64'));
    expect((err as KernelConfigError).missing.map((m) => m.option.name)).toEqual(['PCI_P2PDMA']);
  });

  it('without a modules folder, options built as modules are missing too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-kernel-'));
    writeFileSync(join(dir, 'bzImage'), bzImage('7.0.0-custom'));
    writeFileSync(join(dir, 'config-7.0.0-custom'), config({ BLK_DEV_NVME: 'm' }));
    const err = (await inspectKernel({ image: join(dir, 'bzImage') }).catch((e: unknown) => e)) as KernelConfigError;
    expect(err.missing.map((m) => `${m.option.name}=${m.found}`)).toContain('BLK_DEV_NVME=m');
    expect(err.message).toContain('or give the modules folder (--modules <dir>)');
  });

  it('refuses modules built for another release', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-kernel-'));
    writeFileSync(join(dir, 'bzImage'), bzImage('7.0.0-a'));
    mkdirSync(join(dir, '7.0.0-b', 'kernel'), { recursive: true });
    await expect(inspectKernel({ image: join(dir, 'bzImage'), modules: join(dir, '7.0.0-b') })).rejects.toThrow(
      /release 7.0.0-a, but the modules folder .* is for 7.0.0-b/,
    );
  });

  it('extracts CONFIG_IKCONFIG from an xz-compressed kernel payload', async () => {
    const text = config({ IKCONFIG: 'y', ...Object.fromEntries(REQUIRED_KERNEL_OPTIONS.map((o) => [o.name, 'y'])) });
    const vmlinux = Buffer.concat([
      Buffer.alloc(2 << 20, 0x90),
      Buffer.from('IKCFG_ST'),
      gzipSync(text),
      Buffer.from('IKCFG_ED'),
      Buffer.alloc(4096),
    ]);
    const xz = execFileSync('xz', ['-c', '--check=crc32'], { input: vmlinux });
    const dir = mkdtempSync(join(tmpdir(), 'p2pkit-kernel-'));
    writeFileSync(join(dir, 'bzImage'), bzImage('7.0.0-ik', Buffer.concat([xz, Buffer.alloc(512)])));
    expect(await extractIkconfig(join(dir, 'bzImage'))).toBe(text);
    const k = await inspectKernel({ image: join(dir, 'bzImage') });
    expect(k.configSource).toBe(`${join(dir, 'bzImage')} (CONFIG_IKCONFIG)`);
  });
});

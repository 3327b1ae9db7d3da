import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveCacheDir } from '../src/provision/cache.ts';
import { cpioNewc } from '../src/provision/cpio.ts';
import { acquireLock } from '../src/provision/lock.ts';
import { ModuleIndex, moduleName } from '../src/provision/modules.ts';
import { parseQemuVersion, versionAtLeast } from '../src/provision/qemu-sysroot.ts';

describe('module index', () => {
  const dep = [
    'kernel/drivers/nvme/host/nvme.ko.xz: kernel/drivers/nvme/host/nvme-core.ko.xz kernel/drivers/nvme/common/nvme-keyring.ko.xz kernel/drivers/nvme/common/nvme-auth.ko.xz',
    'kernel/drivers/nvme/host/nvme-core.ko.xz: kernel/drivers/nvme/common/nvme-keyring.ko.xz kernel/drivers/nvme/common/nvme-auth.ko.xz',
    'kernel/drivers/nvme/common/nvme-auth.ko.xz: kernel/drivers/nvme/common/nvme-keyring.ko.xz',
    'kernel/drivers/nvme/common/nvme-keyring.ko.xz:',
  ].join('\n');
  const idx = ModuleIndex.parse(dep, 'kernel/drivers/virtio/virtio_pci.ko\n');

  it('orders dependencies first and skips built-ins', () => {
    expect(idx.loadOrder(['nvme', 'virtio_pci']).map(moduleName)).toEqual(['nvme_keyring', 'nvme_auth', 'nvme_core', 'nvme']);
  });
  it('names unknown modules', () => {
    expect(() => idx.loadOrder(['nope'])).toThrow(/nope is neither built in nor in modules.dep/);
  });
});

describe('cpio newc writer', () => {
  it('writes aligned headers and the trailer', () => {
    const a = cpioNewc([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/x', data: Buffer.from('abc'), mode: 0o755 },
      { type: 'symlink', path: 'bin/y', target: 'x' },
    ]);
    expect(a.length % 4).toBe(0);
    const text = a.toString('latin1');
    expect(text.startsWith('070701')).toBe(true);
    expect(text).toContain('bin/x\0');
    expect(text).toContain('TRAILER!!!\0');
    // second header (bin/x): mode 0o100755, filesize 3, namesize 6
    const h = text.indexOf('070701', 6);
    expect(text.slice(h + 6 + 8, h + 6 + 16)).toBe((0o100755).toString(16).padStart(8, '0'));
    expect(Number.parseInt(text.slice(h + 6 + 48, h + 6 + 56), 16)).toBe(3);
  });
});

describe('versions and cache folder', () => {
  it('parses and compares QEMU versions', () => {
    expect(parseQemuVersion('QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1)')).toBe('11.1.3');
    expect(versionAtLeast('11.1.3', [10, 1])).toBe(true);
    expect(versionAtLeast('10.1', [10, 1])).toBe(true);
    expect(versionAtLeast('10.0.2', [10, 1])).toBe(false);
  });
  it('prefers the option, then P2PKIT_CACHE, then XDG_CACHE_HOME', () => {
    const saved = { ...process.env };
    try {
      process.env.P2PKIT_CACHE = '/x/env';
      expect(resolveCacheDir('/x/opt')).toBe('/x/opt');
      expect(resolveCacheDir()).toBe('/x/env');
      delete process.env.P2PKIT_CACHE;
      process.env.XDG_CACHE_HOME = '/x/xdg';
      expect(resolveCacheDir()).toBe('/x/xdg/p2pkit');
    } finally {
      process.env = saved;
    }
  });
});

describe('provision lock', () => {
  it('excludes a second holder and breaks stale locks', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'p2pkit-lock-')), 'l');
    const release = await acquireLock(file, 1000);
    expect(readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    await expect(acquireLock(file, 300)).rejects.toThrow(/held by pid/);
    release();
    writeFileSync(file, '999999999\n'); // a pid that cannot exist
    const again = await acquireLock(file, 1000);
    again();
  });
});

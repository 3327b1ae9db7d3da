/** A QEMU you bring is checked for its version and devices; every problem is named in one error. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkQemu, REQUIRED_DEVICES } from '../src/provision/qemu-sysroot.ts';

/** A stand-in QEMU: prints `version` for --version and `devices` for -device help. */
function fakeQemu(version: string, devices: readonly string[]): string {
  const bin = join(mkdtempSync(join(tmpdir(), 'p2pkit-qemu-')), 'qemu-system-x86_64');
  const help = devices.map((d) => `name "${d}", bus PCI`).join('\\n');
  writeFileSync(bin, `#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version ${version}"; else printf '${help}\\n'; fi\n`);
  chmodSync(bin, 0o755);
  return bin;
}

describe('checkQemu', () => {
  it('accepts QEMU ≥ 10.1 with every device', async () => {
    expect(await checkQemu(fakeQemu('10.1.0', REQUIRED_DEVICES))).toBe('10.1.0');
  });

  it('names an old version and every missing device at once', async () => {
    const bin = fakeQemu(
      '9.2.0',
      REQUIRED_DEVICES.filter((d) => d !== 'vfio-user-pci' && d !== 'virtio-9p-pci'),
    );
    const err = (await checkQemu(bin).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`QEMU ${bin} (9.2.0) cannot run p2pkit guests:`);
    expect(err.message).toContain('version 9.2.0 is too old: need ≥ 10.1');
    expect(err.message).toContain(
      'lacks required devices: vfio-user-pci, virtio-9p-pci (vfio-user-pci: build QEMU ≥ 10.1 with --enable-vfio-user-client)',
    );
  });

  it('says when the binary cannot run', async () => {
    await expect(checkQemu('/nonexistent/qemu')).rejects.toThrow(/^cannot run QEMU \/nonexistent\/qemu/);
  });
});

import { describe, expect, it } from 'vitest';
import { parseSize, resolveDemoOptions } from '../src/demo/options.ts';

const MiB = 1 << 20;

describe('demo options', () => {
  it('reads sizes with and without units', () => {
    expect(parseSize('64MiB', '--size')).toBe(64 * MiB);
    expect(parseSize('4m', '--size')).toBe(4 * MiB);
    expect(parseSize('4KiB', '--chunk')).toBe(4096);
    expect(parseSize('1048576', '--size')).toBe(MiB);
    expect(() => parseSize('lots', '--size')).toThrow("--size: cannot read 'lots' as a size");
  });

  it('applies the defaults of npm run demo', () => {
    expect(resolveDemoOptions({})).toMatchObject({
      sizeBytes: 64 * MiB,
      chunkBytes: 4 * MiB,
      cmbBytes: 64 * MiB,
      provider: 'p2pkit',
      keep: false,
    });
  });

  it('refuses sizes that do not fit together, naming the option', () => {
    expect(() => resolveDemoOptions({ sizeBytes: 3 * MiB, chunkBytes: 2 * MiB })).toThrow(
      /^--size: .* not a multiple of 1 MiB and of the chunk/,
    );
    expect(() => resolveDemoOptions({ chunkBytes: 1000 })).toThrow(/^--chunk: 1000 bytes is not a positive multiple of 4 KiB/);
    expect(() => resolveDemoOptions({ cmbBytes: 48 * MiB })).toThrow(/^--cmb: .* not a power of two/);
    expect(() => resolveDemoOptions({ cmbBytes: 4 * MiB, chunkBytes: 4 * MiB })).toThrow(/^--chunk: 4 MiB does not fit in half the CMB/);
    expect(() => resolveDemoOptions({ provider: 'gpu' as 'qemu' })).toThrow(/^--provider: 'gpu'/);
  });
});

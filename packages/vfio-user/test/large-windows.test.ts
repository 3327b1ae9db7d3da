/**
 * DMA windows larger than one ArrayBuffer can be (Node 20: < 4 GiB): a guest with more than ~6 GiB
 * of RAM sends such a DMA_MAP. The server maps them whole and reaches them through bounded views.
 */
import { ftruncateSync, readSync, writeSync } from 'node:fs';
import { gib, mib } from '@p2pkit/base';
import { SharedMemory } from '@p2pkit/native';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Rig, rig } from './harness.ts';

const BASE = 0x40_0000_0000n; // 256 GiB: a high guest-physical address, as QEMU places RAM above 4 GiB

let r: Rig;
let big: SharedMemory | undefined;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => {
  big?.close();
  big = undefined;
  r.dispose();
});

/** A sparse memfd of `size` bytes (no RAM used): a small SharedMemory whose file is then grown. */
function sparseMemfd(size: number): SharedMemory {
  const m = SharedMemory.create('big-guest-ram', 4096);
  ftruncateSync(m.fd.fd, size);
  return m;
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function pwrite(fd: number, offset: number, data: Uint8Array): void {
  expect(writeSync(fd, data, 0, data.length, offset)).toBe(data.length);
}

function pread(fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  expect(readSync(fd, out, 0, length, offset)).toBe(length);
  return out;
}

/** Program the scratch device's DMA engine: copy `length` bytes from `src` to `dst` (read, then write). */
async function deviceCopy(src: bigint, dst: bigint, length: number): Promise<void> {
  for (const [reg, v] of [
    [1, src],
    [2, dst],
    [3, BigInt(length)],
    [4, 1n],
  ] as const) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    await r.client.regionWrite(0, reg * 8, b);
  }
  await r.device.lastDma;
  expect(r.device.regs[5]).toBe(1n);
}

describe('DMA windows of more than 4 GiB', () => {
  it('maps a 16 GiB memfd and moves data below, above and across the 4 GiB and 1 GiB boundaries', async () => {
    big = sparseMemfd(gib(16));
    await r.client.dmaMap({ address: BASE, size: BigInt(gib(16)), flags: 3, fd: big.fd.fd });
    const fd = big.fd.fd;
    const n = 8192;

    // across the 4 GiB boundary (a view chunk boundary) → just above 4 GiB
    const a = pattern(n, 1);
    pwrite(fd, gib(4) - 4096, a);
    await deviceCopy(BASE + BigInt(gib(4) - 4096), BASE + BigInt(gib(4) + mib(1)), n);
    expect(pread(fd, gib(4) + mib(1), n)).toEqual(a);

    // just below 4 GiB → across the 1 GiB boundary
    const b = pattern(n, 2);
    pwrite(fd, gib(4) - n, b);
    await deviceCopy(BASE + BigInt(gib(4) - n), BASE + BigInt(gib(1) - 100), n);
    expect(pread(fd, gib(1) - 100, n)).toEqual(b);

    // near the end of the window (15 GiB + ...) → back to offset 0
    const c = pattern(n, 3);
    pwrite(fd, gib(16) - n, c);
    await deviceCopy(BASE + BigInt(gib(16) - n), BASE, n);
    expect(pread(fd, 0, n)).toEqual(c);
    expect(r.server.session?.dma.counters.messages).toBe(0); // all in place, no DMA messages

    // zero-copy views exist only inside one chunk
    const dma = r.server.session?.dma;
    expect(dma?.directView(BASE + BigInt(gib(4) + mib(1)), 16, false)).toEqual(a.subarray(0, 16));
    expect(dma?.directView(BASE + BigInt(gib(4) - 8), 16, false)).toBeUndefined();
    expect(r.log.entries).toEqual([]);
  });

  it('maps a 64 GiB sparse memfd and reaches its last bytes', async () => {
    big = sparseMemfd(gib(64));
    await r.client.dmaMap({ address: BASE, size: BigInt(gib(64)), flags: 3, fd: big.fd.fd });
    const data = pattern(4096, 9);
    pwrite(big.fd.fd, gib(48) + 12, data);
    await deviceCopy(BASE + BigInt(gib(48) + 12), BASE + BigInt(gib(64) - 4096), 4096);
    expect(pread(big.fd.fd, gib(64) - 4096, 4096)).toEqual(data);
    await r.client.dmaUnmap({ address: BASE, size: BigInt(gib(64)) });
    expect(r.server.session?.windows.size).toBe(0);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36); // still serving
  });
});

/**
 * DMA_MAP with an fd: the window must lie inside the file. A mapping past the end of the file is
 * accepted by mmap(2), but the first touch beyond EOF raises SIGBUS and kills the server.
 */
import { Errno } from '@p2pkit/base';
import { EventFd, openFdCount, SharedMemory } from '@p2pkit/native';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VfioUserError } from '../src/index.ts';
import { errnoOf, type Rig, rig } from './harness.ts';

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => r.dispose());

const clientLines = () => r.log.entries.filter((e) => e.channel === 'client');

describe('DMA_MAP checks the fd before mapping it', () => {
  it('refuses a 4 KiB memfd claimed as 1 MiB with EINVAL, closes the fd, and keeps serving', async () => {
    const small = SharedMemory.create('small', 4096);
    const before = openFdCount();
    expect(await errnoOf(r.client.dmaMap({ address: 0x8000_0000n, size: 1n << 20n, flags: 3, fd: small.fd.fd }))).toBe(Errno.EINVAL);
    expect(clientLines().some((e) => /beyond the end of the file/.test(e.message))).toBe(true);
    expect(openFdCount()).toBe(before); // the server closed its copy of the fd
    expect(r.server.session?.windows.size).toBe(0);
    // a device DMA at the would-be window is refused as a transfer error, not a SIGBUS
    for (const [reg, v] of [
      [1, 0x8000_0000n + 0x8000n],
      [2, 0x8000_0000n],
      [3, 16n],
      [4, 1n],
    ] as const) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      await r.client.regionWrite(0, reg * 8, b);
    }
    await r.device.lastDma;
    expect(r.device.regs[5]).toBe(2n);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
    small.close();
  });

  it('counts the fd offset: offset + size beyond the file is refused, inside it is mapped', async () => {
    const mem = SharedMemory.create('mem', 64 * 1024);
    expect(await errnoOf(r.client.dmaMap({ address: 0x1_0000n, size: 32768n, flags: 3, fd: mem.fd.fd, offset: 40960n }))).toBe(
      Errno.EINVAL,
    );
    await r.client.dmaMap({ address: 0x1_0000n, size: 32768n, flags: 3, fd: mem.fd.fd, offset: 32768n });
    mem.bytes[32768] = 0x5a;
    expect(r.server.session?.dma.directView(0x1_0000n, 1, false)?.[0]).toBe(0x5a);
    mem.close();
  });

  it('refuses an fd that is not a regular file or memfd (an eventfd)', async () => {
    const ev = EventFd.create();
    expect(await errnoOf(r.client.dmaMap({ address: 0x1_0000n, size: 4096n, flags: 3, fd: ev.fd }))).toBe(Errno.EINVAL);
    expect(clientLines().some((e) => /not a regular file/.test(e.message))).toBe(true);
    ev.close();
  });
});

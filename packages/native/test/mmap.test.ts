import { ftruncateSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeFd, EventFd, fileStat, MappedRegion, openFdCount, SharedMemory, UnixListener, UnixStream } from '../src/index.ts';
import { readOnce, tempDir } from './helpers.ts';

describe('MappedRegion', () => {
  it('gives zero-copy views that are invalidated on unmap', () => {
    const mem = SharedMemory.create('guest', 1 << 20);
    const map = MappedRegion.map(mem.fd.fd, 4096, 8192);
    const v = map.view(0, 16);
    v[0] = 0xaa;
    expect(mem.bytes[4096]).toBe(0xaa);
    expect(() => map.view(8190, 4)).toThrow(RangeError);
    map.unmap();
    expect(map.mapped).toBe(false);
    expect(() => map.view(0, 1)).toThrow(/unmapped/);
    // A view kept by mistake touches a private placeholder: no crash, and guest memory is untouched.
    v[1] = 0x55;
    expect(mem.bytes[4097]).toBe(0);
    map.unmap();
    mem.close();
  });

  it('maps read-only when asked', () => {
    const mem = SharedMemory.create('ro', 4096);
    mem.bytes[0] = 3;
    const map = MappedRegion.map(mem.fd.fd, 0, 4096, 'r');
    expect(map.writable).toBe(false);
    expect(map.view(0, 1)[0]).toBe(3);
    map.unmap();
    mem.close();
  });

  it('maps more than one ArrayBuffer can hold (16 GiB sparse memfd): views per 1 GiB chunk, copies across chunks', () => {
    const GiB = 2 ** 30;
    const mem = SharedMemory.create('big', 4096);
    ftruncateSync(mem.fd.fd, 16 * GiB); // sparse: no RAM used
    const map = MappedRegion.map(mem.fd.fd, 0, 16 * GiB);
    expect(() => map.bytes).toThrow(RangeError);
    expect(map.tryView(4 * GiB - 8, 16)).toBeUndefined(); // crosses the 4 GiB chunk boundary
    expect(() => map.view(4 * GiB - 8, 16)).toThrow(/view boundary/);
    const data = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    map.write(4 * GiB - 32, data);
    const back = new Uint8Array(64);
    map.readInto(4 * GiB - 32, back);
    expect(back).toEqual(data);
    const high = map.view(4 * GiB, 32);
    expect(high).toEqual(data.subarray(32));
    const onDisk = Buffer.alloc(64);
    readSync(mem.fd.fd, onDisk, 0, 64, 4 * GiB - 32);
    expect([...onDisk]).toEqual([...data]);
    expect(() => map.readInto(16 * GiB - 8, new Uint8Array(16))).toThrow(RangeError);
    map.unmap();
    expect(() => map.tryView(0, 1)).toThrow(/unmapped/);
    high[0] = 0xee; // a stale chunk view touches the placeholder, not the file
    readSync(mem.fd.fd, onDisk, 0, 1, 4 * GiB);
    expect(onDisk[0]).toBe(33);
    mem.close();
  });

  it('refuses copies into a read-only mapping instead of faulting', () => {
    const mem = SharedMemory.create('ro2', 4096);
    const map = MappedRegion.map(mem.fd.fd, 0, 4096, 'r');
    expect(() => map.write(0, Uint8Array.of(1))).toThrow(/read-only/);
    map.unmap();
    mem.close();
  });

  it('fails mapping beyond what the fd allows with a clear error', () => {
    expect(() => MappedRegion.map(-1, 0, 4096)).toThrow(/failed: EBADF/);
    // past the end of the file: mmap(2) would accept it and the first touch would be SIGBUS
    const mem = SharedMemory.create('small', 4096);
    expect(() => MappedRegion.map(mem.fd.fd, 0, 1 << 20)).toThrow(/mmap failed: EINVAL.*beyond the end of the file/);
    expect(() => MappedRegion.map(mem.fd.fd, 4096, 4096)).toThrow(/beyond the end of the file/);
    expect(fileStat(mem.fd.fd)).toMatchObject({ size: 4096n, isRegularFile: true });
    mem.close();
  });
});

describe('EventFd', () => {
  it('counts signals', () => {
    const ev = EventFd.create();
    ev.signal();
    ev.signal();
    expect(ev.drain()).toBe(2n);
    expect(ev.drain()).toBe(0n);
    ev.close();
    ev.close(); // closing twice is a no-op, never a double close(2)
  });
});

describe('fd hygiene', () => {
  it('leaves the open-fd count unchanged after 1,000 connect/map/disconnect cycles', async () => {
    const d = tempDir();
    const listener = UnixListener.listen(join(d.path, 'hyg.sock'));
    const guestRam = SharedMemory.create('ram', 64 * 1024);
    let serverSide: UnixStream | undefined;
    let accepted: (s: UnixStream) => void = () => {};
    listener.onConnection((s) => accepted(s));
    const before = openFdCount();
    for (let i = 0; i < 1000; i++) {
      const got = new Promise<UnixStream>((r) => {
        accepted = r;
      });
      const client = UnixStream.connect(listener.path);
      serverSide = await got;
      client.write(Buffer.from([i & 0xff]), [guestRam.fd.fd]);
      const chunk = await readOnce(serverSide);
      const fd = chunk.fds[0] as number;
      const map = MappedRegion.map(fd, 0, 4096);
      closeFd(fd);
      map.view(0, 1)[0] = i & 0xff;
      map.unmap();
      client.close();
      serverSide.close();
    }
    expect(openFdCount()).toBe(before);
    expect(guestRam.bytes[0]).toBe(999 & 0xff);
    listener.close();
    guestRam.close();
    d.cleanup();
  });
});

describe('file-backed SharedMemory', () => {
  it('keeps its contents in the file across close and reopen', () => {
    const d = tempDir();
    const path = join(d.path, 'pmr.bin');
    const a = SharedMemory.openFile(path, 1 << 20);
    a.bytes.set([1, 2, 3], 4096);
    a.sync();
    a.close();
    const b = SharedMemory.openFile(path, 1 << 20);
    expect([...b.bytes.subarray(4096, 4099)]).toEqual([1, 2, 3]);
    b.close();
    d.cleanup();
  });
});

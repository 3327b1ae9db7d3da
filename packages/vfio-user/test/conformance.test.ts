import { Errno } from '@p2pkit/base';
import { closeFd, EventFd, MappedRegion, openFdCount, SharedMemory } from '@p2pkit/native';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IrqSetFlags as F, VfioUserClient, VfioUserError } from '../src/index.ts';
import { Command, codec, HeaderFlags } from '../src/internal.ts';
import { errnoOf, RAM_BASE, RAM_SIZE, type Rig, rig, until } from './harness.ts';

let r: Rig;
beforeEach(async () => {
  r = await rig();
});
afterEach(() => r.dispose());

async function mapRam(client = r.client) {
  await client.dmaMap({ address: RAM_BASE, size: BigInt(RAM_SIZE), flags: 3, fd: r.ram.fd.fd });
}

describe('VERSION', () => {
  it('answers 0.0 with the capabilities QEMU needs', async () => {
    expect(r.client.serverCapabilities).toMatchObject({ max_msg_fds: 16, max_data_xfer_size: 1 << 20, pgsizes: 4096, max_dma_maps: 65535 });
    expect(r.client.serverCapabilities).not.toHaveProperty('twin_socket');
    // the reply is NUL terminated
    const reply = await r.client.request(Command.VERSION, codec.encodeVersion({ major: 0, minor: 0, capabilities: {} }));
    expect(reply.payload.readUInt16LE(0)).toBe(0);
    expect(reply.payload.readUInt16LE(2)).toBe(0);
    expect(reply.payload[reply.payload.length - 1]).toBe(0);
  });

  it('refuses a major version it does not speak, and bad JSON', async () => {
    expect(await errnoOf(r.client.request(Command.VERSION, codec.encodeVersion({ major: 1, minor: 0, capabilities: {} })))).toBe(
      Errno.ENOTSUP,
    );
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from('{not json\0')]);
    expect(await errnoOf(r.client.request(Command.VERSION, bad))).toBe(Errno.EINVAL);
    expect(r.log.entries.filter((e) => e.channel === 'client').length).toBe(2);
  });

  it('refuses commands before VERSION', async () => {
    // the first client holds the device: disconnect it so this one is served
    r.client.close();
    await r.server.sessionEnded();
    const c = new VfioUserClient((await import('../src/index.ts')).SocketTransport.connect(r.path));
    await until(() => r.server.session !== undefined);
    expect(await errnoOf(c.deviceInfo())).toBe(Errno.EINVAL);
    c.close();
  });
});

describe('DMA_MAP / DMA_UNMAP', () => {
  it('maps guest RAM from an fd and lets the device DMA in place', async () => {
    await mapRam();
    r.ram.bytes.set([1, 2, 3, 4], 0x100);
    const dev = r.device;
    // device copies 4 bytes from RAM+0x100 to RAM+0x200 and raises MSI-X vector 0
    for (const [reg, v] of [
      [1, RAM_BASE + 0x100n],
      [2, RAM_BASE + 0x200n],
      [3, 4n],
      [4, 1n],
    ] as const) {
      await r.client.regionWrite(0, reg * 8, le64(v));
    }
    await dev.lastDma;
    expect(dev.regs[5]).toBe(1n);
    expect([...r.ram.bytes.subarray(0x200, 0x204)]).toEqual([1, 2, 3, 4]);
    expect(r.server.session?.dma.counters.messages).toBe(0);
  });

  it('refuses overlaps, bad flags, size 0 and more than one fd', async () => {
    await mapRam();
    expect(await errnoOf(r.client.dmaMap({ address: RAM_BASE + 4096n, size: 4096n, flags: 3 }))).toBe(Errno.EEXIST);
    expect(await errnoOf(r.client.dmaMap({ address: 0x1000n, size: 4096n, flags: 0x40 | 1 }))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.dmaMap({ address: 0x1000n, size: 0n, flags: 1 }))).toBe(Errno.EINVAL);
    const before = openFdCount();
    const p = r.client.request(Command.DMA_MAP, codec.encodeDmaMap({ flags: 3, offset: 0n, address: 0x2000n, size: 4096n }), [
      r.ram.fd.fd,
      r.ram.fd.fd,
    ]);
    expect(await errnoOf(p)).toBe(Errno.EINVAL);
    expect(openFdCount()).toBe(before);
    expect(r.server.session?.windows.size).toBe(1);
  });

  it('maps without an fd: device DMA goes out as DMA_READ/DMA_WRITE messages (16-byte layout)', async () => {
    const peer = new Uint8Array(8192).map((_, i) => i & 0xff);
    r.client.exposeMemory(0xfe00_0000n, peer);
    await r.client.dmaMap({ address: 0xfe00_0000n, size: 8192n, flags: 3 });
    await mapRam();
    for (const [reg, v] of [
      [1, 0xfe00_0010n],
      [2, RAM_BASE],
      [3, 16n],
      [4, 1n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    await r.device.lastDma;
    expect([...r.ram.bytes.subarray(0, 16)]).toEqual([...peer.subarray(16, 32)]);
    // the DMA_READ request carried address @16 and count @24 (absolute), reply data @32
    const req = r.received.find((m) => m.header.command === Command.DMA_READ);
    expect(req?.payload.length).toBe(16);
    expect(req?.payload.readBigUInt64LE(0)).toBe(0xfe00_0010n);
    expect(req?.payload.readBigUInt64LE(8)).toBe(16n);
    expect(r.client.dmaServed.reads).toBe(1);
  });

  it('splits large server→client transfers into DMA messages of at most 64 KiB', async () => {
    const peer = new Uint8Array(200 * 1024).map((_, i) => (i * 7) & 0xff);
    r.client.exposeMemory(0xfe00_0000n, peer);
    await mapRam();
    for (const [reg, v] of [
      [1, 0xfe00_0000n],
      [2, RAM_BASE],
      [3, BigInt(peer.length)],
      [4, 1n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    await r.device.lastDma;
    expect(Buffer.compare(Buffer.from(r.ram.bytes.subarray(0, peer.length)), Buffer.from(peer))).toBe(0);
    const reads = r.received.filter((m) => m.header.command === Command.DMA_READ && !(m.header.flags & 0xf));
    expect(reads.map((m) => Number(m.payload.readBigUInt64LE(8)))).toEqual([65536, 65536, 65536, 200 * 1024 - 3 * 65536]);
  });

  it('reports a DMA the client refuses as a device-visible transfer error', async () => {
    await mapRam();
    for (const [reg, v] of [
      [1, 0xdead_0000n],
      [2, RAM_BASE],
      [3, 16n],
      [4, 1n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    await r.device.lastDma;
    expect(r.device.regs[5]).toBe(2n);
    expect(r.client.dmaServed.refused).toBe(1);
  });

  it('unmaps by range (type1: splitting a window is refused), and unmaps all', async () => {
    await mapRam();
    await r.client.dmaMap({ address: 0x1000n, size: 4096n, flags: 1, fd: r.ram.fd.fd });
    expect(await errnoOf(r.client.dmaUnmap({ address: 0x1000n, size: 2048n }))).toBe(Errno.EINVAL);
    await r.client.dmaUnmap({ address: 0x1000n, size: 4096n });
    expect(r.server.session?.windows.size).toBe(1);
    expect(await errnoOf(r.client.request(Command.DMA_UNMAP, codec.encodeDmaUnmap({ flags: 2, address: 1n, size: 0n })))).toBe(
      Errno.EINVAL,
    );
    expect(await errnoOf(r.client.request(Command.DMA_UNMAP, codec.encodeDmaUnmap({ flags: 4, address: 0n, size: 0n })))).toBe(
      Errno.EINVAL,
    );
    const reply = await r.client.request(Command.DMA_UNMAP, codec.encodeDmaUnmap({ flags: 2, address: 0n, size: 0n }));
    expect(reply.payload.length).toBe(24);
    expect(r.server.session?.windows.size).toBe(0);
  });

  it('honours read-only windows: a device write into one fails', async () => {
    await r.client.dmaMap({ address: RAM_BASE, size: BigInt(RAM_SIZE), flags: 1, fd: r.ram.fd.fd });
    for (const [reg, v] of [
      [1, RAM_BASE],
      [2, RAM_BASE + 64n],
      [3, 8n],
      [4, 1n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    await r.device.lastDma;
    expect(r.device.regs[5]).toBe(2n);
  });
});

describe('device, region and IRQ info', () => {
  it('DEVICE_GET_INFO reports a resettable PCI device with 9 regions and 5 IRQ indexes', async () => {
    expect(await r.client.deviceInfo()).toEqual({ argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 });
    expect(await errnoOf(r.client.request(Command.DEVICE_GET_INFO, Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])))).toBe(
      Errno.EINVAL,
    );
  });

  it('GET_REGION_INFO attaches one mmappable fd and the sparse-mmap capability', async () => {
    const bar0 = await r.client.regionInfo(0);
    expect(bar0).toMatchObject({ index: 0, size: 4096n, flags: 3 });
    expect(bar0.fd).toBeUndefined();
    const bar2 = await r.client.regionInfo(2);
    expect(bar2.flags).toBe(15);
    expect(bar2.sparse).toEqual([{ offset: 0n, size: BigInt((2 << 20) - 4096) }]);
    expect(bar2.argsz).toBeGreaterThan(32);
    const fd = bar2.fd as number;
    const m = MappedRegion.map(fd, 0, 4096);
    m.view(0, 4).set([9, 8, 7, 6]);
    expect([...r.device.bar2.bytes.subarray(0, 4)]).toEqual([9, 8, 7, 6]);
    m.unmap();
    closeFd(fd);
    expect(await errnoOf(r.client.regionInfo(9))).toBe(Errno.EINVAL);
    const unused = await r.client.regionInfo(4);
    expect(unused).toMatchObject({ size: 0n, flags: 0 });
  });

  it('GET_IRQ_INFO describes each index', async () => {
    expect(await r.client.irqInfo(0)).toEqual({ index: 0, count: 1, flags: 7 });
    expect(await r.client.irqInfo(2)).toMatchObject({ index: 2, count: 4 });
    expect(await errnoOf(r.client.irqInfo(5))).toBe(Errno.EINVAL);
  });
});

describe('SET_IRQS', () => {
  it('INTx: trigger eventfd, automask until unmask, pending delivered on unmask, disable', async () => {
    const ev = EventFd.create();
    await r.client.setIrqs({ index: 0, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [ev.fd] });
    await r.client.regionWrite(0, 0x38, le64(1n));
    expect(ev.drain()).toBe(1n);
    await r.client.regionWrite(0, 0x38, le64(1n)); // masked: becomes pending
    expect(ev.drain()).toBe(0n);
    await r.client.setIrqs({ index: 0, flags: F.DATA_NONE | F.ACTION_UNMASK, start: 0, count: 1 });
    expect(ev.drain()).toBe(1n);
    await r.client.setIrqs({ index: 0, flags: F.DATA_NONE | F.ACTION_UNMASK, start: 0, count: 1 });
    await r.client.setIrqs({ index: 0, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 });
    expect(r.server.session?.irqs.isEnabled(0)).toBe(false);
    await r.client.regionWrite(0, 0x38, le64(1n));
    expect(ev.drain()).toBe(0n);
    ev.close();
  });

  it('MSI-X: per-vector binding (QEMU style), DATA_BOOL and DATA_NONE triggers, mask/unmask', async () => {
    const evs = [EventFd.create(), EventFd.create()];
    await r.client.setIrqs({ index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1 }); // enable with no fd
    await r.client.setIrqs({ index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [evs[0]!.fd] });
    await r.client.setIrqs({ index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 3, count: 1, fds: [evs[1]!.fd] });
    await r.client.regionWrite(0, 0x30, le64(3n));
    expect(evs[1]!.drain()).toBe(1n);
    expect(evs[0]!.drain()).toBe(0n);
    await r.client.setIrqs({ index: 2, flags: F.DATA_BOOL | F.ACTION_TRIGGER, start: 0, count: 4, data: Uint8Array.from([1, 0, 0, 1]) });
    expect([evs[0]!.drain(), evs[1]!.drain()]).toEqual([1n, 1n]);
    await r.client.setIrqs({ index: 2, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 3, count: 1 });
    expect(evs[1]!.drain()).toBe(1n);
    await r.client.setIrqs({ index: 2, flags: F.DATA_NONE | F.ACTION_MASK, start: 3, count: 1 });
    await r.client.regionWrite(0, 0x30, le64(3n));
    expect(evs[1]!.drain()).toBe(0n);
    await r.client.setIrqs({ index: 2, flags: F.DATA_BOOL | F.ACTION_UNMASK, start: 3, count: 1, data: Uint8Array.from([1]) });
    expect(evs[1]!.drain()).toBe(1n);
    for (const e of evs) e.close();
  });

  it('MSI: all vectors bound in one request (several fds in one message), triggered per vector, disabled', async () => {
    const evs = [EventFd.create(), EventFd.create()];
    await r.client.setIrqs({ index: 1, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 2, fds: evs.map((e) => e.fd) });
    await r.client.regionWrite(0, 0x40, le64(1n));
    expect([evs[0]!.drain(), evs[1]!.drain()]).toEqual([0n, 1n]);
    await r.client.setIrqs({ index: 1, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 1 });
    expect(evs[0]!.drain()).toBe(1n);
    await r.client.setIrqs({ index: 1, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 });
    expect(r.server.session?.irqs.isEnabled(1)).toBe(false);
    await r.client.regionWrite(0, 0x40, le64(0n));
    expect(evs[0]!.drain()).toBe(0n);
    for (const e of evs) e.close();
  });

  it('refuses invalid combinations with EINVAL and closes the fds it was given', async () => {
    const ev = EventFd.create();
    const before = openFdCount();
    const bad = [
      { index: 2, flags: F.DATA_EVENTFD | F.DATA_BOOL | F.ACTION_TRIGGER, start: 0, count: 1 },
      { index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 3, count: 2, fds: [ev.fd, ev.fd] },
      { index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 2, fds: [ev.fd] },
      { index: 2, flags: F.DATA_EVENTFD | F.ACTION_MASK, start: 0, count: 1, fds: [ev.fd] },
      { index: 1, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 1, count: 2 },
      { index: 7, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 },
      { index: 2, flags: F.DATA_BOOL | F.ACTION_TRIGGER, start: 0, count: 4, data: Uint8Array.from([1]) },
      { index: 2, flags: F.DATA_NONE | 0x40, start: 0, count: 1 },
    ];
    for (const b of bad) expect(await errnoOf(r.client.setIrqs(b))).toBe(Errno.EINVAL);
    expect(openFdCount()).toBe(before);
    ev.close();
  });
});

describe('REGION_READ / REGION_WRITE', () => {
  it('reads back what was written, in BARs and config space', async () => {
    await r.client.regionWrite(0, 0, le64(0x1122334455667788n));
    expect((await r.client.regionRead(0, 0, 8)).readBigUInt64LE(0)).toBe(0x1122334455667788n);
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
    await r.client.regionWrite(2, 0x100, Buffer.from('hello'));
    expect((await r.client.regionRead(2, 0x100, 5)).toString()).toBe('hello');
  });

  it('refuses accesses beyond a region, to missing regions, and size mismatches', async () => {
    expect(await errnoOf(r.client.regionRead(0, 4094, 4))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.regionRead(4, 0, 4))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.regionRead(12, 0, 4))).toBe(Errno.EINVAL);
    expect(await errnoOf(r.client.regionRead(0, 0, 0))).toBe(Errno.EINVAL);
    const lying = codec.encodeRegionAccess({ offset: 0n, region: 0, count: 8, data: Buffer.alloc(4) });
    expect(await errnoOf(r.client.request(Command.REGION_WRITE, lying))).toBe(Errno.EINVAL);
  });

  it('never answers a NO_REPLY (posted) write, and applies it in order', async () => {
    await r.client.regionWrite(0, 0, le64(5n), true);
    expect((await r.client.regionRead(0, 0, 8)).readBigUInt64LE(0)).toBe(5n);
    r.client.writeMulti([
      { offset: 0n, region: 0, data: le64(6n) },
      { offset: 8n, region: 0, data: le64(7n).subarray(0, 4) },
    ]);
    expect(await r.client.read32(0, 8)).toBe(7);
    expect((await r.client.regionRead(0, 0, 8)).readBigUInt64LE(0)).toBe(6n);
    expect(r.client.unexpectedReplies).toBe(0);
  });
});

describe('reset, unsupported and malformed messages, reconnect', () => {
  it('DEVICE_RESET resets the device', async () => {
    await r.client.regionWrite(0, 0, le64(5n));
    await r.client.reset();
    expect(r.device.resets).toBe(1);
    expect((await r.client.regionRead(0, 0, 8)).readBigUInt64LE(0)).toBe(0n);
  });

  it('answers unsupported commands with ENOSYS', async () => {
    for (const c of [Command.DEVICE_GET_REGION_IO_FDS, Command.DIRTY_PAGES, Command.DEVICE_FEATURE, Command.MIG_DATA_READ, 99]) {
      expect(await errnoOf(r.client.request(c, Buffer.alloc(16)))).toBe(Errno.ENOSYS);
    }
  });

  it('drops a client that sends a malformed header, keeps device state, and serves the next client', async () => {
    await mapRam();
    await r.client.regionWrite(0, 0, le64(42n));
    const ev = EventFd.create();
    await r.client.setIrqs({ index: 0, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [ev.fd] });
    const ended = r.server.sessionEnded();
    const bad = codec.encodeMessage({ id: 1, command: Command.REGION_READ, flags: HeaderFlags.TYPE_COMMAND, error: 0 });
    bad.writeUInt32LE(8, 4); // size smaller than a header
    r.client.sendRaw(bad);
    await ended;
    await r.client.whenClosed();
    expect(r.device.detaches).toBe(1);
    const second = await r.connect();
    expect(r.server.sessionCount).toBe(2);
    expect((await second.regionRead(0, 0, 8)).readBigUInt64LE(0)).toBe(42n);
    expect(r.server.session?.windows.size).toBe(0);
    expect(r.server.session?.irqs.isEnabled(0)).toBe(false);
    second.close();
    ev.close();
  });

  it('refuses a second concurrent client without disturbing the first', async () => {
    const other = VfioUserClient.connect(r.path, { timeoutMs: 500 });
    await expect(other).rejects.toThrow();
    expect(await r.client.read32(7, 0)).toBe(0x10f01b36);
  });

  it('keeps the open-fd count unchanged over 50 connect/map/irq/disconnect cycles', async () => {
    r.client.close();
    await r.server.sessionEnded();
    const before = openFdCount();
    for (let i = 0; i < 50; i++) {
      const c = await r.connect();
      await mapRam(c);
      const ev = EventFd.create();
      await c.setIrqs({ index: 2, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [ev.fd] });
      const info = await c.regionInfo(2);
      closeFd(info.fd as number);
      const ended = r.server.sessionEnded();
      c.close();
      ev.close();
      await ended;
    }
    expect(openFdCount()).toBe(before);
  });
});

describe('no deadlock by construction', () => {
  it('sends a DMA request only after the reply to the request that caused it', async () => {
    r.client.exposeMemory(0xfe00_0000n, new Uint8Array(64));
    await mapRam();
    for (const [reg, v] of [
      [1, 0xfe00_0000n],
      [2, RAM_BASE],
      [3, 16n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    r.received.length = 0;
    await r.client.regionWrite(0, 4 * 8, le64(1n)); // "go": the device starts a DMA inside the write handler
    await r.device.lastDma;
    const order = r.received.map((m) => `${m.header.command}:${m.header.flags & 0xf}`);
    expect(order.indexOf(`${Command.REGION_WRITE}:1`)).toBeLessThan(order.indexOf(`${Command.DMA_READ}:0`));
    expect(r.device.regs[5]).toBe(1n);
  });

  it('keeps serving region accesses while a DMA request is outstanding', async () => {
    // A client that answers DMA_READ late: the server must still answer REGION_READs meanwhile.
    const mem = new Uint8Array(64).fill(0xab);
    r.client.exposeMemory(0xfe00_0000n, mem);
    await mapRam();
    for (const [reg, v] of [
      [1, 0xfe00_0000n],
      [2, RAM_BASE],
      [3, 64n],
    ] as const)
      await r.client.regionWrite(0, reg * 8, le64(v));
    await r.client.regionWrite(0, 4 * 8, le64(1n));
    const reads = await Promise.all(Array.from({ length: 20 }, () => r.client.read32(7, 0)));
    expect(new Set(reads)).toEqual(new Set([0x10f01b36]));
    await r.device.lastDma;
    expect(r.ram.bytes[63]).toBe(0xab);
  });
});

describe('in-memory transport', () => {
  it('serves the same device without sockets, fds duplicated like SCM_RIGHTS', async () => {
    const { MemoryTransport } = await import('../src/index.ts');
    r.client.close();
    await r.server.sessionEnded();
    const [a, b] = MemoryTransport.pair();
    r.server.serve(b);
    const c = new VfioUserClient(a);
    await c.negotiate();
    const ram = SharedMemory.create('mem-ram', 4096);
    ram.bytes[0] = 77;
    await c.dmaMap({ address: 0n, size: 4096n, flags: 3, fd: ram.fd.fd });
    expect(r.server.session?.dma.directView(0n, 1, false)?.[0]).toBe(77);
    expect(await c.read32(7, 0)).toBe(0x10f01b36);
    c.close();
    ram.close();
  });
});

function le64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

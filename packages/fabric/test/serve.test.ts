import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mib, recordingLogger } from '@p2pkit/base';
import { type DeviceInstance, defineEndpoint, memfdBarMemory, memory, mmio } from '@p2pkit/pci';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fabric, serve, topology } from '../src/index.ts';

const small = defineEndpoint({
  name: 'small',
  ids: { vendor: 0x1b36, device: 0x00fd, class: 0xff0000 },
  bars: { 0: mmio({ size: 4096, read: () => 0x11, write: () => {} }), 2: memory({ size: mib(2), prefetchable: true, bits: 64 }) },
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'p2pkit-serve-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function vendorDevice(socket: string): Promise<number> {
  const client = await VfioUserClient.connect(socket);
  try {
    return await client.read32(RegionIndex.CONFIG, 0);
  } finally {
    client.close();
  }
}

describe('serve', () => {
  it('serves a declaration alone, with memfd memory BARs, and closes the endpoint it created', async () => {
    const log = recordingLogger();
    const served = serve(small, { socket: join(dir, 'a.sock'), logger: log });
    expect(served.fabricEndpoint).toBeUndefined();
    expect(served.server.options.logger).toBe(log);
    expect(served.endpoint.regions().find((r) => r.index === RegionIndex.BAR2)?.fd).toBeDefined(); // memfd: QEMU can mmap it
    expect(await vendorDevice(join(dir, 'a.sock'))).toBe(0x00fd1b36);
    served.close();
    expect(() => served.endpoint.handle.memory(2)).toThrow();
    served.close(); // idempotent
  });

  it('serves an endpoint or a device instance on a fabric and leaves both open', async () => {
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach('a', 'b')))
        .build(),
    );
    using endpoint = small.create({ memory: memfdBarMemory });
    const instance: DeviceInstance = {
      endpoint: small.create({ memory: memfdBarMemory }),
      close: async () => instance.endpoint.close(),
      [Symbol.asyncDispose]: () => instance.close(),
    };
    {
      using a = serve(endpoint, { socket: join(dir, 'a.sock'), fabric, id: 'a', logger: recordingLogger() });
      using b = serve(instance, { socket: join(dir, 'b.sock'), fabric, id: 'b', logger: recordingLogger() });
      expect(a.endpoint).toBe(endpoint);
      expect(b.endpoint).toBe(instance.endpoint);
      expect(b.fabricEndpoint?.id).toBe('b');
      expect(fabric.bars('b').map((bar) => bar.index)).toEqual([0, 2]);
      expect(await vendorDevice(join(dir, 'b.sock'))).toBe(0x00fd1b36);
    }
    expect(fabric.isRegistered('a') || fabric.isRegistered('b')).toBe(false);
    expect(endpoint.handle.memory(2).length).toBe(mib(2)); // still open
    await instance.close();
  });

  it('needs a topology id with a fabric, and leaves nothing behind when serving fails', () => {
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) => rp.attach('a'))
        .build(),
    );
    expect(() => serve(small, { socket: join(dir, 'a.sock'), fabric })).toThrow(/`id`/);
    expect(() => serve(small, { socket: join(dir, 'a.sock'), fabric, id: 'nope' })).toThrow(/nope/);
    expect(() => serve(small, { socket: join(dir, 'x'.repeat(120)), fabric, id: 'a', logger: recordingLogger() })).toThrow();
    expect(fabric.isRegistered('a')).toBe(false);
    serve(small, { socket: join(dir, 'a.sock'), fabric, id: 'a', logger: recordingLogger() }).close();
  });
});

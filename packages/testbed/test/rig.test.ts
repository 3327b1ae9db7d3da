import { existsSync } from 'node:fs';
import { recordingLogger } from '@p2pkit/base';
import { endpointsOf, qemuNvme, topology } from '@p2pkit/fabric';
import { defineEndpoint, memory, mmio, pciExpress } from '@p2pkit/pci';
import { RegionIndex, VfioUserClient } from '@p2pkit/vfio-user';
import { describe, expect, it } from 'vitest';
import { planTopology, Rig } from '../src/index.ts';

const tiny = defineEndpoint({
  name: 'tiny',
  ids: { vendor: 0x1b36, device: 0x00fe, class: 0xff0000 },
  bars: { 0: mmio({ size: 4096, read: () => 0x5a, write: () => {} }), 2: memory({ size: 1 << 20, bits: 64, prefetchable: true }) },
  capabilities: [pciExpress.endpoint()],
});

const system = () =>
  topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach('a');
      sw.downstream('dn1').attach(qemuNvme({ serial: 'ref', cmbMiB: 16, id: 'qemuC' }));
      sw.downstream('dn2').attach('b');
    }),
  );

describe('Rig', () => {
  it('serves each p2pkit endpoint on its own socket, on a fabric built from the same description', async () => {
    using a = tiny.create();
    const rig = new Rig({ topology: system(), devices: { a, b: tiny }, logger: recordingLogger() });
    const b = rig.served.get('b')?.endpoint;
    try {
      const [ep, ref] = endpointsOf(rig.topology);
      expect(ep?.device).toEqual({ kind: 'vfio-user', socket: `${rig.dir}/a.sock` });
      expect(ref?.device.kind).toBe('qemu-nvme');
      expect(planTopology(rig.topology, '/d').devices.map((d) => d.endpoint.id)).toEqual(['a', 'qemuC', 'b']);
      expect(rig.fabric.bars('a').map((b) => b.index)).toEqual([0, 2]);
      expect(rig.fabric.bars('qemuC').map((b) => b.index)).toEqual([2]); // declared from the description

      const client = await VfioUserClient.connect(`${rig.dir}/a.sock`);
      expect(await client.read32(RegionIndex.CONFIG, 0)).toBe(0x00fe1b36);
      await rig.servers.get('a')?.nextSession();
      expect(rig.servers.get('a')?.session?.stats.size).toBeGreaterThan(0);
      client.close();
    } finally {
      rig.close();
    }
    expect(existsSync(rig.dir)).toBe(false);
    expect(rig.fabric.isRegistered('a')).toBe(false);
    expect(a.handle.memory(2).length).toBe(1 << 20); // the caller's endpoint stays open
    expect(() => b?.handle.memory(2)).toThrow(); // the one the rig created from a declaration is closed
  });

  it('refuses devices the topology does not place and p2pkit endpoints without a device', () => {
    using a = tiny.create();
    expect(() => new Rig({ topology: system(), devices: { a, b: a, c: a } })).toThrow(/device 'c' is not a p2pkit endpoint/);
    expect(() => new Rig({ topology: system(), devices: { b: a } })).toThrow(/endpoint 'a' has no device/);
  });
});

import { qemuNvme, topology, vfioUser } from '@p2pkit/fabric';
import { describe, expect, it } from 'vitest';
import { planTopology } from '../src/index.ts';

const devicesOf = (args: readonly string[]) => args.filter((_, i) => args[i - 1] === '-device');

const rig = () =>
  topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }));
      sw.downstream('dn1').attach(vfioUser({ socket: '/tmp/dev.sock', id: 'ep' }));
      sw.downstream('dn2');
    }),
  );

describe('QEMU argument plan', () => {
  it('emits ports with unique chassis/slot pairs and devices on their ports', () => {
    const plan = planTopology(
      rig()
        .rootPort('rp1', (rp) => rp.attach(qemuNvme({ serial: 'solo' })))
        .build(),
      '/disks',
    );
    const devs = devicesOf(plan.args);
    expect(devs).toContain('pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0');
    expect(devs).toContain('x3130-upstream,id=sw0,bus=rp0');
    expect(devs).toContain('xio3130-downstream,id=dn0,bus=sw0,chassis=2,slot=1');
    expect(devs).toContain('xio3130-downstream,id=dn2,bus=sw0,chassis=4,slot=3');
    expect(devs).toContain('pcie-root-port,id=rp1,chassis=5,slot=2,bus=pcie.0');
    expect(devs).toContain('nvme,id=dev0,serial=cmb0,drive=drv-dev0,bus=dn0,cmb_size_mb=64');
    expect(devs).toContain('nvme,id=dev2,serial=solo,drive=drv-dev2,bus=rp1');
    const vfio = devs.find((d) => d.startsWith('{'));
    expect(JSON.parse(vfio ?? '{}')).toEqual({
      driver: 'vfio-user-pci',
      id: 'ep',
      socket: { path: '/tmp/dev.sock', type: 'unix' },
      bus: 'dn1',
    });
    const pairs = devs.flatMap((d) => /chassis=(\d+),slot=(\d+)/.exec(d)?.slice(1, 3).join('/') ?? []);
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(plan.devices.find((d) => d.endpoint.id === 'dev0')).toMatchObject({ bus: 'dn0', image: '/disks/dev0.raw', ownsImage: true });
  });

  it('puts root-bus devices on pcie.0 and honours given images', () => {
    const plan = planTopology(
      topology()
        .attach(qemuNvme({ serial: 'a', image: '/img/a.raw' }))
        .build(),
      '/d',
    );
    expect(plan.args).toContain('file=/img/a.raw,if=none,id=drv-dev0,format=raw,cache=unsafe');
    expect(plan.args).toContain('nvme,id=dev0,serial=a,drive=drv-dev0,bus=pcie.0');
    expect(plan.devices[0]?.ownsImage).toBe(false);
  });

  it('places a switch below a downstream port (nested switch), chassis numbered depth-first', () => {
    const desc = topology()
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').switch('sw1', (inner) => {
            inner.downstream('dn10').attach(vfioUser({ socket: '/s/a.sock', id: 'a' }));
            inner.downstream('dn11').attach(qemuNvme({ serial: 'deep', id: 'deep' }));
          });
          sw.downstream('dn1').attach(vfioUser({ socket: '/s/b.sock', id: 'b' }));
        }),
      )
      .build();
    const devs = devicesOf(planTopology(desc, '/d').args);
    expect(devs.filter((d) => !d.startsWith('{'))).toEqual([
      'pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0',
      'x3130-upstream,id=sw0,bus=rp0',
      'xio3130-downstream,id=dn0,bus=sw0,chassis=2,slot=1',
      'x3130-upstream,id=sw1,bus=dn0',
      'xio3130-downstream,id=dn10,bus=sw1,chassis=3,slot=1',
      'xio3130-downstream,id=dn11,bus=sw1,chassis=4,slot=2',
      'nvme,id=deep,serial=deep,drive=drv-deep,bus=dn11',
      'xio3130-downstream,id=dn1,bus=sw0,chassis=5,slot=2',
    ]);
    expect(devs.filter((d) => d.startsWith('{')).map((d) => (JSON.parse(d) as { bus: string }).bus)).toEqual(['dn10', 'dn1']);
  });

  it('makes several endpoints on one port the functions of one multi-function device', () => {
    const desc = topology()
      .rootPort('rp0', (rp) =>
        rp.attach(
          vfioUser({ socket: '/s/f0.sock', id: 'f0' }),
          qemuNvme({ serial: 'f1', id: 'f1' }),
          vfioUser({ socket: '/s/f2.sock', id: 'f2' }),
        ),
      )
      .build();
    const plan = planTopology(desc, '/d');
    const devs = devicesOf(plan.args);
    expect(JSON.parse(devs[1] ?? '')).toEqual({
      driver: 'vfio-user-pci',
      id: 'f0',
      socket: { path: '/s/f0.sock', type: 'unix' },
      bus: 'rp0',
      addr: '0.0',
      multifunction: true,
    });
    expect(devs[2]).toBe('nvme,id=f1,serial=f1,drive=drv-f1,bus=rp0,addr=0.1');
    expect(JSON.parse(devs[3] ?? '')).toMatchObject({ id: 'f2', bus: 'rp0', addr: '0.2' });
    expect(JSON.parse(devs[3] ?? '')).not.toHaveProperty('multifunction');
    expect(plan.devices.map((d) => d.addr)).toEqual(['0.0', '0.1', '0.2']);
    const nine = topology()
      .rootPort('rp0', (rp) => rp.attach(...Array.from({ length: 9 }, (_, i) => vfioUser({ socket: `/s/${i}`, id: `f${i}` }))))
      .build();
    expect(() => planTopology(nine, '/d')).toThrow(/9 functions on one device \(at most 8\)/);
  });

  it("gives a root port's link to QEMU as x-speed/x-width; downstream ports keep it in the model only", () => {
    const desc = topology()
      .rootPort('rp0', { link: { gen: 3, width: 8 } }, (rp) =>
        rp.switch('sw0', (sw) => sw.downstream('dn0', { link: { gen: 5, width: 4 } }).attach(qemuNvme({ serial: 'x' }))),
      )
      .rootPort('rp1', { link: { gen: 1 } })
      .rootPort('rp2', { link: { width: 16 } })
      .build();
    const devs = devicesOf(planTopology(desc, '/d').args);
    expect(devs).toContain('pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0,x-speed=8,x-width=8');
    expect(devs).toContain('xio3130-downstream,id=dn0,bus=sw0,chassis=2,slot=1');
    expect(devs).toContain('pcie-root-port,id=rp1,chassis=3,slot=2,bus=pcie.0,x-speed=2_5');
    expect(devs).toContain('pcie-root-port,id=rp2,chassis=4,slot=3,bus=pcie.0,x-width=16');
    expect(() =>
      planTopology(
        topology()
          .rootPort('rp0', { link: { gen: 7 } })
          .build(),
        '/d',
      ),
    ).toThrow(/no Gen7 speed/);
  });

  it('rejects what QEMU cannot take: unserved p2pkit devices, bad ids, duplicate ids and serials', () => {
    expect(() =>
      planTopology(
        topology()
          .rootPort('rp0', (rp) => rp.attach('nvmeA'))
          .build(),
        '/d',
      ),
    ).toThrow(/nvmeA has no vfio-user socket/);
    expect(() => planTopology(topology().rootPort('rp 0').build(), '/d')).toThrow(/invalid root port id "rp 0"/);
    expect(() => planTopology(topology().rootPort('a').rootPort('a').build(), '/d')).toThrow(/duplicate topology id 'a'/);
    expect(() =>
      planTopology(
        topology()
          .attach(qemuNvme({ serial: 's' }), qemuNvme({ serial: 's' }))
          .build(),
        '/d',
      ),
    ).toThrow(/duplicate NVMe serial/);
    expect(() => qemuNvme({ serial: 'has space' })).toThrow(/serial/);
    expect(() => topology().rootPort('rp', (rp) => rp.attach(qemuNvme({ serial: 'x' })).switch('sw'))).toThrow(
      /already has something attached/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { devicesOf, planTopology, qemuNvme, topology, vfioUser } from '../src/index.ts';

const rig = () =>
  topology().rootPort('rp0', (rp) =>
    rp.switch('sw0', (sw) => {
      sw.downstream('dn0').attach(qemuNvme({ serial: 'cmb0', cmbMiB: 64 }));
      sw.downstream('dn1').attach(vfioUser({ socket: '/tmp/dev.sock', id: 'ep' }));
      sw.downstream('dn2');
    }),
  );

describe('topology builder', () => {
  it('builds plain, JSON-serialisable data', () => {
    const t = rig().build();
    expect(JSON.parse(JSON.stringify(t))).toEqual({
      rootBus: [],
      rootPorts: [
        {
          kind: 'root-port',
          id: 'rp0',
          child: {
            kind: 'switch',
            id: 'sw0',
            downstream: [
              { kind: 'downstream-port', id: 'dn0', device: { kind: 'qemu-nvme', serial: 'cmb0', sizeMiB: 64, cmbMiB: 64 } },
              { kind: 'downstream-port', id: 'dn1', device: { kind: 'vfio-user', socket: '/tmp/dev.sock', id: 'ep' } },
              { kind: 'downstream-port', id: 'dn2' },
            ],
          },
        },
      ],
    });
    expect(Object.isFrozen(t)).toBe(true);
    expect(devicesOf(t).map((d) => d.kind)).toEqual(['qemu-nvme', 'vfio-user']);
  });

  it('rejects duplicate ids, duplicate serials and bad serials', () => {
    expect(() => topology().rootPort('a').rootPort('a').build()).toThrow(/duplicate id "a"/);
    expect(() =>
      topology().rootBus(qemuNvme({ serial: 's' })).rootBus(qemuNvme({ serial: 's' })).build(),
    ).toThrow(/duplicate NVMe serial/);
    expect(() => qemuNvme({ serial: 'has space' })).toThrow(/serial/);
    expect(() => topology().rootPort('rp', (rp) => rp.attach(qemuNvme({ serial: 'x' })).attach(qemuNvme({ serial: 'y' })))).toThrow(/already has a child/);
  });
});

describe('QEMU argument plan', () => {
  it('emits ports with unique chassis/slot pairs and devices on their ports', () => {
    const plan = planTopology(rig().rootPort('rp1', (rp) => rp.attach(qemuNvme({ serial: 'solo' }))).build(), '/disks');
    const devs = plan.args.filter((_, i) => plan.args[i - 1] === '-device');
    expect(devs).toContain('pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0');
    expect(devs).toContain('x3130-upstream,id=sw0,bus=rp0');
    expect(devs).toContain('xio3130-downstream,id=dn0,bus=sw0,chassis=2,slot=1');
    expect(devs).toContain('xio3130-downstream,id=dn2,bus=sw0,chassis=4,slot=3');
    expect(devs).toContain('pcie-root-port,id=rp1,chassis=5,slot=2,bus=pcie.0');
    expect(devs).toContain('nvme,id=dev0,serial=cmb0,drive=drv-dev0,bus=dn0,cmb_size_mb=64');
    expect(devs).toContain('nvme,id=dev2,serial=solo,drive=drv-dev2,bus=rp1');
    const vfio = devs.find((d) => d.startsWith('{'));
    expect(JSON.parse(vfio ?? '{}')).toEqual({ driver: 'vfio-user-pci', id: 'ep', socket: { path: '/tmp/dev.sock', type: 'unix' }, bus: 'dn1' });
    const pairs = devs.flatMap((d) => /chassis=(\d+),slot=(\d+)/.exec(d)?.slice(1, 3).join('/') ?? []);
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(plan.devices.find((d) => d.id === 'dev0')).toMatchObject({ image: '/disks/dev0.raw', ownsImage: true });
  });

  it('puts root-bus devices on pcie.0 and honours given images', () => {
    const plan = planTopology(topology().rootBus(qemuNvme({ serial: 'a', image: '/img/a.raw' })).build(), '/d');
    expect(plan.args).toContain('file=/img/a.raw,if=none,id=drv-dev0,format=raw,cache=unsafe');
    expect(plan.args).toContain('nvme,id=dev0,serial=a,drive=drv-dev0,bus=pcie.0');
    expect(plan.devices[0]?.ownsImage).toBe(false);
  });
});

import { mib } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { endpointsOf, Fabric, mapEndpoints, qemuNvme, topology, vfioUser } from '../src/index.ts';

describe('topology description', () => {
  it('is plain JSON-serialisable data saying how QEMU realises each endpoint', () => {
    const desc = topology()
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('nvmeA');
          sw.downstream('dn1').attach(qemuNvme({ serial: 'ref0', cmbMiB: 16 }));
          sw.downstream('dn2').attach(vfioUser({ socket: '/run/x.sock', id: 'x' }));
        }),
      )
      .build();
    expect(JSON.parse(JSON.stringify(desc))).toEqual(desc);
    expect(endpointsOf(desc).map((e) => [e.id, e.device])).toEqual([
      ['nvmeA', { kind: 'vfio-user' }],
      ['dev1', { kind: 'qemu-nvme', serial: 'ref0', sizeMiB: 64, cmbMiB: 16 }],
      ['x', { kind: 'vfio-user', socket: '/run/x.sock' }],
    ]);
  });

  it('names endpoints without an id dev<N>, N counting every endpoint attached before', () => {
    const desc = topology()
      .attach(qemuNvme({ serial: 'r0' }))
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('cmb0');
          sw.downstream('dn1').attach(qemuNvme({ serial: 'a' }));
          sw.downstream('dn2');
        }),
      )
      .rootPort('rp1', (rp) => rp.attach({ mps: 128 }))
      .build();
    const fabric = new Fabric(desc);
    expect(fabric.topology.endpointIds()).toEqual(['dev0', 'cmb0', 'dev2', 'dev3']);
    expect(fabric.topology.node('dev3').mps).toBe(128);
    expect(fabric.topology.pathToRoot('dev2')).toEqual(['dev2', 'dn1', 'sw0', 'rp0', 'host']);
  });

  it('models nested switches, multi-function devices and per-port links', () => {
    const desc = topology()
      .rootPort('rp0', { link: { gen: 5, width: 16 } }, (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0', { link: { gen: 4, width: 8 } }).switch('sw1', (inner) => inner.downstream('dn10').attach('gpu0'));
          sw.downstream('dn1').attach('fn0', 'fn1');
        }),
      )
      .build();
    const t = new Fabric(desc).topology;
    expect(t.pathToRoot('gpu0')).toEqual(['gpu0', 'dn10', 'sw1', 'dn0', 'sw0', 'rp0', 'host']);
    expect(t.switchUpstreamLinks().map((l) => l.name)).toEqual(['rp0 → sw0', 'dn0 → sw1']);
    expect(t.link('rp0').params).toMatchObject({ gen: 5, width: 16 }); // the far side follows the port unless it says otherwise
    expect(t.link('dn0').params).toMatchObject({ gen: 4, width: 8 });
    expect(t.link('dn10').params).toMatchObject({ gen: 4, width: 4 }); // the topology default
    expect(t.link('dn1')).toMatchObject({ below: ['fn0', 'fn1'], name: 'dn1 → fn0+fn1' });
    const nine = topology().rootPort('rp0', (rp) => rp.attach(...Array.from({ length: 9 }, (_, i) => `f${i}`)));
    expect(() => new Fabric(nine.build())).toThrow(/at most 8/);
  });

  it("declares a QEMU nvme's CMB (BAR2) to the fabric, so peer traffic to it goes through QEMU", () => {
    const fabric = new Fabric(
      topology()
        .rootPort('rp0', (rp) =>
          rp.switch('sw0', (sw) => {
            sw.downstream('dn0').attach('a');
            sw.downstream('dn1').attach(qemuNvme({ serial: 'C', cmbMiB: 16, id: 'qemuC' }));
            sw.downstream('dn2').attach(qemuNvme({ serial: 'D', id: 'qemuD' }));
          }),
        )
        .build(),
    );
    expect(fabric.bars('qemuC')).toMatchObject([{ index: 2, size: BigInt(mib(16)), prefetchable: true }]);
    expect(fabric.isRegistered('qemuD')).toBe(false);
    expect(fabric.isRegistered('a')).toBe(false);
    fabric.registerEndpoint('a');
    fabric.setBarAddress('qemuC', 2, 0xf400_0000n);
    const d = fabric.route('a', 0xf400_1000n, 4096, 'write');
    expect(d.kind).toBe('peer-via-host');
    expect(d.target).toMatchObject({ endpoint: 'qemuC', bar: 2 });
  });

  it('mapEndpoints rewrites endpoints in a copy (how sockets are filled in)', () => {
    const desc = topology()
      .rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').switch('sw1', (s) => s.downstream('dn1').attach('a'))))
      .build();
    const served = mapEndpoints(desc, (ep) => ({ ...ep, device: { kind: 'vfio-user', socket: `/run/${ep.id}.sock` } }));
    expect(endpointsOf(served)[0]?.device).toEqual({ kind: 'vfio-user', socket: '/run/a.sock' });
    expect(endpointsOf(desc)[0]?.device).toEqual({ kind: 'vfio-user' });
  });
});

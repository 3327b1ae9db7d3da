import { Errno } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { acsRedirect, Fabric, topology } from '../src/index.ts';
import { A_BAR, arrows, B_BAR, C_BAR, D_BAR, switchRig } from './helpers.ts';

describe('routing', () => {
  it('peers below one switch with ACS off go direct and leave the upstream port untouched', () => {
    const { fabric } = switchRig();
    const d = fabric.route('a', B_BAR + 0x1000n, 4096, 'write');
    expect(d.kind).toBe('peer-local');
    expect(d.target).toEqual({ endpoint: 'b', bar: 2, offset: 0x1000n });
    expect(arrows(d.links)).toBe('dn0↑ dn1↓');
    expect(d.path).toEqual(['a', 'dn0', 'dn1', 'b']);
    expect(d.links.some((l) => l.link === 'rp0')).toBe(false);
    expect(d.reason).toMatch(/below switch sw0: direct/);
    const r = fabric.route('a', B_BAR, 4096, 'read');
    expect(arrows(r.completionLinks)).toBe('dn1↑ dn0↓');
  });

  it('ACS redirect on the downstream ports sends peer traffic through the upstream port and root', () => {
    const { fabric } = switchRig({ acsOn: ['dn0', 'dn1'] });
    const d = fabric.route('a', B_BAR, 4096, 'read');
    expect(d.kind).toBe('peer-local');
    expect(arrows(d.links)).toBe('dn0↑ rp0↑ rp0↓ dn1↓');
    expect(arrows(d.completionLinks)).toBe('dn1↑ rp0↑ rp0↓ dn0↓');
    expect(d.path).toEqual(['a', 'dn0', 'sw0', 'rp0', 'host', 'rp0', 'sw0', 'dn1', 'b']);
    expect(d.reason).toMatch(/ACS redirect on dn0/);
  });

  it('request redirect only on the requester port: requests go up, completions come back direct', () => {
    const desc = topology()
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0', { acs: { requestRedirect: true } }).attach('a');
          sw.downstream('dn1').attach('b');
        }),
      )
      .build();
    const fabric = new Fabric(desc);
    fabric.registerEndpoint('b', { bars: [{ index: 0, size: 4096 }] });
    fabric.setBarAddress('b', 0, 0x10000000n);
    fabric.registerEndpoint('a');
    const d = fabric.route('a', 0x10000000n, 64, 'read');
    expect(d.kind).toBe('peer-via-host');
    expect(arrows(d.links)).toBe('dn0↑ rp0↑ rp0↓ dn1↓');
    expect(arrows(d.completionLinks)).toBe('dn1↑ dn0↓');
    expect(acsRedirect()).toMatchObject({
      requestRedirect: true,
      completionRedirect: true,
      sourceValidation: true,
      upstreamForwarding: true,
    });
  });

  it('different root ports go through the root complex', () => {
    const { fabric } = switchRig();
    const d = fabric.route('a', D_BAR + 16n, 256, 'write');
    expect(d.kind).toBe('peer-via-host');
    expect(arrows(d.links)).toBe('dn0↑ rp0↑ rp1↓');
    expect(d.path).toEqual(['a', 'dn0', 'sw0', 'rp0', 'host', 'rp1', 'd']);
    expect(d.reason).toMatch(/through the root complex host/);
  });

  it('a root complex without peer-to-peer refuses cross-root-port traffic', () => {
    const { fabric } = switchRig({ rootComplexPeerToPeer: false });
    const d = fabric.route('a', D_BAR, 256, 'write');
    expect(d.kind).toBe('disabled');
    expect(d.errno).toBe(Errno.EPERM);
    // Below one switch is still fine.
    expect(fabric.route('a', B_BAR, 256, 'write').kind).toBe('peer-local');
  });

  it('unmapped: a hole in a bridge window, and nothing at all in declared host-memory mode', () => {
    const { fabric } = switchRig();
    // c's 16 KiB BAR makes dn2 forward a 1 MiB window; the rest of it is an Unsupported Request.
    expect(fabric.bridgeWindows('dn2')).toEqual([{ start: C_BAR, end: C_BAR + 0x100000n }]);
    const hole = fabric.route('a', C_BAR + 0x10000n, 64, 'read');
    expect(hole.kind).toBe('unmapped');
    expect(hole.errno).toBe(Errno.EFAULT);
    expect(hole.reason).toMatch(/bridge window/);

    const declared = switchRig({ fabric: { hostMemory: 'declared' } }).fabric;
    declared.mapHostMemory(0n, 1n << 30n);
    expect(declared.route('a', 0x1000n, 64, 'read').kind).toBe('guest-ram');
    const none = declared.route('a', 0x1_0000_0000_0000n, 64, 'read');
    expect(none.kind).toBe('unmapped');
    expect(none.reason).toMatch(/no BAR or host memory/);
    declared.unmapHostMemory(0n, 0x2000n);
    expect(declared.route('a', 0x1000n, 64, 'read').kind).toBe('unmapped');
  });

  it('an address inside a peer BAR whose memory space is disabled is refused with EPERM', () => {
    const { fabric } = switchRig();
    fabric.setMemorySpaceEnabled('b', false);
    const d = fabric.route('a', B_BAR + 8n, 8, 'write');
    expect(d.kind).toBe('disabled');
    expect(d.errno).toBe(Errno.EPERM);
    expect(d.target?.endpoint).toBe('b');
    expect(d.reason).toMatch(/memory space of b is disabled/);
    fabric.setMemorySpaceEnabled('b', true);
    expect(fabric.route('a', B_BAR + 8n, 8, 'write').kind).toBe('peer-local');
  });

  it('guest RAM goes up through every upstream link to the host bridge', () => {
    const { fabric } = switchRig();
    const d = fabric.route('a', 0x100000n, 4096, 'read');
    expect(d.kind).toBe('guest-ram');
    expect(arrows(d.links)).toBe('dn0↑ rp0↑');
    expect(arrows(d.completionLinks)).toBe('rp0↓ dn0↓');
    expect(d.path).toEqual(['a', 'dn0', 'sw0', 'rp0', 'host']);
    expect(arrows(fabric.route('d', 0x100000n, 64, 'write').links)).toBe('rp1↑');
  });

  it('remembered guest-RAM decodes follow BAR moves, declared host memory and splits', () => {
    const { fabric } = switchRig();
    const ram = 0xe000_0000n; // below every BAR
    expect(fabric.route('a', ram, 4096, 'read').kind).toBe('guest-ram');
    expect(fabric.route('a', ram - 0x1000n, 4096, 'write').kind).toBe('guest-ram'); // below the first decode
    // RAM up to a BAR: the remembered decode still splits at the BAR.
    expect(fabric.routeAll('a', A_BAR - 64n, 128, 'write').map((p) => [p.kind, p.length])).toEqual([
      ['guest-ram', 64],
      ['peer-local', 64],
    ]);
    // A BAR moved to where RAM decoded before, and back.
    fabric.setBarAddress('d', 0, ram);
    expect(fabric.route('a', ram, 4096, 'read').target?.endpoint).toBe('d');
    fabric.setBarAddress('d', 0, D_BAR);
    expect(fabric.route('a', ram, 4096, 'read').kind).toBe('guest-ram');
    // Declared ranges inside unclaimed memory split a transfer at their ends, as before.
    fabric.mapHostMemory(ram, 0x1000n);
    expect(fabric.routeAll('a', ram, 0x2000, 'read').map((p) => p.length)).toEqual([0x1000, 0x1000]);
  });

  it('own BAR stays inside the function; an unassigned BAR does not decode', () => {
    const { fabric } = switchRig();
    const own = fabric.route('a', A_BAR, 64, 'read');
    expect(own.kind).toBe('peer-local');
    expect(own.links).toEqual([]);
    fabric.setBarAddress('b', 2, undefined);
    expect(fabric.route('a', B_BAR, 64, 'read').kind).toBe('guest-ram');
  });

  it('a transfer spanning two targets is split at the boundary', () => {
    const { fabric } = switchRig();
    const pieces = fabric.routeAll('a', B_BAR - 100n, 300, 'write');
    expect(pieces.map((p) => [p.kind, p.target?.endpoint, p.length])).toEqual([
      ['peer-local', 'a', 100],
      ['peer-local', 'b', 200],
    ]);
    expect(fabric.route('a', B_BAR - 100n, 300, 'write').length).toBe(100);
  });

  it('bus master disabled refuses the requester', () => {
    const { fabric } = switchRig();
    fabric.setBusMasterEnabled('a', false);
    expect(fabric.route('a', 0x1000n, 64, 'read')).toMatchObject({ kind: 'disabled', errno: Errno.EPERM });
  });

  it('functions of one device and root-complex integrated endpoints', () => {
    const desc = topology()
      .rootPort('rp0', (rp) => rp.attach('f0', 'f1'))
      .attach('rcie0', 'rcie1')
      .build();
    const fabric = new Fabric(desc);
    for (const id of ['f0', 'f1', 'rcie0', 'rcie1']) fabric.registerEndpoint(id, { bars: [{ index: 0, size: 4096 }] });
    fabric.setBarAddress('f1', 0, 0x10000000n);
    fabric.setBarAddress('rcie1', 0, 0x20000000n);
    expect(fabric.route('f0', 0x10000000n, 64, 'write').links).toEqual([]);
    const rc = fabric.route('rcie0', 0x20000000n, 64, 'write');
    expect(rc.links).toEqual([]);
    expect(rc.path).toEqual(['rcie0', 'host', 'rcie1']);
    expect(arrows(fabric.route('f0', 0x20000000n, 64, 'write').links)).toBe('rp0↑');
  });

  it('rejects bad topology and registrations', () => {
    expect(
      () =>
        new Fabric(
          topology()
            .rootPort('x', (rp) => rp.attach('x'))
            .build(),
        ),
    ).toThrow(/duplicate/);
    const { fabric } = switchRig();
    expect(() => fabric.registerEndpoint('sw0')).toThrow(/not an endpoint/);
    expect(() => fabric.setBarAddress('a', 2, 0xf4001000n)).toThrow(/aligned/);
    expect(() => fabric.registerEndpoint('a')).toThrow(/already registered/);
  });
});

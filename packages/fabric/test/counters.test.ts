import { mib } from '@p2pkit/base';
import { describe, expect, it } from 'vitest';
import { Fabric, tlpBreakdown, tlpCount, topology } from '../src/index.ts';
import { A_BAR, B_BAR, FakeBaseDma, switchRig } from './helpers.ts';

const MiB = 1024 * 1024;

describe('TLP splitting', () => {
  it('splits at naturally aligned MPS / MRRS boundaries', () => {
    expect(tlpCount(0n, 4096, 256)).toBe(16);
    expect(tlpCount(0x80n, 256, 256)).toBe(2);
    expect(tlpCount(0n, 1, 256)).toBe(1);
    expect(tlpCount(0n, 0, 256)).toBe(0);
    expect(tlpBreakdown('write', 0n, 65536, 256, 512)).toEqual({ writes: 256, readRequests: 0, completions: 0 });
    expect(tlpBreakdown('read', 0n, 65536, 256, 512)).toEqual({ writes: 0, readRequests: 128, completions: 256 });
    // MRRS below MPS: one completion per request.
    expect(tlpBreakdown('read', 0n, 65536, 512, 128)).toEqual({ writes: 0, readRequests: 512, completions: 512 });
  });
});

describe('per-link counters', () => {
  it('counts write TLPs by MPS and read requests by MRRS, completions the other way', async () => {
    const { fabric } = switchRig();
    const ram = new Uint8Array(MiB);
    const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(ram));
    await dma.write(0x10000n, new Uint8Array(65536));
    await dma.read(0x20000n, 65536);
    const dn0 = fabric.link('dn0');
    const rp0 = fabric.link('rp0');
    for (const l of [dn0, rp0]) {
      expect(l.upstream).toMatchObject({ bytes: 65536, writeTlps: 256, readRequestTlps: 128, completionTlps: 0, tlps: 384 });
      expect(l.downstream).toMatchObject({ bytes: 65536, writeTlps: 0, readRequestTlps: 0, completionTlps: 256, tlps: 256 });
    }
    expect(fabric.link('dn1').upstream.tlps).toBe(0);
    expect(fabric.endpoint('a')).toMatchObject({ transactions: 2, bytesRead: 65536, bytesWritten: 65536, byKind: { 'guest-ram': 131072 } });
  });

  it('uses the smallest MPS along the path and the requester MRRS', () => {
    const desc = topology({ defaults: { mps: 512, mrrs: 4096 } })
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach({ id: 'a', mrrs: 1024 });
          sw.downstream('dn1').attach({ id: 'b', mps: 128 });
        }),
      )
      .build();
    const fabric = new Fabric(desc);
    fabric.registerEndpoint('a');
    fabric.registerEndpoint('b', { bars: [{ index: 0, size: mib(1) }] });
    fabric.setBarAddress('b', 0, 0x10000000n);
    const w = fabric.route('a', 0x10000000n, 4096, 'write');
    expect(w.mps).toBe(128);
    expect(fabric.topology.link('dn1').mps).toBe(128);
    const r = fabric.route('a', 0x10000000n, 4096, 'read');
    expect(r.mrrs).toBe(1024);
    fabric.counters.account(r);
    expect(fabric.link('dn0').upstream.readRequestTlps).toBe(4);
    expect(fabric.link('dn0').downstream.completionTlps).toBe(32);
  });

  it('a 64 MiB peer copy moves 0 bytes on the switch upstream link; through a host buffer it moves ≥ 2×', async () => {
    const size = 64 * MiB;
    // p2p: a copies its own CMB into b's BAR.
    {
      const { fabric, a, b } = switchRig();
      a.bytes.fill(0x5a);
      const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(4096)));
      await dma.copy(A_BAR, B_BAR, size);
      expect(b.bytes[0]).toBe(0x5a);
      expect(b.bytes[size - 1]).toBe(0x5a);
      const up = fabric.link('rp0');
      expect(up.upstream.bytes + up.downstream.bytes).toBe(0);
      expect(up.upstream.tlps + up.downstream.tlps).toBe(0);
      expect(fabric.link('dn0').upstream.bytes).toBe(size);
      expect(fabric.link('dn1').downstream.bytes).toBe(size);
      expect(fabric.link('dn1').downstream.writeTlps).toBe(size / 256);
      expect(fabric.endpoint('b').servedWriteBytes).toBe(size);
    }
    // Bounce: a writes its CMB into a host buffer, b reads the buffer into its BAR.
    {
      const { fabric, a, b } = switchRig();
      a.bytes.fill(0xa5);
      const base = new FakeBaseDma(new Uint8Array(size));
      await fabric.dmaSpaceFor('a', base).copy(A_BAR, 0n, size);
      await fabric.dmaSpaceFor('b', base).copy(0n, B_BAR, size);
      expect(b.bytes[size - 1]).toBe(0xa5);
      const up = fabric.link('rp0');
      expect(up.upstream.bytes + up.downstream.bytes).toBeGreaterThanOrEqual(2 * size);
      expect(up.upstream.writeTlps).toBe(size / 256);
      expect(up.upstream.readRequestTlps).toBe(size / 512);
      expect(up.downstream.completionTlps).toBe(size / 256);
    }
  });

  it('refused transfers count as refused only', async () => {
    const { fabric } = switchRig();
    fabric.setMemorySpaceEnabled('b', false);
    const dma = fabric.dmaSpaceFor('a', new FakeBaseDma(new Uint8Array(4096)));
    await expect(dma.write(B_BAR, new Uint8Array(16))).rejects.toMatchObject({ name: 'DmaError', errno: 1 });
    expect(fabric.endpoint('a')).toMatchObject({ refused: 1, transactions: 0 });
    expect(fabric.link('dn0').upstream.bytes).toBe(0);
    fabric.resetCounters();
    expect(fabric.endpoint('a').refused).toBe(0);
  });
});

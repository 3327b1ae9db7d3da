/**
 * The hello endpoint in a real guest: QEMU (vfio-user-pci) below a PCIe switch, served by p2pkit
 * from this process. Asserts what the guest's lspci saw, that guest MMIO reaches the TypeScript
 * callbacks, and that the endpoint's DMA lands in guest memory as the guest verifies it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServedDevice, serve, topology, vfioUser } from '@p2pkit/fabric';
import { boot, type Guest, provision } from '@p2pkit/testbed';
import { recordingLogger } from '@p2pkit/base';
import { RegionIndex } from '@p2pkit/vfio-user';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reg, hello } from '../../examples/hello-endpoint/hello.ts';
import { buildGuestTool, kv } from './guest-tool.ts';

const helperSource = join(import.meta.dirname, '../../examples/hello-endpoint/guest/hello-dma.c');

describe('hello endpoint in a QEMU guest', () => {
  let guest: Guest;
  let served: ServedDevice;
  let dir: string;
  let bdf: string;
  const log = recordingLogger();
  const tool = buildGuestTool(helperSource);

  beforeAll(async () => {
    const provisioned = await provision();
    dir = mkdtempSync(join(tmpdir(), 'p2pkit-e2e-hello-'));
    const socket = join(dir, 'hello.sock');
    served = serve(hello, { socket, logger: log });
    guest = await boot(
      topology().rootPort('rp0', (rp) => rp.switch('sw0', (sw) => sw.downstream('dn0').attach(vfioUser({ socket, id: 'hello0' })))),
      { provisioned, modules: [] },
    );
    const r = await guest.run('lspci -D -n -d 1b36:00f0 | cut -d" " -f1', { check: true });
    bdf = r.stdout.trim();
  });

  afterAll(async () => {
    await guest?.shutdown();
    served?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lspci -vvv shows exactly the declared IDs, class, BAR and capabilities', async () => {
    expect(bdf).toMatch(/^0000:[0-9a-f]{2}:00\.0$/);
    const r = await guest.run(`lspci -vvv -nn -s ${bdf}`, { check: true });
    const out = r.stdout;
    expect(out).toMatch(/\[ff00\]: .*\[1b36:00f0\] \(rev 01\)/);
    expect(out).toMatch(/Subsystem: .*\[1b36:0001\]/);
    expect(out).toMatch(/Region 0: Memory at [0-9a-f]+ \(32-bit, non-prefetchable\) \[size=4K\]/);
    expect(out).not.toMatch(/Region [1-5]:/);
    expect(out).toMatch(/Capabilities: \[40\] Power Management version 3/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] Express \(v2\) Endpoint/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] MSI-X: Enable- Count=2 Masked-\s+Vector table: BAR=0 offset=00000800\s+PBA: BAR=0 offset=00000c00/);
    expect(out).toMatch(/Capabilities: \[100 v1\] Device Serial Number 01-23-45-67-89-ab-cd-ef/);
  });

  it('a guest MMIO write reaches the TypeScript callback, and a read returns its value', async () => {
    const w = await guest.run(`install -m755 "$JOB_IN/hello-dma" ./hello-dma && ./hello-dma ${bdf} scratch-write cafef00d`, { files: { 'hello-dma': tool }, check: true, timeoutMs: 20_000 });
    expect(kv(w.stdout).wrote).toBe('0xcafef00d');
    expect(Buffer.from(served.endpoint.regionRead(RegionIndex.BAR0, BigInt(Reg.SCRATCH), 4)).readUInt32LE(0)).toBe(0xcafef00d);
    served.endpoint.regionWrite(RegionIndex.BAR0, BigInt(Reg.SCRATCH), Buffer.from([0x34, 0x12, 0x5a, 0x5a]));
    const r = await guest.run(`install -m755 "$JOB_IN/hello-dma" ./hello-dma && ./hello-dma ${bdf} scratch-read`, { files: { 'hello-dma': tool }, check: true });
    expect(kv(r.stdout).scratch).toBe('0x5a5a1234');
  });

  it("the endpoint's DMA copies guest memory, verified by the guest CPU", async () => {
    const r = await guest.run(`install -m755 "$JOB_IN/hello-dma" ./hello-dma && ./hello-dma ${bdf} copy 4096`, { files: { 'hello-dma': tool }, timeoutMs: 30_000 });
    const v = kv(r.stdout);
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(v.status).toBe('2'); // DONE
    expect(v.copies_delta).toBe('1');
    expect(v.compare).toBe('MATCH');
    // The copy went through mapped guest RAM, not through DMA messages.
    expect(served.server.session?.dma.counters.messages).toBe(0);
    expect(served.server.session?.dma.counters.directBytes).toBeGreaterThanOrEqual(8192);
    expect(log.entries.filter((e) => e.channel === 'device')).toEqual([]);
  });
});

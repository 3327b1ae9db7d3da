/**
 * A NIC linked to a host-side socket backend: frames from an outside client land by DMA in RX
 * buffers that live in a peer's memory BAR (as a PMR or CMB would), and the NIC transmits straight
 * from a peer's BAR to the client; on a fabric neither crosses the switch upstream port.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mib, recordingLogger } from '@p2pkit/base';
import { Fabric, FabricEndpoint, topology } from '@p2pkit/fabric';
import { SharedMemory } from '@p2pkit/native';
import { defineEndpoint, memfdBarMemory, memory, pciExpress } from '@p2pkit/pci';
import { RegionIndex, VfioUserServer } from '@p2pkit/vfio-user';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { connectFrameSocket, createNic, DESCRIPTOR_SIZE, DescFlags, NicReg, socketBackend } from '../src/index.ts';
import { connect, RAM, until } from './harness.ts';

/** A peer with one 64-bit prefetchable memory BAR2, standing in for an NVMe PMR/CMB. */
const store = defineEndpoint({
  name: 'store',
  ids: { vendor: 0x1b36, device: 0x00fe, class: 0x058000 },
  bars: { 2: memory({ size: mib(2), bits: 64, prefetchable: true }) },
  capabilities: [pciExpress.endpoint()],
});
const STORE = 0x80_0000_0000n;
const RING = 8;
const FRAME = 30_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nic-socket-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const frame = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

/** Descriptors at `ring` (an offset in `bytes`), each for `length` bytes at bus address `base + i * stride`. */
function fillRing(bytes: Uint8Array, ring: number, base: bigint, count: number, stride: number, length: number) {
  for (let i = 0; i < count; i++) {
    const v = new DataView(bytes.buffer, bytes.byteOffset + ring + i * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE);
    v.setBigUint64(0, base + BigInt(i * stride), true);
    v.setUint16(8, length, true);
    v.setUint16(10, 0, true);
  }
}

it('outside frames land in a peer BAR, the NIC transmits from one, and the upstream port stays idle', async () => {
  const fabric = new Fabric(
    topology()
      .rootPort('rp0', (rp) =>
        rp.switch('sw0', (sw) => {
          sw.downstream('dn0').attach('nic');
          sw.downstream('dn1').attach('store');
        }),
      )
      .build(),
  );
  const log = recordingLogger();
  await using nic = await createNic();
  const peer = store.create({ memory: memfdBarMemory });
  using fn = new FabricEndpoint(fabric, 'nic', nic.endpoint);
  using fs = new FabricEndpoint(fabric, 'store', peer);
  using d = await connect(new VfioUserServer(fn, { logger: log }), { bar0: 0xfe00_0000n }, 2);
  using _p = await connect(new VfioUserServer(fs, { logger: log }), { bar0: 0xfe10_0000n, bar2: STORE }, 0);
  const pmr = peer.handle.memory(2);
  const reg = (off: number) => d.client.read32(RegionIndex.BAR0, off);

  // #region socket
  await using backend = await socketBackend(nic, join(dir, 'nic.sock'));
  expect(await reg(NicReg.LINK)).toBe(1);
  // RX ring at STORE + 1 MiB, buffers at STORE + 0, 32 KiB apart; TX ring at STORE + 1 MiB + 4 KiB.
  fillRing(pmr, 0x10_0000, STORE, RING, 0x8000, 0x8000);
  await d.wr64(NicReg.RX_BASE, STORE + 0x10_0000n);
  await d.client.write32(RegionIndex.BAR0, NicReg.RX_SIZE, RING);
  await d.client.write32(RegionIndex.BAR0, NicReg.RX_TAIL, RING - 1);

  await using client = await connectFrameSocket(backend.path);
  const sent = [frame(FRAME, 1), frame(FRAME, 2), frame(100, 3)];
  for (const f of sent) await client.send(f);
  await until(async () => (await reg(NicReg.RX_HEAD)) === 3, 'three frames received');
  for (const [i, f] of sent.entries()) expect(Buffer.compare(pmr.subarray(i * 0x8000, i * 0x8000 + f.length), f)).toBe(0);
  expect(new DataView(pmr.buffer, pmr.byteOffset + 0x10_0000 + 2 * DESCRIPTOR_SIZE).getUint16(8, true)).toBe(100);
  expect(backend.stats).toMatchObject({ framesIn: 3, bytesIn: 2 * FRAME + 100 });
  // #endregion socket
  const up = () => fabric.link('rp0').upstream.bytes + fabric.link('rp0').downstream.bytes;
  expect(up()).toBe(0);

  // TX straight from the peer BAR: the received frames go back out to the client.
  const got: Uint8Array[] = [];
  client.onFrame((f) => got.push(f));
  fillRing(pmr, 0x10_1000, STORE, 2, 0x8000, FRAME);
  await d.wr64(NicReg.TX_BASE, STORE + 0x10_1000n);
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_SIZE, RING);
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_TAIL, 2);
  await until(() => got.length === 2, 'two frames sent to the client');
  expect(got.map((f, i) => Buffer.from(f).equals(sent[i] as Uint8Array))).toEqual([true, true]);
  expect(new DataView(pmr.buffer, pmr.byteOffset + 0x10_1000).getUint16(10, true)).toBe(DescFlags.DONE);
  expect(backend.stats).toMatchObject({ framesOut: 2, bytesOut: 2 * FRAME, dropped: 0 });
  expect(up()).toBe(0);
  const dn1 = fabric.link('dn1');
  expect(dn1.upstream.bytes + dn1.downstream.bytes).toBeGreaterThanOrEqual(4 * FRAME);
  expect(log.entries.filter((e) => e.channel !== 'info')).toEqual([]);
  peer.close();
});

it('drops transmitted frames while no process is connected, hangs up on bad lengths, unlinks on close', async () => {
  await using nic = await createNic();
  using d = await connect(new VfioUserServer(nic.endpoint), { bar0: 0xfe00_0000n }, 2);
  using ram = SharedMemory.create('ram', 1 << 16);
  await d.client.dmaMap({ address: RAM, size: BigInt(ram.size), flags: 3, fd: ram.fd.fd });
  const sock = join(dir, 'nic.sock');
  const backend = await socketBackend(nic, sock);

  // Nobody connected: the frame leaves the NIC (descriptor DONE) and the backend counts it dropped.
  fillRing(ram.bytes, 0, RAM + 0x1000n, 1, 0, 64);
  await d.wr64(NicReg.TX_BASE, RAM);
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_SIZE, RING);
  await d.client.write32(RegionIndex.BAR0, NicReg.TX_TAIL, 1);
  await until(async () => (await d.client.read32(RegionIndex.BAR0, NicReg.TX_HEAD)) === 1, 'frame sent');
  expect(new DataView(ram.bytes.buffer).getUint16(10, true)).toBe(DescFlags.DONE);
  expect(backend.stats.dropped).toBe(1);

  const bad = createConnection(sock);
  await new Promise((r) => bad.once('connect', r));
  await until(() => backend.clients === 1, 'client connected');
  bad.write(Buffer.from([0, 0, 1, 0])); // length 65536: more than a descriptor can hold
  await new Promise((r) => bad.once('close', r));
  expect(backend.clients).toBe(0);
  expect(await d.client.read32(RegionIndex.BAR0, NicReg.LINK)).toBe(1);
  await backend.close();
  expect(await d.client.read32(RegionIndex.BAR0, NicReg.LINK)).toBe(0);
  await expect(connectFrameSocket(sock)).rejects.toThrow();
});

it('createNic({ socket }) owns its backend: linked at once, closed with the NIC', async () => {
  const path = join(dir, 'owned.sock');
  const nic = await createNic({ socket: path });
  expect(nic.backend?.path).toBe(path);
  expect(nic.endpoint.regionRead(RegionIndex.BAR0, BigInt(NicReg.LINK), 4)[0]).toBe(1);
  const client = await connectFrameSocket(path);
  await client.close();
  await nic.close();
  await expect(connectFrameSocket(path)).rejects.toThrow();
});

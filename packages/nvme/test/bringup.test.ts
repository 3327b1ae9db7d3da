import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IoOpcode, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

describe('Linux-style bring-up', () => {
  it('enables, identifies, creates queues and moves data', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20 }, { sizeBytes: 4 << 20, lbaSize: 4096 }] });
    const { driver, controller } = rig;
    // nvme_pci_enable: CAP/VS before enabling.
    const cap = await driver.read64(0);
    expect(cap & 0xffffn).toBe(1023n);
    expect((cap >> 37n) & 1n).toBe(1n);
    expect(await driver.read32(0x08)).toBe(0x00010400);
    await driver.enable();
    expect((await driver.read32(0x1c)) & 1).toBe(1);

    const idc = await driver.identify(1);
    expect(idc.completion.status).toBe(0);
    expect(new TextDecoder().decode(idc.data.subarray(4, 12))).toBe('TEST0001');
    const v = new DataView(idc.data.buffer);
    expect(v.getUint8(77)).toBe(7); // MDTS
    expect(v.getUint32(516, true)).toBe(32); // NN
    expect(v.getUint16(256, true) & 0x100).toBe(0x100); // OACS dbbuf
    expect(v.getUint8(512)).toBe(0x66);

    const list = await driver.identify(2, 0);
    const lv = new DataView(list.data.buffer);
    expect([lv.getUint32(0, true), lv.getUint32(4, true), lv.getUint32(8, true)]).toEqual([1, 2, 0]);

    const ns2 = await driver.identify(0, 2);
    const nv = new DataView(ns2.data.buffer);
    expect(nv.getBigUint64(0, true)).toBe(1024n); // 4 MiB / 4 KiB
    expect(nv.getUint8(26)).toBe(1); // FLBAS -> 4 KiB
    expect((nv.getUint32(128 + 4, true) >>> 16) & 0xff).toBe(12);

    const desc = await driver.identify(3, 1);
    expect(desc.data[0]).toBe(1); // EUI64
    expect(desc.data[12]).toBe(2); // NGUID
    expect(desc.data[32]).toBe(4); // CSI

    const nq = await driver.setFeatures(0x07, (7 << 16) | 7);
    expect(nq.dw0).toBe((7 << 16) | 7);
    await driver.createQueuePair(1, 64);
    await driver.createQueuePair(2, 16);

    const buf = driver.memory.alloc(64 * 1024);
    const data = driver.memory.view(buf, 64 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    expect(
      (await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 100n, blocks: 128, buffer: buf, bytes: 64 * 1024 })).status,
    ).toBe(0);
    const out = driver.memory.alloc(64 * 1024);
    const r = await driver.readWrite(2, { opcode: IoOpcode.Read, nsid: 1, slba: 100n, blocks: 128, buffer: out, bytes: 64 * 1024 });
    expect(r.status).toBe(0);
    expect(r.sqid).toBe(2);
    expect(Buffer.from(driver.memory.view(out, 64 * 1024)).equals(Buffer.from(data))).toBe(true);

    // 4 KiB namespace
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 2, slba: 3n, blocks: 2, buffer: buf, bytes: 8192 })).status).toBe(0);
    const out2 = driver.memory.alloc(8192);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 2, slba: 3n, blocks: 2, buffer: out2, bytes: 8192 })).status).toBe(0);
    expect(Buffer.from(driver.memory.view(out2, 8192)).equals(Buffer.from(data.subarray(0, 8192)))).toBe(true);

    expect(rig.interrupts.fired()).toContain(0);
    expect(rig.interrupts.fired()).toContain(1);
    expect(rig.interrupts.fired()).toContain(2);
    expect(controller.stats.ioCommands[1]).toBe(2);
    expect(controller.stats.ioCommands[2]).toBe(2);
    expect(controller.stats.adminCommands[6]).toBe(4);
    expect(controller.stats.doorbellWrites).toBeGreaterThan(0);
    expect(rig.guestErrors).toEqual([]);
  });

  it('persists a written block after flush across a reopen', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'p2pkit-reopen-'));
    try {
      rig = await startNvmeHarness({ directory });
      const { driver } = rig;
      await driver.bringUp();
      const buf = driver.memory.alloc(4096);
      driver.memory.view(buf, 512).fill(0xab);
      expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 7n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
      expect((await driver.submit(1, { opcode: 0x00, nsid: 1 })).status).toBe(0);
      // Disconnect and close the endpoint (flushes, closes the images), then serve the same image again.
      await rig.close();
      rig = await startNvmeHarness({ directory, namespaces: [{ path: join(directory, 'ns1.raw') }] });
      const d2 = rig.driver;
      await d2.enable();
      await d2.createQueuePair(1, 16);
      const out = d2.memory.alloc(4096);
      expect((await d2.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 7n, blocks: 1, buffer: out, bytes: 512 })).status).toBe(0);
      expect([...d2.memory.view(out, 512)].every((b) => b === 0xab)).toBe(true);
      await rig.close();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('tolerates a firmware probe then a full re-init (SeaBIOS then Linux)', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp(256);
    const buf = driver.memory.alloc(4096);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
    // Linux: nvme_disable_ctrl (CC.EN = 0), wait RDY = 0, then configure again.
    await driver.write32(0x14, 0);
    expect((await driver.read32(0x1c)) & 1).toBe(0);
    await rig.driver.bringUp(64);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
    expect(rig.controller.stats.controllerEnables).toBe(2);
  });

  it('reports Invalid Namespace, LBA Out of Range and Invalid Opcode', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    let r = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 9, slba: 0n, blocks: 1, buffer: buf, bytes: 512 });
    expect(r.status).toBe(Status.InvalidNamespaceOrFormat);
    expect(r.dnr).toBe(true);
    r = await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 16383n, blocks: 2, buffer: buf, bytes: 1024 });
    expect(r.status).toBe(Status.LbaOutOfRange);
    r = await driver.submit(1, { opcode: 0x7f, nsid: 1 });
    expect(r.status).toBe(Status.InvalidOpcode);
    r = await driver.admin({ opcode: 0x3f });
    expect(r.status).toBe(Status.InvalidOpcode);
    r = await driver.submit(1, { opcode: 0x02, nsid: 1, flags: 1 });
    expect(r.status).toBe(Status.InvalidField); // fused
  });
});

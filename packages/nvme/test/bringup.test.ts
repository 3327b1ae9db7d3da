import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/index.ts';
import { bringUp, makeRig, type Rig } from './helpers.ts';

let rig: Rig;
afterEach(async () => rig?.cleanup());

describe('Linux-style bring-up', () => {
  it('enables, identifies, creates queues and moves data', async () => {
    rig = await makeRig({ images: [{ size: 8 << 20 }, { size: 4 << 20, lbaSize: 4096 }] });
    const { drv, host, ctrl } = rig;
    // nvme_pci_enable: CAP/VS before enabling.
    const cap = await drv.read64(0);
    expect(cap & 0xffffn).toBe(1023n);
    expect((cap >> 37n) & 1n).toBe(1n);
    expect(await drv.read32(0x08)).toBe(0x00010400);
    await drv.enable();
    expect((await drv.read32(0x1c)) & 1).toBe(1);

    const idc = await drv.identify(1);
    expect(idc.cqe.status).toBe(0);
    expect(new TextDecoder().decode(idc.data.subarray(4, 12))).toBe('TEST0001');
    const v = new DataView(idc.data.buffer);
    expect(v.getUint8(77)).toBe(7); // MDTS
    expect(v.getUint32(516, true)).toBe(32); // NN
    expect(v.getUint16(256, true) & 0x100).toBe(0x100); // OACS dbbuf
    expect(v.getUint8(512)).toBe(0x66);

    const list = await drv.identify(2, 0);
    const lv = new DataView(list.data.buffer);
    expect([lv.getUint32(0, true), lv.getUint32(4, true), lv.getUint32(8, true)]).toEqual([1, 2, 0]);

    const ns2 = await drv.identify(0, 2);
    const nv = new DataView(ns2.data.buffer);
    expect(nv.getBigUint64(0, true)).toBe(1024n); // 4 MiB / 4 KiB
    expect(nv.getUint8(26)).toBe(1); // FLBAS -> 4 KiB
    expect((nv.getUint32(128 + 4, true) >>> 16) & 0xff).toBe(12);

    const desc = await drv.identify(3, 1);
    expect(desc.data[0]).toBe(2); // NGUID
    expect(desc.data[20]).toBe(4); // CSI

    const nq = await drv.setFeature(0x07, (7 << 16) | 7);
    expect(nq.dw0).toBe((7 << 16) | 7);
    await drv.createQueuePair(1, 64);
    await drv.createQueuePair(2, 16);

    const buf = drv.alloc(64 * 1024);
    const data = drv.ram.view(buf, 64 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    expect((await drv.rw(1, 1, 1, 100n, 128, buf, 64 * 1024)).status).toBe(0);
    const out = drv.alloc(64 * 1024);
    const r = await drv.rw(2, 2, 1, 100n, 128, out, 64 * 1024);
    expect(r.status).toBe(0);
    expect(r.sqid).toBe(2);
    expect(Buffer.from(drv.ram.view(out, 64 * 1024)).equals(Buffer.from(data))).toBe(true);

    // 4 KiB namespace
    expect((await drv.rw(1, 1, 2, 3n, 2, buf, 8192)).status).toBe(0);
    const out2 = drv.alloc(8192);
    expect((await drv.rw(1, 2, 2, 3n, 2, out2, 8192)).status).toBe(0);
    expect(Buffer.from(drv.ram.view(out2, 8192)).equals(Buffer.from(data.subarray(0, 8192)))).toBe(true);

    expect(host.interrupts).toContain(0);
    expect(host.interrupts).toContain(1);
    expect(host.interrupts).toContain(2);
    expect(ctrl.stats.ioCommands[1]).toBe(2);
    expect(ctrl.stats.ioCommands[2]).toBe(2);
    expect(ctrl.stats.adminCommands[6]).toBe(4);
    expect(ctrl.stats.doorbellWrites).toBeGreaterThan(0);
    expect(host.guestErrors).toEqual([]);
  });

  it('persists a written block after flush across a reopen', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const buf = drv.alloc(4096);
    drv.ram.view(buf, 512).fill(0xab);
    expect((await drv.rw(1, 1, 1, 7n, 1, buf, 512)).status).toBe(0);
    expect((await drv.submit(1, { opcode: 0x00, nsid: 1 })).status).toBe(0);
    // Disconnect and close the endpoint (flushes, closes the images), then serve the same image again.
    await rig.close();
    rig = await makeRig({ dir: rig.dir, namespaces: [{ path: join(rig.dir, 'ns1.raw') }] });
    const d2 = rig.drv;
    await d2.enable();
    await d2.createQueuePair(1, 16);
    const out = d2.alloc(4096);
    expect((await d2.rw(1, 2, 1, 7n, 1, out, 512)).status).toBe(0);
    expect([...d2.ram.view(out, 512)].every((b) => b === 0xab)).toBe(true);
  });

  it('tolerates a firmware probe then a full re-init (SeaBIOS then Linux)', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig, 256);
    const buf = drv.alloc(4096);
    expect((await drv.rw(1, 2, 1, 0n, 1, buf, 512)).status).toBe(0);
    // Linux: nvme_disable_ctrl (CC.EN = 0), wait RDY = 0, then configure again.
    await drv.write32(0x14, 0);
    expect((await drv.read32(0x1c)) & 1).toBe(0);
    drv.pairs.clear();
    await bringUp(rig, 64);
    expect((await drv.rw(1, 2, 1, 0n, 1, buf, 512)).status).toBe(0);
    expect(rig.ctrl.stats.controllerEnables).toBe(2);
  });

  it('reports Invalid Namespace, LBA Out of Range and Invalid Opcode', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const buf = drv.alloc(4096);
    let r = await drv.rw(1, 2, 9, 0n, 1, buf, 512);
    expect(r.status).toBe(Status.InvalidNamespaceOrFormat);
    expect(r.dnr).toBe(true);
    r = await drv.rw(1, 2, 1, 16383n, 2, buf, 1024);
    expect(r.status).toBe(Status.LbaOutOfRange);
    r = await drv.submit(1, { opcode: 0x7f, nsid: 1 });
    expect(r.status).toBe(Status.InvalidOpcode);
    r = await drv.admin({ opcode: 0x3f });
    expect(r.status).toBe(Status.InvalidOpcode);
    r = await drv.submit(1, { opcode: 0x02, nsid: 1, cdw0Flags: 1 });
    expect(r.status).toBe(Status.InvalidField); // fused
  });
});

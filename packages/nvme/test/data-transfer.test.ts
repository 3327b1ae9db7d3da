import { afterEach, describe, expect, it } from 'vitest';
import { Reg, Status } from '../src/index.ts';
import { bringUp, makeRig, RAM_BASE, type Rig, sglDescriptor } from './helpers.ts';

let rig: Rig;
afterEach(async () => rig?.cleanup());

function fill(view: Uint8Array, seed: number): void {
  for (let i = 0; i < view.length; i++) view[i] = (i * 13 + seed) & 0xff;
}

async function writePattern(r: Rig, slba: bigint, bytes: number, seed: number): Promise<Uint8Array> {
  const buf = r.drv.alloc(bytes);
  const view = r.drv.ram.view(buf, bytes);
  fill(view, seed);
  expect((await r.drv.rw(1, 1, 1, slba, bytes / 512, buf, bytes)).status).toBe(0);
  return view.slice();
}

describe('PRPs', () => {
  it('handles a PRP1 page offset plus a PRP list', async () => {
    rig = await makeRig();
    await bringUp(rig);
    const data = await writePattern(rig, 0n, 16384, 1);
    const buf = rig.drv.alloc(8192 * 3) + 512n; // PRP1 with an offset: 4 pages + a bit
    expect((await rig.drv.rw(1, 2, 1, 0n, 32, buf, 16384)).status).toBe(0);
    expect(Buffer.from(rig.drv.ram.view(buf, 16384)).equals(Buffer.from(data))).toBe(true);
  });

  it('follows a chained PRP list whose first page has two slots left', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const data = await writePattern(rig, 64n, 4 * 4096, 2);
    const pages = [drv.alloc(4096), drv.alloc(4096), drv.alloc(4096), drv.alloc(4096)];
    const listPage = drv.alloc(8192);
    const list = listPage + 4096n - 16n; // 2 slots: one data entry + chain pointer
    const next = listPage + 4096n;
    const v = new DataView(drv.ram.bytes.buffer);
    v.setBigUint64(Number(list - RAM_BASE), pages[1]!, true);
    v.setBigUint64(Number(list - RAM_BASE) + 8, next, true);
    v.setBigUint64(Number(next - RAM_BASE), pages[2]!, true);
    v.setBigUint64(Number(next - RAM_BASE) + 8, pages[3]!, true);
    const r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: pages[0], prp2: list, cdw10: 64, cdw12: 31 });
    expect(r.status).toBe(0);
    pages.forEach((p, i) => {
      expect(Buffer.from(drv.ram.view(p, 4096)).equals(Buffer.from(data.subarray(i * 4096, (i + 1) * 4096)))).toBe(true);
    });
  });

  it('rejects PRP offsets where the spec forbids them', async () => {
    rig = await makeRig();
    const { drv, host } = rig;
    await bringUp(rig);
    const buf = drv.alloc(16384);
    let r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: buf + 4096n + 8n, cdw12: 15 }); // 8 KiB, PRP2 offset
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    const list = drv.alloc(4096);
    new DataView(drv.ram.bytes.buffer).setBigUint64(Number(list - RAM_BASE), buf + 4096n + 512n, true);
    r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: list, cdw12: 23 }); // 12 KiB, list entry offset
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: buf + 2n, cdw12: 0 });
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    expect(host.guestErrors.length).toBeGreaterThanOrEqual(3);
  });

  it('enforces MDTS', async () => {
    rig = await makeRig({ mdts: 1 }); // 8 KiB
    await bringUp(rig);
    const buf = rig.drv.alloc(16384);
    expect((await rig.drv.rw(1, 2, 1, 0n, 16, buf, 8192)).status).toBe(0);
    expect((await rig.drv.rw(1, 2, 1, 0n, 17, buf, 8704)).status).toBe(Status.InvalidField);
  });

  it('maps DMA faults to Data Transfer Error (retryable) and logs the guest address', async () => {
    rig = await makeRig();
    const { drv, host, ctrl } = rig;
    await bringUp(rig);
    const r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: 0xdead_0000n, cdw12: 0 });
    expect(r.status).toBe(Status.DataTransferError);
    expect(r.dnr).toBe(false);
    expect(ctrl.stats.dataTransferErrors).toBe(1);
    expect(host.guestErrors.some((e) => e.detail?.address === 0xdead_0000n)).toBe(true);
  });

  it('works through the asynchronous DMA path (DMA_READ/DMA_WRITE messages, no mapped fd)', async () => {
    rig = await makeRig({ dma: 'messages' });
    await bringUp(rig);
    const data = await writePattern(rig, 8n, 8192, 3);
    const out = rig.drv.alloc(8192);
    expect((await rig.drv.rw(1, 2, 1, 8n, 16, out, 8192)).status).toBe(0);
    expect(Buffer.from(rig.drv.ram.view(out, 8192)).equals(Buffer.from(data))).toBe(true);
    expect(rig.client.dmaServed.reads).toBeGreaterThan(0);
    expect(rig.client.dmaServed.writes).toBeGreaterThan(0);
    expect(rig.client.dmaServed.refused).toBe(0);
  });
});

describe('SGLs', () => {
  const read = (r: Rig, sgl: Uint8Array, nlb: number, slba = 0n, opcode = 2) =>
    r.drv.submit(1, { opcode, nsid: 1, cdw0Flags: 0x40, sgl, cdw10: Number(slba), cdw12: nlb - 1 });

  it('reads through a data block, a segment chain and a bit bucket', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const data = await writePattern(rig, 0n, 4096, 4);
    const a = drv.alloc(1024);
    expect((await read(rig, sglDescriptor(a, 1024, 0), 2)).status).toBe(0);
    expect(Buffer.from(drv.ram.view(a, 1024)).equals(Buffer.from(data.subarray(0, 1024)))).toBe(true);

    // Segment [data 512, bit bucket 512, last segment] -> [data 3072]
    const b = drv.alloc(512);
    const c = drv.alloc(3072);
    const seg1 = drv.alloc(48);
    const seg2 = drv.alloc(16);
    drv.ram.view(seg1, 48).set([...sglDescriptor(b, 512, 0), ...sglDescriptor(0n, 512, 1), ...sglDescriptor(seg2, 16, 3)]);
    drv.ram.view(seg2, 16).set(sglDescriptor(c, 3072, 0));
    expect((await read(rig, sglDescriptor(seg1, 48, 2), 8)).status).toBe(0);
    expect(Buffer.from(drv.ram.view(b, 512)).equals(Buffer.from(data.subarray(0, 512)))).toBe(true);
    expect(Buffer.from(drv.ram.view(c, 3072)).equals(Buffer.from(data.subarray(1024, 4096)))).toBe(true);
  });

  it('writes through a last-segment list', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const p = drv.alloc(512);
    const q = drv.alloc(512);
    fill(drv.ram.view(p, 512), 9);
    fill(drv.ram.view(q, 512), 10);
    const seg = drv.alloc(32);
    drv.ram.view(seg, 32).set([...sglDescriptor(p, 512, 0), ...sglDescriptor(q, 512, 0)]);
    expect((await read(rig, sglDescriptor(seg, 32, 3), 2, 5n, 1)).status).toBe(0);
    const out = drv.alloc(1024);
    expect((await drv.rw(1, 2, 1, 5n, 2, out, 1024)).status).toBe(0);
    expect(Buffer.from(drv.ram.view(out, 512)).equals(Buffer.from(drv.ram.view(p, 512)))).toBe(true);
    expect(Buffer.from(drv.ram.view(out + 512n, 512)).equals(Buffer.from(drv.ram.view(q, 512)))).toBe(true);
  });

  it('reports SGL errors with the right status codes', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const a = drv.alloc(4096);
    expect((await read(rig, sglDescriptor(a, 256, 0), 1)).status).toBe(Status.DataSglLengthInvalid);
    expect((await read(rig, sglDescriptor(a, 512, 4), 1)).status).toBe(Status.SglDescriptorTypeInvalid); // keyed
    expect((await read(rig, sglDescriptor(a, 512, 0, 1), 1)).status).toBe(Status.SglDescriptorTypeInvalid); // offset subtype
    expect((await read(rig, sglDescriptor(0n, 512, 1), 1, 0n, 1)).status).toBe(Status.SglDescriptorTypeInvalid); // bit bucket on write
    const seg = drv.alloc(48);
    drv.ram.view(seg, 48).set([...sglDescriptor(seg, 16, 2), ...sglDescriptor(a, 512, 0), ...sglDescriptor(a, 512, 0)]);
    expect((await read(rig, sglDescriptor(seg, 48, 2), 1)).status).toBe(Status.InvalidSglSegmentDescriptor);
    expect((await read(rig, sglDescriptor(seg, 20, 2), 1)).status).toBe(Status.InvalidSglSegmentDescriptor);
    // SGL on an admin command
    const r = await drv.admin({ opcode: 0x06, cdw0Flags: 0x40, sgl: sglDescriptor(a, 4096, 0), cdw10: 1 });
    expect(r.status).toBe(Status.InvalidField);
  });
});

describe('CMB-resident queues and data', () => {
  it('places an I/O SQ in the CMB and serves CMB data buffers locally', async () => {
    rig = await makeRig({ cmb: { size: 4 << 20 } });
    const { drv, ctrl } = rig;
    const cmb = await rig.mapBar(2); // the guest CPU's mapping of BAR2
    const CBA = 0xf000_0000n;
    await drv.write32(Reg.CMBMSC, 1);
    await drv.write32(Reg.CMBMSC + 4, 0);
    await drv.write32(Reg.CMBMSC, Number(CBA) | 3);
    await drv.enable();
    await drv.setFeature(7, 0x00030003);
    await drv.createQueuePair(1, 64, { sqRing: { bus: CBA, bytes: cmb.subarray(0, 64 * 64) } });
    expect(ctrl.stats.ioSqCreatedInCmb).toBe(1);

    const data = await writePattern(rig, 0n, 8192, 5);
    const dmaBefore = ctrl.stats.dmaBytes;
    const session = rig.server.session!.dma.counters;
    // Read into the CMB at offset 1 MiB (PRP list in RAM, data pages in CMB).
    const dst = CBA + 0x10_0000n;
    const r = await drv.submit(1, { opcode: 2, nsid: 1, prp1: dst, prp2: dst + 4096n, cdw12: 15 });
    expect(r.status).toBe(0);
    expect(Buffer.from(cmb.subarray(0x10_0000, 0x10_0000 + 8192)).equals(Buffer.from(data))).toBe(true);
    // Only the completion went through DMA: SQE fetch and data were local.
    expect(ctrl.stats.dmaBytes - dmaBefore).toBe(16);
    expect(session.messages).toBe(0); // nothing took the asynchronous DMA_READ/DMA_WRITE path
  });

  it('rejects a CQ in the CMB when CMBSZ.CQS = 0', async () => {
    rig = await makeRig({ cmb: { size: 4 << 20 } });
    const { drv } = rig;
    await drv.write32(Reg.CMBMSC, 0xf000_0003);
    await drv.enable();
    const r = await drv.admin({ opcode: 0x05, prp1: 0xf000_0000n, cdw10: (15 << 16) | 1, cdw11: 3 });
    expect(r.status).toBe(Status.InvalidField);
  });
});

describe('data pointer refusals', () => {
  it('PRP list pointer / chained list alignment, SGL descriptor count, reserved PSDT', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const buf = drv.alloc(16384);
    const list = drv.alloc(8192);
    const v = new DataView(drv.ram.bytes.buffer);
    // 12 KiB: PRP2 is a list pointer and must be qword aligned.
    expect((await drv.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: list + 4n, cdw12: 23 })).status).toBe(Status.PrpOffsetInvalid);
    // A list that fills its page chains to a next list that must be page aligned.
    const tail = list + 4096n - 16n;
    v.setBigUint64(Number(tail - RAM_BASE), buf + 4096n, true);
    v.setBigUint64(Number(tail - RAM_BASE) + 8, list + 4096n + 8n, true);
    expect((await drv.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: tail, cdw12: 31 })).status).toBe(Status.PrpOffsetInvalid);
    // A segment claiming more than 16384 descriptors.
    const sgl = sglDescriptor(drv.alloc(4096), 16385 * 16, 2);
    expect((await drv.submit(1, { opcode: 2, nsid: 1, cdw0Flags: 0x40, sgl, cdw12: 0 })).status).toBe(Status.InvalidSglDescriptorCount);
    // PSDT 11b is reserved.
    expect((await drv.submit(1, { opcode: 2, nsid: 1, cdw0Flags: 0xc0, prp1: buf, cdw12: 0 })).status).toBe(Status.InvalidField);
    // An SGL segment list outside guest RAM: its DMA_READ is refused.
    expect((await drv.submit(1, { opcode: 2, nsid: 1, cdw0Flags: 0x40, sgl: sglDescriptor(0x7000_0000n, 32, 3), cdw12: 0 })).status).toBe(
      Status.DataTransferError,
    );
  });
});

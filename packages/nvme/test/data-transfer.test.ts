import { type NvmeHarness, sglDescriptor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IoOpcode, Reg, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

function fill(view: Uint8Array, seed: number): void {
  for (let i = 0; i < view.length; i++) view[i] = (i * 13 + seed) & 0xff;
}

async function writePattern(r: NvmeHarness, slba: bigint, bytes: number, seed: number): Promise<Uint8Array> {
  const buf = r.driver.memory.alloc(bytes);
  const view = r.driver.memory.view(buf, bytes);
  fill(view, seed);
  expect((await r.driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba, blocks: bytes / 512, buffer: buf, bytes })).status).toBe(0);
  return view.slice();
}

describe('PRPs', () => {
  it('handles a PRP1 page offset plus a PRP list', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    const data = await writePattern(rig, 0n, 16384, 1);
    const buf = rig.driver.memory.alloc(8192 * 3) + 512n; // PRP1 with an offset: 4 pages + a bit
    expect(
      (await rig.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 32, buffer: buf, bytes: 16384 })).status,
    ).toBe(0);
    expect(Buffer.from(rig.driver.memory.view(buf, 16384)).equals(Buffer.from(data))).toBe(true);
  });

  it('follows a chained PRP list whose first page has two slots left', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const data = await writePattern(rig, 64n, 4 * 4096, 2);
    const pages = [driver.memory.alloc(4096), driver.memory.alloc(4096), driver.memory.alloc(4096), driver.memory.alloc(4096)];
    const listPage = driver.memory.alloc(8192);
    const list = listPage + 4096n - 16n; // 2 slots: one data entry + chain pointer
    const next = listPage + 4096n;
    const first = driver.memory.dataView(list, 16);
    first.setBigUint64(0, pages[1]!, true);
    first.setBigUint64(8, next, true);
    const second = driver.memory.dataView(next, 16);
    second.setBigUint64(0, pages[2]!, true);
    second.setBigUint64(8, pages[3]!, true);
    const r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: pages[0], prp2: list, cdw10: 64, cdw12: 31 });
    expect(r.status).toBe(0);
    pages.forEach((p, i) => {
      expect(Buffer.from(driver.memory.view(p, 4096)).equals(Buffer.from(data.subarray(i * 4096, (i + 1) * 4096)))).toBe(true);
    });
  });

  it('rejects PRP offsets where the spec forbids them', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(16384);
    let r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: buf + 4096n + 8n, cdw12: 15 }); // 8 KiB, PRP2 offset
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    const list = driver.memory.alloc(4096);
    driver.memory.dataView(list, 8).setBigUint64(0, buf + 4096n + 512n, true);
    r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: list, cdw12: 23 }); // 12 KiB, list entry offset
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: buf + 2n, cdw12: 0 });
    expect(r.status).toBe(Status.PrpOffsetInvalid);
    expect(rig.guestErrors.length).toBeGreaterThanOrEqual(3);
  });

  it('enforces MDTS', async () => {
    rig = await startNvmeHarness({ mdts: 1 }); // 8 KiB
    await rig.driver.bringUp();
    const buf = rig.driver.memory.alloc(16384);
    expect((await rig.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 16, buffer: buf, bytes: 8192 })).status).toBe(
      0,
    );
    expect((await rig.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 17, buffer: buf, bytes: 8704 })).status).toBe(
      Status.InvalidField,
    );
  });

  it('maps DMA faults to Data Transfer Error (retryable) and logs the guest address', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await rig.driver.bringUp();
    const r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: 0xdead_0000n, cdw12: 0 });
    expect(r.status).toBe(Status.DataTransferError);
    expect(r.dnr).toBe(false);
    expect(controller.stats.dataTransferErrors).toBe(1);
    expect(rig.guestErrors.some((e) => e.detail?.address === 0xdead_0000n)).toBe(true);
  });

  it('works through the asynchronous DMA path (DMA_READ/DMA_WRITE messages, no mapped fd)', async () => {
    rig = await startNvmeHarness({ dma: 'messages' });
    await rig.driver.bringUp();
    const data = await writePattern(rig, 8n, 8192, 3);
    const out = rig.driver.memory.alloc(8192);
    expect((await rig.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 8n, blocks: 16, buffer: out, bytes: 8192 })).status).toBe(
      0,
    );
    expect(Buffer.from(rig.driver.memory.view(out, 8192)).equals(Buffer.from(data))).toBe(true);
    expect(rig.client.dmaServed.reads).toBeGreaterThan(0);
    expect(rig.client.dmaServed.writes).toBeGreaterThan(0);
    expect(rig.client.dmaServed.refused).toBe(0);
  });
});

describe('SGLs', () => {
  const read = (r: NvmeHarness, sgl: Uint8Array, nlb: number, slba = 0n, opcode = 2) =>
    r.driver.submit(1, { opcode, nsid: 1, flags: 0x40, sgl, cdw10: Number(slba), cdw12: nlb - 1 });

  it('reads through a data block, a segment chain and a bit bucket', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const data = await writePattern(rig, 0n, 4096, 4);
    const a = driver.memory.alloc(1024);
    expect((await read(rig, sglDescriptor(a, 1024, 0), 2)).status).toBe(0);
    expect(Buffer.from(driver.memory.view(a, 1024)).equals(Buffer.from(data.subarray(0, 1024)))).toBe(true);

    // Segment [data 512, bit bucket 512, last segment] -> [data 3072]
    const b = driver.memory.alloc(512);
    const c = driver.memory.alloc(3072);
    const seg1 = driver.memory.alloc(48);
    const seg2 = driver.memory.alloc(16);
    driver.memory.view(seg1, 48).set([...sglDescriptor(b, 512, 0), ...sglDescriptor(0n, 512, 1), ...sglDescriptor(seg2, 16, 3)]);
    driver.memory.view(seg2, 16).set(sglDescriptor(c, 3072, 0));
    expect((await read(rig, sglDescriptor(seg1, 48, 2), 8)).status).toBe(0);
    expect(Buffer.from(driver.memory.view(b, 512)).equals(Buffer.from(data.subarray(0, 512)))).toBe(true);
    expect(Buffer.from(driver.memory.view(c, 3072)).equals(Buffer.from(data.subarray(1024, 4096)))).toBe(true);
  });

  it('writes through a last-segment list', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const p = driver.memory.alloc(512);
    const q = driver.memory.alloc(512);
    fill(driver.memory.view(p, 512), 9);
    fill(driver.memory.view(q, 512), 10);
    const seg = driver.memory.alloc(32);
    driver.memory.view(seg, 32).set([...sglDescriptor(p, 512, 0), ...sglDescriptor(q, 512, 0)]);
    expect((await read(rig, sglDescriptor(seg, 32, 3), 2, 5n, 1)).status).toBe(0);
    const out = driver.memory.alloc(1024);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 5n, blocks: 2, buffer: out, bytes: 1024 })).status).toBe(0);
    expect(Buffer.from(driver.memory.view(out, 512)).equals(Buffer.from(driver.memory.view(p, 512)))).toBe(true);
    expect(Buffer.from(driver.memory.view(out + 512n, 512)).equals(Buffer.from(driver.memory.view(q, 512)))).toBe(true);
  });

  it('reports SGL errors with the right status codes', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const a = driver.memory.alloc(4096);
    expect((await read(rig, sglDescriptor(a, 256, 0), 1)).status).toBe(Status.DataSglLengthInvalid);
    expect((await read(rig, sglDescriptor(a, 512, 4), 1)).status).toBe(Status.SglDescriptorTypeInvalid); // keyed
    expect((await read(rig, sglDescriptor(a, 512, 0, 1), 1)).status).toBe(Status.SglDescriptorTypeInvalid); // offset subtype
    expect((await read(rig, sglDescriptor(0n, 512, 1), 1, 0n, 1)).status).toBe(Status.SglDescriptorTypeInvalid); // bit bucket on write
    const seg = driver.memory.alloc(48);
    driver.memory.view(seg, 48).set([...sglDescriptor(seg, 16, 2), ...sglDescriptor(a, 512, 0), ...sglDescriptor(a, 512, 0)]);
    expect((await read(rig, sglDescriptor(seg, 48, 2), 1)).status).toBe(Status.InvalidSglSegmentDescriptor);
    expect((await read(rig, sglDescriptor(seg, 20, 2), 1)).status).toBe(Status.InvalidSglSegmentDescriptor);
    // SGL on an admin command
    const r = await driver.admin({ opcode: 0x06, flags: 0x40, sgl: sglDescriptor(a, 4096, 0), cdw10: 1 });
    expect(r.status).toBe(Status.InvalidField);
  });
});

describe('CMB-resident queues and data', () => {
  it('places an I/O SQ in the CMB and serves CMB data buffers locally', async () => {
    rig = await startNvmeHarness({ cmb: { size: 4 << 20 } });
    const { driver, controller } = rig;
    const cmb = await rig.mapBar(2); // the guest CPU's mapping of BAR2
    const CBA = 0xf000_0000n;
    await driver.write32(Reg.CMBMSC, 1);
    await driver.write32(Reg.CMBMSC + 4, 0);
    await driver.write32(Reg.CMBMSC, Number(CBA) | 3);
    await driver.enable();
    await driver.setFeatures(7, 0x00030003);
    await driver.createQueuePair(1, 64, { submissionQueueMemory: { address: CBA, bytes: cmb.subarray(0, 64 * 64) } });
    expect(controller.stats.ioSqCreatedInCmb).toBe(1);

    const data = await writePattern(rig, 0n, 8192, 5);
    const dmaBefore = controller.stats.dmaBytes;
    const session = rig.server.session!.dma.counters;
    // Read into the CMB at offset 1 MiB (PRP list in RAM, data pages in CMB).
    const dst = CBA + 0x10_0000n;
    const r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: dst, prp2: dst + 4096n, cdw12: 15 });
    expect(r.status).toBe(0);
    expect(Buffer.from(cmb.subarray(0x10_0000, 0x10_0000 + 8192)).equals(Buffer.from(data))).toBe(true);
    // Only the completion went through DMA: SQE fetch and data were local.
    expect(controller.stats.dmaBytes - dmaBefore).toBe(16);
    expect(session.messages).toBe(0); // nothing took the asynchronous DMA_READ/DMA_WRITE path
  });

  it('rejects a CQ in the CMB when CMBSZ.CQS = 0', async () => {
    rig = await startNvmeHarness({ cmb: { size: 4 << 20 } });
    const { driver } = rig;
    await driver.write32(Reg.CMBMSC, 0xf000_0003);
    await driver.enable();
    const r = await driver.admin({ opcode: 0x05, prp1: 0xf000_0000n, cdw10: (15 << 16) | 1, cdw11: 3 });
    expect(r.status).toBe(Status.InvalidField);
  });
});

describe('data pointer refusals', () => {
  it('PRP list pointer / chained list alignment, SGL descriptor count, reserved PSDT', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(16384);
    const list = driver.memory.alloc(8192);
    // 12 KiB: PRP2 is a list pointer and must be qword aligned.
    expect((await driver.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: list + 4n, cdw12: 23 })).status).toBe(Status.PrpOffsetInvalid);
    // A list that fills its page chains to a next list that must be page aligned.
    const tail = list + 4096n - 16n;
    const v = driver.memory.dataView(tail, 16);
    v.setBigUint64(0, buf + 4096n, true);
    v.setBigUint64(8, list + 4096n + 8n, true);
    expect((await driver.submit(1, { opcode: 2, nsid: 1, prp1: buf, prp2: tail, cdw12: 31 })).status).toBe(Status.PrpOffsetInvalid);
    // A segment claiming more than 16384 descriptors.
    const sgl = sglDescriptor(driver.memory.alloc(4096), 16385 * 16, 2);
    expect((await driver.submit(1, { opcode: 2, nsid: 1, flags: 0x40, sgl, cdw12: 0 })).status).toBe(Status.InvalidSglDescriptorCount);
    // PSDT 11b is reserved.
    expect((await driver.submit(1, { opcode: 2, nsid: 1, flags: 0xc0, prp1: buf, cdw12: 0 })).status).toBe(Status.InvalidField);
    // An SGL segment list outside guest RAM: its DMA_READ is refused.
    expect((await driver.submit(1, { opcode: 2, nsid: 1, flags: 0x40, sgl: sglDescriptor(0x7000_0000n, 32, 3), cdw12: 0 })).status).toBe(
      Status.DataTransferError,
    );
  });
});

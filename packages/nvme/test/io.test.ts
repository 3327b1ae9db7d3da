import type { FileHandle } from 'node:fs/promises';
import { SharedMemory } from '@p2pkit/native';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type HolePuncher, IoOpcode, Status, ZeroFillHolePuncher } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

async function put(r: NvmeHarness, slba: bigint, nlb: number, byte: number, nsid = 1): Promise<void> {
  const buf = r.driver.memory.alloc(nlb * 512);
  r.driver.memory.view(buf, nlb * 512).fill(byte);
  expect((await r.driver.readWrite(1, { opcode: IoOpcode.Write, nsid, slba, blocks: nlb, buffer: buf, bytes: nlb * 512 })).status).toBe(0);
}

async function get(r: NvmeHarness, slba: bigint, nlb: number, nsid = 1): Promise<Uint8Array> {
  const buf = r.driver.memory.alloc(nlb * 512);
  expect((await r.driver.readWrite(1, { opcode: IoOpcode.Read, nsid, slba, blocks: nlb, buffer: buf, bytes: nlb * 512 })).status).toBe(0);
  return r.driver.memory.view(buf, nlb * 512).slice();
}

class RecordingPuncher implements HolePuncher {
  calls: [number, number][] = [];
  private readonly inner = new ZeroFillHolePuncher();
  async punchHole(file: FileHandle, offset: number, length: number): Promise<void> {
    this.calls.push([offset, length]);
    await this.inner.punchHole(file, offset, length);
  }
}

describe('NVM I/O commands', () => {
  it('Write Zeroes (with DEAC) zeroes the range through the hole puncher', async () => {
    const puncher = new RecordingPuncher();
    rig = await startNvmeHarness({ holePuncher: puncher });
    await rig.driver.bringUp();
    await put(rig, 10n, 4, 0xee);
    const r = await rig.driver.submit(1, { opcode: 8, nsid: 1, cdw10: 11, cdw12: 1 | (1 << 25) });
    expect(r.status).toBe(0);
    expect(puncher.calls).toEqual([[11 * 512, 1024]]);
    const d = await get(rig, 10n, 4);
    expect([...d.subarray(0, 512)].every((b) => b === 0xee)).toBe(true);
    expect([...d.subarray(512, 1536)].every((b) => b === 0)).toBe(true);
    expect([...d.subarray(1536)].every((b) => b === 0xee)).toBe(true);
    expect((await rig.driver.submit(1, { opcode: 8, nsid: 1, cdw10: 16383, cdw12: 1 })).status).toBe(Status.LbaOutOfRange);
  });

  it('Dataset Management deallocates every range and checks bounds', async () => {
    const puncher = new RecordingPuncher();
    rig = await startNvmeHarness({ holePuncher: puncher });
    const { driver } = rig;
    await rig.driver.bringUp();
    await put(rig, 0n, 8, 0x11);
    const ranges = driver.memory.alloc(4096);
    const v = driver.memory.dataView(ranges, 4096);
    v.setUint32(4, 2, true);
    v.setBigUint64(8, 1n, true);
    v.setUint32(16 + 4, 1, true);
    v.setBigUint64(16 + 8, 6n, true);
    expect((await driver.submit(1, { opcode: 9, nsid: 1, prp1: ranges, cdw10: 1, cdw11: 4 })).status).toBe(0);
    expect(puncher.calls).toEqual([
      [512, 1024],
      [3072, 512],
    ]);
    const d = await get(rig, 0n, 8);
    expect([0, 3, 4, 5, 7].every((i) => d[i * 512] === 0x11)).toBe(true);
    expect([1, 2, 6].every((i) => d[i * 512] === 0)).toBe(true);
    v.setBigUint64(8, 16383n, true);
    expect((await driver.submit(1, { opcode: 9, nsid: 1, prp1: ranges, cdw10: 0, cdw11: 4 })).status).toBe(Status.LbaOutOfRange);
  });

  it('Compare succeeds on equal data and fails with Compare Failure', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    await put(rig, 3n, 2, 0x42);
    const buf = driver.memory.alloc(1024);
    driver.memory.view(buf, 1024).fill(0x42);
    expect((await driver.submit(1, { opcode: 5, nsid: 1, prp1: buf, cdw10: 3, cdw12: 1 })).status).toBe(0);
    driver.memory.view(buf, 1024)[700] = 0;
    const r = await driver.submit(1, { opcode: 5, nsid: 1, prp1: buf, cdw10: 3, cdw12: 1 });
    expect(r.status).toBe(Status.CompareFailure);
    expect(r.dnr).toBe(true);
  });

  it('Copy (format 0) copies ranges and enforces limits', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    await put(rig, 0n, 2, 0xa1);
    await put(rig, 50n, 1, 0xb2);
    const src = driver.memory.alloc(4096);
    const v = driver.memory.dataView(src, 4096);
    v.setBigUint64(8, 0n, true);
    v.setUint16(16, 1, true); // 2 blocks
    v.setBigUint64(32 + 8, 50n, true);
    v.setUint16(32 + 16, 0, true); // 1 block
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 100, cdw12: 1 })).status).toBe(0);
    const d = await get(rig, 100n, 3);
    expect(d[0]).toBe(0xa1);
    expect(d[1023]).toBe(0xa1);
    expect(d[1024]).toBe(0xb2);
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 100, cdw12: 1 | (1 << 8) })).status).toBe(
      Status.InvalidField,
    );
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 16382, cdw12: 1 })).status).toBe(Status.LbaOutOfRange);
    v.setUint16(16, 0x1000, true);
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 100, cdw12: 1 })).status).toBe(
      Status.CommandSizeLimitExceeded,
    );
  });

  it('Flush accepts NSID FFFFFFFFh and rejects unknown namespaces; Verify checks range; FUA writes succeed', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20 }, { sizeBytes: 1 << 20 }] });
    const { driver } = rig;
    await rig.driver.bringUp();
    expect((await driver.submit(1, { opcode: 0, nsid: 0xffffffff })).status).toBe(0);
    expect((await driver.submit(1, { opcode: 0, nsid: 2 })).status).toBe(0);
    expect((await driver.submit(1, { opcode: 0, nsid: 5 })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await driver.submit(1, { opcode: 0x0c, nsid: 1, cdw10: 2047, cdw12: 0 })).status).toBe(0);
    expect((await driver.submit(1, { opcode: 0x0c, nsid: 1, cdw10: 2047, cdw12: 1 })).status).toBe(Status.LbaOutOfRange);
    const buf = driver.memory.alloc(512);
    expect(
      (
        await driver.readWrite(1, {
          opcode: IoOpcode.Write,
          nsid: 2,
          slba: 0n,
          blocks: 1,
          buffer: buf,
          bytes: 512,
          command: { cdw12: 1 << 30 },
        })
      ).status,
    ).toBe(0);
    // Write cache off: every write is durable before completion.
    expect((await driver.setFeatures(6, 0)).status).toBe(0);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 2, slba: 0n, blocks: 1, buffer: buf, bytes: 512 })).status).toBe(0);
  });
});

describe('I/O status coverage (every implemented command: success and error statuses)', () => {
  it('every namespace-addressed command reports Invalid Namespace for an inactive NSID', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    for (const opcode of [0x01, 0x02, 0x05, 0x08, 0x09, 0x0c, 0x19]) {
      const r = await driver.submit(1, { opcode, nsid: 4, prp1: buf, cdw12: 0 });
      expect(r.status, `opcode 0x${opcode.toString(16)}`).toBe(Status.InvalidNamespaceOrFormat);
      expect(r.dnr).toBe(true);
    }
    expect((await driver.submit(1, { opcode: 0x00, nsid: 0 })).status).toBe(Status.InvalidNamespaceOrFormat); // Flush
  });

  it('Write: LBA out of range, MDTS, data transfer error from unmapped memory', async () => {
    rig = await startNvmeHarness({ mdts: 1 }); // 8 KiB
    const { driver, controller } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(16384);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 16383n, blocks: 2, buffer: buf, bytes: 1024 })).status).toBe(
      Status.LbaOutOfRange,
    );
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 17, buffer: buf, bytes: 8704 })).status).toBe(
      Status.InvalidField,
    ); // > MDTS
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 16, buffer: buf, bytes: 8192 })).status).toBe(0);
    // The source is outside every DMA window: the DMA_READ is refused by the client.
    const r = await driver.submit(1, { opcode: 1, nsid: 1, prp1: 0x7000_0000n, cdw12: 0 });
    expect(r.status).toBe(Status.DataTransferError);
    expect(r.dnr).toBe(false);
    expect(controller.stats.dataTransferErrors).toBe(1);
    expect(rig.client.dmaServed.refused).toBe(1);
  });

  it('Read into a read-only DMA window is a Data Transfer Error; Write from it succeeds', async () => {
    rig = await startNvmeHarness();
    const { driver, client } = rig;
    await rig.driver.bringUp();
    using ro = SharedMemory.create('ro-window', 1 << 20);
    const RO = 0x4000_0000n;
    await client.dmaMap({ address: RO, size: BigInt(ro.size), flags: 1 /* READ only */, fd: ro.fd.fd });
    ro.bytes.fill(0x77, 0, 512);
    expect((await driver.submit(1, { opcode: 1, nsid: 1, prp1: RO, cdw10: 3, cdw12: 0 })).status).toBe(0);
    const r = await driver.submit(1, { opcode: 2, nsid: 1, prp1: RO + 4096n, cdw10: 3, cdw12: 0 });
    expect(r.status).toBe(Status.DataTransferError);
    expect(rig.guestErrors.some((e) => e.message.startsWith('data transfer failed') && e.detail?.address === RO + 4096n)).toBe(true);
    const d = await get(rig, 3n, 1);
    expect(d.every((b) => b === 0x77)).toBe(true);
    await client.dmaUnmap({ address: RO, size: BigInt(ro.size) });
  });

  it('Compare, Write Zeroes, Verify: out-of-range refusals; Compare data transfer error', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    expect((await driver.submit(1, { opcode: 5, nsid: 1, prp1: buf, cdw10: 16383, cdw12: 1 })).status).toBe(Status.LbaOutOfRange);
    expect((await driver.submit(1, { opcode: 5, nsid: 1, prp1: 0x7000_0000n, cdw12: 0 })).status).toBe(Status.DataTransferError);
    expect((await driver.submit(1, { opcode: 8, nsid: 1, cdw10: 0, cdw11: 1, cdw12: 0 })).status).toBe(Status.LbaOutOfRange); // SLBA 2^32
    expect((await driver.submit(1, { opcode: 8, nsid: 1, cdw10: 5, cdw12: 1 << 30 })).status).toBe(0); // FUA
    expect((await driver.submit(1, { opcode: 0x0c, nsid: 1, cdw10: 16384, cdw12: 0 })).status).toBe(Status.LbaOutOfRange);
  });

  it('Dataset Management: data transfer error for an unmapped range list; no-op without AD', async () => {
    const puncher = new RecordingPuncher();
    rig = await startNvmeHarness({ holePuncher: puncher });
    const { driver } = rig;
    await rig.driver.bringUp();
    expect((await driver.submit(1, { opcode: 9, nsid: 1, prp1: 0x7000_0000n, cdw10: 0, cdw11: 4 })).status).toBe(Status.DataTransferError);
    const ranges = driver.memory.alloc(4096);
    const v = driver.memory.dataView(ranges, 16);
    v.setUint32(4, 8, true);
    v.setBigUint64(8, 0n, true);
    expect((await driver.submit(1, { opcode: 9, nsid: 1, prp1: ranges, cdw10: 0, cdw11: 1 })).status).toBe(0); // IDR hint only
    expect(puncher.calls).toEqual([]);
  });

  it('Copy: too many ranges, MCL exceeded, data transfer error', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const src = driver.memory.alloc(8192);
    const v = driver.memory.dataView(src, 8192);
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, prp2: src + 4096n, cdw10: 100, cdw12: 128 })).status).toBe(
      Status.CommandSizeLimitExceeded,
    ); // 129 ranges > MSRC + 1
    for (let i = 0; i < 5; i++) {
      v.setBigUint64(i * 32 + 8, BigInt(i * 0x800), true);
      v.setUint16(i * 32 + 16, 0x7ff, true); // 2048 blocks each (MSSRL)
    }
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 8192, cdw12: 4 })).status).toBe(
      Status.CommandSizeLimitExceeded,
    ); // 10240 > MCL
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: src, cdw10: 8192, cdw12: 3 })).status).toBe(0); // 8192 = MCL
    expect((await driver.submit(1, { opcode: 0x19, nsid: 1, prp1: 0x7000_0000n, cdw10: 100, cdw12: 0 })).status).toBe(
      Status.DataTransferError,
    );
  });
});

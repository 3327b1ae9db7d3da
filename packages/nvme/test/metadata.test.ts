import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminOpcode, IoOpcode, Status } from '@p2pkit/nvme';
import { type NvmeHarness, PSDT_SGL, sglDataBlock, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { blockIo, pattern } from './fixtures/metadata-io.ts';

let rig: NvmeHarness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** PSDT 10b: SGL for data, MPTR holds an SGL descriptor. */
const PSDT_SGL_METADATA = 0x80;

describe('LBA formats with metadata: Identify Namespace', () => {
  it('lists 512, 4096, 512+8, 4096+8, 4096+64 with MC, DPC; FLBAS and DPS follow the namespace', async () => {
    rig = await startNvmeHarness({
      namespaces: [
        { sizeBytes: 4 << 20, metadataSize: 8, protection: { type: 1 } },
        { sizeBytes: 4 << 20, lbaSize: 4096, metadataSize: 64, extendedLba: true, protection: { type: 3, location: 'first' } },
        { sizeBytes: 4 << 20 },
      ],
    });
    await rig.driver.bringUp();
    const ns1 = new DataView((await rig.driver.identify(0, 1)).data.buffer);
    expect(ns1.getUint8(25)).toBe(4); // NLBAF: five formats
    const formats = [0, 1, 2, 3, 4].map((i) => {
      const d = ns1.getUint32(128 + i * 4, true);
      return { ms: d & 0xffff, lbads: (d >>> 16) & 0xff };
    });
    expect(formats).toEqual([
      { ms: 0, lbads: 9 },
      { ms: 0, lbads: 12 },
      { ms: 8, lbads: 9 },
      { ms: 8, lbads: 12 },
      { ms: 64, lbads: 12 },
    ]);
    expect(ns1.getUint8(26)).toBe(2); // FLBAS: format 2, separate metadata
    expect(ns1.getUint8(27)).toBe(0x03); // MC: extended and separate
    expect(ns1.getUint8(28)).toBe(0x1f); // DPC: types 1-3, first or last
    expect(ns1.getUint8(29)).toBe(1); // DPS: type 1, last 8 bytes
    expect(ns1.getBigUint64(0, true)).toBe(8192n);
    const ns2 = new DataView((await rig.driver.identify(0, 2)).data.buffer);
    expect(ns2.getUint8(26)).toBe(0x14); // format 4, extended
    expect(ns2.getUint8(29)).toBe(0x0b); // type 3, first 8 bytes
    const ns3 = new DataView((await rig.driver.identify(0, 3)).data.buffer);
    expect([ns3.getUint8(26), ns3.getUint8(29)]).toEqual([0, 0]);
    const ctrl = new DataView((await rig.driver.identify(1)).data.buffer);
    expect(ctrl.getUint32(536, true) & (1 << 19)).not.toBe(0); // SGLS: MPTR may hold an SGL descriptor
  });

  it('refuses a configured combination no LBA format offers', async () => {
    await expect(startNvmeHarness({ namespaces: [{ sizeBytes: 4 << 20, metadataSize: 64 }] })).rejects.toThrow(/no LBA format/);
    await expect(startNvmeHarness({ namespaces: [{ sizeBytes: 4 << 20, protection: { type: 1 } }] })).rejects.toThrow(/needs metadata/);
  });
});

describe('metadata in a separate buffer (MPTR)', () => {
  it('round-trips data and metadata, keeps the image raw and the metadata in a sidecar across restarts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pkit-md-'));
    const options = { directory: dir, namespaces: [{ sizeBytes: 1 << 20, metadataSize: 8 as const }] };
    rig = await startNvmeHarness(options);
    await rig.driver.bringUp();
    const data = pattern(4 * 512, 1);
    const metadata = pattern(4 * 8, 2);
    const w = await blockIo(rig, { opcode: IoOpcode.Write, slba: 10n, blocks: 4, bytes: 2048, data, metadata });
    expect(w.completion.status).toBe(Status.Success);
    await rig.close();
    // The image holds data only, where a raw disk has it; the sidecar 8 bytes per block.
    const image = await readFile(join(dir, 'ns1.raw'));
    expect(image.byteLength).toBe(1 << 20);
    expect(new Uint8Array(image.subarray(10 * 512, 14 * 512))).toEqual(data);
    expect((await stat(join(dir, 'ns1.raw.metadata'))).size).toBe(2048 * 8);
    rig = await startNvmeHarness(options);
    await rig.driver.bringUp();
    const r = await blockIo(rig, { opcode: IoOpcode.Read, slba: 10n, blocks: 4, bytes: 2048, metadata: new Uint8Array(32) });
    expect(r.completion.status).toBe(Status.Success);
    expect(r.data).toEqual(data);
    expect(r.metadata).toEqual(metadata);
  });

  it('takes MPTR as an SGL descriptor with PSDT 10b; too short a list is Metadata SGL Length Invalid', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, lbaSize: 4096, metadataSize: 64 }] });
    await rig.driver.bringUp();
    const { memory } = rig.driver;
    const data = pattern(8192, 3);
    const meta = pattern(128, 4);
    const dataBuf = memory.alloc(8192);
    memory.view(dataBuf, 8192).set(data);
    const metaBuf = memory.alloc(128);
    memory.view(metaBuf, 128).set(meta);
    const descriptor = memory.alloc(16, 16);
    memory.view(descriptor, 16).set(sglDataBlock(metaBuf, 128));
    const cmd = {
      opcode: IoOpcode.Write,
      nsid: 1,
      flags: PSDT_SGL_METADATA,
      sgl: sglDataBlock(dataBuf, 8192),
      mptr: descriptor,
      cdw10: 3,
      cdw12: 1,
    };
    expect((await rig.driver.submit(1, cmd)).status).toBe(Status.Success);
    const back = memory.alloc(128);
    memory.view(descriptor, 16).set(sglDataBlock(back, 128));
    const readBuf = memory.alloc(8192);
    const read = { ...cmd, opcode: IoOpcode.Read, sgl: sglDataBlock(readBuf, 8192) };
    expect((await rig.driver.submit(1, read)).status).toBe(Status.Success);
    expect(memory.view(back, 128)).toEqual(meta);
    expect(memory.view(readBuf, 8192)).toEqual(data);
    memory.view(descriptor, 16).set(sglDataBlock(back, 64));
    expect((await rig.driver.submit(1, read)).status & 0x7ff).toBe(Status.MetadataSglLengthInvalid);
    // PSDT 01b: MPTR is a plain buffer address again.
    const plain = { ...read, flags: PSDT_SGL, mptr: back };
    memory.view(back, 128).fill(0);
    expect((await rig.driver.submit(1, plain)).status).toBe(Status.Success);
    expect(memory.view(back, 128)).toEqual(meta);
  });

  it('a metadata pointer outside guest memory is a Data Transfer Error, and the controller carries on', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, metadataSize: 8 }] });
    await rig.driver.bringUp();
    const outside = 0x7000_0000_0000n;
    for (const opcode of [IoOpcode.Write, IoOpcode.Read]) {
      const r = await blockIo(rig, { opcode, slba: 0n, blocks: 1, bytes: 512, data: pattern(512, 5), mptr: outside });
      expect(r.completion.status & 0x7ff).toBe(Status.DataTransferError);
    }
    const buf = rig.driver.memory.alloc(512);
    const sgl = { opcode: IoOpcode.Read, nsid: 1, flags: PSDT_SGL_METADATA, sgl: sglDataBlock(buf, 512), mptr: outside };
    expect((await rig.driver.submit(1, sgl)).status & 0x7ff).toBe(Status.DataTransferError);
    // The descriptor is readable but points outside guest memory.
    const descriptor = rig.driver.memory.alloc(16, 16);
    rig.driver.memory.view(descriptor, 16).set(sglDataBlock(outside, 8));
    expect((await rig.driver.submit(1, { ...sgl, mptr: descriptor })).status & 0x7ff).toBe(Status.DataTransferError);
    const ok = await blockIo(rig, { opcode: IoOpcode.Write, slba: 0n, blocks: 1, bytes: 512, metadata: new Uint8Array(8) });
    expect(ok.completion.status).toBe(Status.Success);
  });

  it('blocks marked by Write Uncorrectable fail Read, Compare and Verify with metadata too, until rewritten', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, metadataSize: 8, protection: { type: 1 } }] });
    await rig.driver.bringUp();
    expect((await rig.driver.submit(1, { opcode: IoOpcode.WriteUncorrectable, nsid: 1, cdw10: 6, cdw12: 0 })).status).toBe(0);
    const read = () => blockIo(rig as NvmeHarness, { opcode: IoOpcode.Read, slba: 6n, blocks: 1, bytes: 512, metadata: new Uint8Array(8) });
    expect((await read()).completion.status & 0x7ff).toBe(Status.UnrecoveredReadError);
    expect((await rig.driver.submit(1, { opcode: IoOpcode.Verify, nsid: 1, cdw10: 6, cdw12: 0 })).status & 0x7ff).toBe(
      Status.UnrecoveredReadError,
    );
    const compare = await blockIo(rig, { opcode: IoOpcode.Compare, slba: 6n, blocks: 1, bytes: 512, metadata: new Uint8Array(8) });
    expect(compare.completion.status & 0x7ff).toBe(Status.UnrecoveredReadError);
    await blockIo(rig, { opcode: IoOpcode.Write, slba: 6n, blocks: 1, bytes: 512, cdw12: 1 << 29, cdw14: 6 });
    expect((await read()).completion.status).toBe(Status.Success);
  });

  it('Dataset Management deallocates metadata with the data', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, metadataSize: 8 }] });
    await rig.driver.bringUp();
    await blockIo(rig, { opcode: IoOpcode.Write, slba: 4n, blocks: 2, bytes: 1024, data: pattern(1024, 6), metadata: pattern(16, 7) });
    const ranges = rig.driver.memory.alloc(16);
    const v = rig.driver.memory.dataView(ranges, 16);
    v.setUint32(4, 2, true);
    v.setBigUint64(8, 4n, true);
    expect((await rig.driver.submit(1, { opcode: IoOpcode.DatasetManagement, nsid: 1, prp1: ranges, cdw11: 4 })).status).toBe(0);
    const r = await blockIo(rig, { opcode: IoOpcode.Read, slba: 4n, blocks: 2, bytes: 1024, metadata: pattern(16, 8) });
    expect(r.data.every((b) => b === 0)).toBe(true);
    expect(r.metadata.every((b) => b === 0)).toBe(true);
  });
});

describe('metadata interleaved with the data (extended LBA)', () => {
  it('moves blocks of 4096+64 bytes through the data pointer; MDTS counts the metadata', async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pkit-md-'));
    rig = await startNvmeHarness({
      directory: dir,
      mdts: 1,
      namespaces: [{ sizeBytes: 1 << 20, lbaSize: 4096, metadataSize: 64, extendedLba: true }],
    });
    await rig.driver.bringUp();
    const stride = 4096 + 64;
    const data = pattern(stride, 9);
    expect((await blockIo(rig, { opcode: IoOpcode.Write, slba: 5n, blocks: 1, bytes: stride, data })).completion.status).toBe(0);
    const r = await blockIo(rig, { opcode: IoOpcode.Read, slba: 5n, blocks: 1, bytes: stride });
    expect(r.data).toEqual(data);
    const image = await readFile(join(dir, 'ns1.raw'));
    expect(new Uint8Array(image.subarray(5 * 4096, 6 * 4096))).toEqual(data.subarray(0, 4096));
    // MDTS 1 = 8 KiB: two blocks of data fit, two blocks with their metadata do not.
    const two = await blockIo(rig, { opcode: IoOpcode.Read, slba: 0n, blocks: 2, bytes: 2 * stride });
    expect(two.completion.status & 0x7ff).toBe(Status.InvalidField);
  });
});

describe('Format NVM and Namespace Management with metadata and protection', () => {
  const format = (lbaf: number, mset: number, pi: number, pil = 0) =>
    (lbaf & 0xf) | (mset << 4) | (pi << 5) | (pil << 8) | ((lbaf >>> 4) << 12);

  it('formats to 512+8 with PI type 1, extended 4096+64 with type 2 first, and back; refuses what no format offers', async () => {
    dir = await mkdtemp(join(tmpdir(), 'p2pkit-md-'));
    rig = await startNvmeHarness({ directory: dir, namespaces: [{ sizeBytes: 1 << 20 }] });
    await rig.driver.bringUp();
    const id = async () => new DataView((await rig?.driver.identify(0, 1))?.data.buffer as ArrayBuffer);
    expect((await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: format(2, 0, 1) })).status).toBe(0);
    let v = await id();
    expect([v.getUint8(26), v.getUint8(29), v.getBigUint64(0, true)]).toEqual([2, 1, 2048n]);
    expect((await stat(join(dir, 'ns1.raw.metadata'))).size).toBe(2048 * 8);
    expect((await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: format(4, 1, 2, 1) })).status).toBe(0);
    v = await id();
    expect([v.getUint8(26), v.getUint8(29), v.getBigUint64(0, true)]).toEqual([0x14, 0x0a, 256n]);
    for (const bad of [format(0, 0, 1), format(2, 0, 4), format(5, 0, 0), format(17, 0, 0)]) {
      const r = await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: bad });
      expect(r.status & 0x7ff).toBe(Status.InvalidFormat);
    }
    expect((await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: format(0, 0, 0) })).status).toBe(0);
    v = await id();
    expect([v.getUint8(26), v.getUint8(29)]).toEqual([0, 0]);
    await expect(stat(join(dir, 'ns1.raw.metadata'))).rejects.toThrow(/ENOENT/);
  });

  it('Namespace Management creates a namespace with FLBAS (extended bit) and DPS, refusing PI without metadata', async () => {
    rig = await startNvmeHarness({ namespaceManagement: true, totalCapacityBytes: 64 << 20, namespaces: [{ sizeBytes: 1 << 20 }] });
    await rig.driver.bringUp();
    const create = async (flbas: number, dps: number) => {
      const buf = rig?.driver.memory.alloc(4096) as bigint;
      const v = rig?.driver.memory.dataView(buf, 4096) as DataView;
      v.setBigUint64(0, 256n, true);
      v.setBigUint64(8, 256n, true);
      v.setUint8(26, flbas);
      v.setUint8(29, dps);
      return rig?.driver.admin({ opcode: AdminOpcode.NamespaceManagement, prp1: buf, cdw10: 0 });
    };
    const made = await create(0x13, 0x03);
    expect(made?.status).toBe(0);
    const v = new DataView((await rig.driver.identify(0x11, made?.dw0 as number)).data.buffer); // Identify allocated namespace
    expect([v.getUint8(26), v.getUint8(29), v.getBigUint64(0, true)]).toEqual([0x13, 0x03, 256n]);
    expect(((await create(0x01, 0x01))?.status ?? 0) & 0x7ff).toBe(Status.InvalidFormat);
  });
});

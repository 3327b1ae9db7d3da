/**
 * NoLoad through @p2pkit/nvme/testing (no VM): the host driver submits the vendor commands with
 * data in host memory, in the CMB and in the namespace, and checks results against node:zlib and
 * the CRC-32C of the same bytes.
 */
import { gunzipSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { IoOpcode, Status } from '@p2pkit/nvme';
import { type NvmeHarness, prpsFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { RegionIndex } from '@p2pkit/vfio-user';
import { afterEach, describe, expect, it } from 'vitest';
import {
  control,
  crc32c,
  createNoload,
  Format,
  installNoload,
  MAX_BYTES,
  NOLOAD_LOG_PAGE,
  NOLOAD_SIGNATURE,
  NoloadOpcode,
  NoloadStatus,
  noloadNvmeOptions,
  Place,
  registerNoloadCommands,
} from './noload.ts';

const CMB = 0xc000_0000n;
let h: NvmeHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Compressible but not trivial: text with a counter in it. */
const sample = (n: number) =>
  new TextEncoder().encode(Array.from({ length: Math.ceil(n / 24) }, (_, i) => `line ${i} of the sample\n`).join('')).slice(0, n);

// #region harness
/** A harness serving a NoLoad-equipped controller (the commands on a plain createNvme, as createNoload does). */
async function start(): Promise<NvmeHarness> {
  const harness = await startNvmeHarness({ cmb: { size: 4 << 20 }, namespaces: [{ sizeBytes: 8 << 20 }] });
  registerNoloadCommands(harness.controller);
  await harness.configWrite32(0x18, Number(CMB)); // BAR2 (the CMB), as the guest's BIOS would place it
  await harness.configWrite32(0x1c, 0);
  await harness.driver.bringUp();
  return harness;
}
// #endregion harness

describe('NoLoad commands', () => {
  it('CRC-32C and compress from host memory, decompress from the namespace back to host memory', async () => {
    h = await start();
    const { driver, memory } = h;
    const data = sample(100_000);
    const buf = memory.alloc(128 << 10);
    memory.view(buf, data.length).set(data);

    // #region host-to-namespace
    const crc = await driver.submit(1, {
      opcode: NoloadOpcode.Crc32cFromHost,
      nsid: 1,
      ...prpsFor(memory, buf, data.length),
      cdw12: data.length,
    });
    expect([crc.status, crc.dw0, crc.dw1]).toEqual([Status.Success, crc32c(data), data.length]);

    // host → namespace LBA 64: DW0 = compressed bytes, DW1 = their CRC-32C.
    const ctl = control({ source: Place.DataPointer, destination: Place.Namespace, level: 9 });
    const z = await driver.submit(1, {
      opcode: NoloadOpcode.CompressFromHost,
      nsid: 1,
      ...prpsFor(memory, buf, data.length),
      cdw12: data.length,
      cdw13: ctl,
      cdw14: 64,
      cdw15: 1 << 20,
    });
    expect(z.status).toBe(Status.Success);
    const out = memory.alloc(64 << 10);
    const blocks = Math.ceil(z.dw0 / 512);
    expect(
      (await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 64n, blocks, buffer: out, bytes: blocks * 512 })).status,
    ).toBe(0);
    const compressed = memory.view(out, z.dw0).slice();
    expect(z.dw1).toBe(crc32c(compressed));
    expect(Buffer.compare(gunzipSync(compressed), data)).toBe(0);
    // #endregion host-to-namespace

    // namespace → host: NLB in CDW12 as for Read; trailing zeros of the last block are ignored.
    memory.view(buf, data.length).fill(0);
    const back = await driver.submit(1, {
      opcode: NoloadOpcode.DecompressToHost,
      nsid: 1,
      ...prpsFor(memory, buf, 128 << 10),
      cdw10: 64,
      cdw12: blocks - 1,
      cdw13: control({ source: Place.Namespace, destination: Place.DataPointer }),
      cdw15: 128 << 10,
    });
    expect([back.status, back.dw0, back.dw1]).toEqual([Status.Success, data.length, crc32c(data)]);
    expect(Buffer.compare(memory.view(buf, data.length), data)).toBe(0);
    expect(h.deviceErrors).toEqual([]);
  });

  it('works on data in its CMB: CMB → CMB in every format, and a data pointer that points into the CMB', async () => {
    h = await start();
    const { driver } = h;
    const cmb = await h.mapBar(2); // what the guest CPU sees of the CMB
    const data = sample(300_000);
    cmb.set(data, 0);
    const inflaters = [gunzipSync, inflateSync, inflateRawSync];
    for (const format of [Format.Gzip, Format.Zlib, Format.RawDeflate]) {
      const z = await driver.submit(1, {
        opcode: NoloadOpcode.Compress,
        nsid: 1,
        cdw10: 0,
        cdw12: data.length,
        cdw13: control({ source: Place.Cmb, destination: Place.Cmb, format }),
        cdw14: 1 << 20,
        cdw15: 1 << 20,
      });
      expect(z.status).toBe(Status.Success);
      const compressed = cmb.slice(1 << 20, (1 << 20) + z.dw0);
      expect(Buffer.compare(inflaters[format]?.(compressed) ?? Buffer.alloc(0), data)).toBe(0);
      const x = await driver.submit(1, {
        opcode: NoloadOpcode.Decompress,
        nsid: 1,
        cdw10: 1 << 20,
        cdw12: z.dw0,
        cdw13: control({ source: Place.Cmb, destination: Place.Cmb, format }),
        cdw14: 2 << 20,
        cdw15: 1 << 20,
      });
      expect([x.status, x.dw0, x.dw1]).toEqual([Status.Success, data.length, crc32c(data)]);
    }
    // A PRP naming a CMB bus address: the controller serves it from its own memory, no DMA.
    const before = h.controller.stats.dmaBytes;
    const crc = await driver.submit(1, {
      opcode: NoloadOpcode.Crc32cFromHost,
      nsid: 1,
      prp1: CMB + 0x1000n,
      prp2: CMB + 0x2000n,
      cdw12: 8192,
    });
    expect(crc.dw0).toBe(crc32c(data.subarray(0x1000, 0x3000)));
    expect(h.controller.stats.dmaBytes - before).toBeLessThan(128); // only the SQE/CQE traffic
  });

  it('reports output that does not fit, corrupt input, places that disagree with the opcode, and bad ranges', async () => {
    h = await start();
    const { driver } = h;
    const cmb = await h.mapBar(2);
    cmb.set(gzipSync(sample(50_000)), 0);
    const cmbToCmb = control({ source: Place.Cmb, destination: Place.Cmb });
    const small = await driver.submit(1, {
      opcode: NoloadOpcode.Compress,
      nsid: 1,
      cdw12: 50_000,
      cdw13: cmbToCmb,
      cdw14: 1 << 20,
      cdw15: 16,
    });
    expect(small.status & 0x7ff).toBe(NoloadStatus.OutputTooLarge);
    expect(small.dw0).toBeGreaterThan(16); // the bytes it would have needed
    const bomb = await driver.submit(1, {
      opcode: NoloadOpcode.Decompress,
      nsid: 1,
      cdw12: 4096,
      cdw13: cmbToCmb,
      cdw14: 1 << 20,
      cdw15: 1000,
    });
    expect(bomb.status & 0x7ff).toBe(NoloadStatus.OutputTooLarge);
    const corrupt = await driver.submit(1, {
      opcode: NoloadOpcode.Decompress,
      nsid: 1,
      cdw10: 3 << 20,
      cdw12: 4096,
      cdw13: cmbToCmb,
      cdw14: 1 << 20,
      cdw15: 1 << 20,
    });
    expect(corrupt.status & 0x7ff).toBe(NoloadStatus.CorruptInput);
    const wrongPlace = await driver.submit(1, {
      opcode: NoloadOpcode.Compress,
      nsid: 1,
      cdw12: 16,
      cdw13: control({ source: Place.DataPointer }),
    });
    expect(wrongPlace.status).toBe(Status.InvalidField);
    const outside = await driver.submit(1, {
      opcode: NoloadOpcode.Crc32c,
      nsid: 1,
      cdw10: (4 << 20) - 8,
      cdw12: 16,
      cdw13: control({ source: Place.Cmb }),
    });
    expect(outside.status).toBe(Status.InvalidField);
    const lba = await driver.submit(1, {
      opcode: NoloadOpcode.Crc32c,
      nsid: 1,
      cdw10: 16383,
      cdw12: 1,
      cdw13: control({ source: Place.Namespace }),
    });
    expect(lba.status).toBe(Status.LbaOutOfRange);
    expect(h.deviceErrors).toEqual([]);
  });
});

describe('createNoload', () => {
  it('identifies itself in Identify Controller vendor bytes and a vendor capability, and counts its work in log page C0h', async () => {
    // The harness builds the device from the same options createNoload uses, and installs the same extension.
    h = await startNvmeHarness({ ...noloadNvmeOptions({ serial: 'NOLOAD-UNIT', cmbSize: 2 << 20 }), namespaces: [{ sizeBytes: 1 << 20 }] });
    const stats = installNoload(h.controller);
    const { driver, memory } = h;
    await driver.bringUp();
    const buf = memory.alloc(4096);
    expect((await driver.admin({ opcode: 0x06, cdw10: 1, ...prpsFor(memory, buf, 4096) })).status).toBe(Status.Success);
    const vendor = memory.view(buf + 3072n, 32);
    expect(new TextDecoder().decode(vendor.subarray(0, 8))).toBe(NOLOAD_SIGNATURE);
    expect(new DataView(vendor.buffer, vendor.byteOffset).getUint32(16, true)).toBe(MAX_BYTES);

    const config = await h.client.regionRead(RegionIndex.CONFIG, 0, 256);
    let at = config[0x34] as number;
    while (at && config[at] !== 0x09) at = config[at + 1] as number;
    expect(config.subarray(at + 3, at + 9).toString()).toBe('NOLOAD');

    memory.view(buf, 512).fill(0x61);
    await driver.submit(1, { opcode: NoloadOpcode.Crc32cFromHost, nsid: 1, ...prpsFor(memory, buf, 512), cdw12: 512 });
    const log = await driver.getLogPage(NOLOAD_LOG_PAGE, 64);
    const v = new DataView(log.data.buffer, log.data.byteOffset);
    expect([v.getBigUint64(16, true), v.getBigUint64(24, true)]).toEqual([1n, 512n]); // one CRC-32C, 512 bytes in
    expect(stats.commands.crc32c).toBe(1);
  });

  it('creates a servable device with the CMB and the extension installed', async () => {
    await using noload = await createNoload({ serial: 'NOLOAD-1', cmbSize: 2 << 20 });
    expect(noload.controller.cmb?.size).toBe(2 << 20);
    expect(noload.stats.commands).toEqual({ compress: 0, decompress: 0, crc32c: 0 });
    expect(() => noload.controller.registerLogPage(NOLOAD_LOG_PAGE, () => new Uint8Array(4))).toThrow(/replace/);
  });
});

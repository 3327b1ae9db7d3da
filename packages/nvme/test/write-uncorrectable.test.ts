import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminOpcode, IoOpcode, LbaStatusAction, LogPageId, Status } from '../src/index.ts';

let rig: NvmeHarness;
let scratch: string | undefined;
afterEach(async () => {
  await rig?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** 8 MiB of 512-byte blocks (the harness default). */
const BLOCKS = 16384n;

const lba = (slba: bigint) => ({ cdw10: Number(slba & 0xffffffffn), cdw11: Number(slba >> 32n) });

function writeUncorrectable(r: NvmeHarness, slba: bigint, blocks: number, nsid = 1) {
  return r.driver.submit(1, { opcode: IoOpcode.WriteUncorrectable, nsid, ...lba(slba), cdw12: blocks - 1 });
}

async function write(r: NvmeHarness, slba: bigint, blocks: number, byte: number) {
  const buf = r.driver.memory.alloc(blocks * 512);
  r.driver.memory.view(buf, blocks * 512).fill(byte);
  return r.driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba, blocks, buffer: buf, bytes: blocks * 512 });
}

async function read(r: NvmeHarness, slba: bigint, blocks: number) {
  const buf = r.driver.memory.alloc(blocks * 512);
  const completion = await r.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba, blocks, buffer: buf, bytes: blocks * 512 });
  return { completion, data: r.driver.memory.view(buf, blocks * 512).slice() };
}

interface LbaStatusList {
  status: number;
  nlsd: number;
  cmpc: number;
  /** [DSLBA, blocks (1-based), STAS]. */
  ranges: [bigint, number, number][];
}

/** Get LBA Status with a (mndw + 1)-dword buffer. */
async function getLbaStatus(
  r: NvmeHarness,
  o: { slba?: bigint; rl?: number; atype?: number; mndw?: number; nsid?: number } = {},
): Promise<LbaStatusList> {
  const mndw = o.mndw ?? 1023;
  const bytes = (mndw + 1) * 4;
  const buf = r.driver.memory.alloc(Math.max(bytes, 4096));
  r.driver.memory.view(buf, bytes).fill(0xa5);
  const c = await r.driver.admin({
    opcode: AdminOpcode.GetLbaStatus,
    nsid: o.nsid ?? 1,
    prp1: buf,
    ...lba(o.slba ?? 0n),
    cdw12: mndw,
    cdw13: ((o.atype ?? LbaStatusAction.Tracked) << 24) | (o.rl ?? 0),
  });
  const v = r.driver.memory.dataView(buf, bytes);
  const nlsd = bytes >= 4 ? v.getUint32(0, true) : 0;
  const ranges: [bigint, number, number][] = [];
  for (let i = 0; i < nlsd && 8 + i * 16 + 16 <= bytes; i++) {
    ranges.push([v.getBigUint64(8 + i * 16, true), v.getUint32(16 + i * 16, true) + 1, v.getUint8(8 + i * 16 + 13)]);
  }
  return { status: c.status, nlsd, cmpc: bytes >= 8 ? v.getUint8(4) : -1, ranges };
}

describe('Write Uncorrectable', () => {
  it('is advertised in ONCS and the effects log', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    const { data } = await rig.driver.identify(1);
    const v = new DataView(data.buffer);
    expect(v.getUint16(520, true) & 0b10).toBe(0b10); // ONCS bit 1
    expect(v.getUint16(256, true) & (1 << 9)).toBe(1 << 9); // OACS bit 9: Get LBA Status
    const effects = await rig.driver.getLogPage(LogPageId.CommandsSupportedAndEffects, 4096);
    const fx = new DataView(effects.data.buffer);
    expect(fx.getUint32(1024 + IoOpcode.WriteUncorrectable * 4, true)).toBe(0b11); // supported, LBA content change
    expect(fx.getUint32(AdminOpcode.GetLbaStatus * 4, true) & 1).toBe(1);
  });

  it('makes reads of any marked block fail with Unrecovered Read Error until rewritten', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    expect((await write(rig, 100n, 16, 0x5a)).status).toBe(0);
    expect((await writeUncorrectable(rig, 104n, 4)).status).toBe(0);
    const bad = await read(rig, 100n, 16);
    expect(bad.completion.status).toBe(Status.UnrecoveredReadError);
    expect(bad.completion.dnr).toBe(true);
    expect((await read(rig, 107n, 1)).completion.status).toBe(Status.UnrecoveredReadError);
    // The blocks around the range still read.
    expect((await read(rig, 100n, 4)).completion.status).toBe(0);
    expect((await read(rig, 108n, 8)).completion.status).toBe(0);
    // Compare, Verify and Copy (as a source) read the media too.
    const buf = rig.driver.memory.alloc(512);
    expect((await rig.driver.submit(1, { opcode: IoOpcode.Compare, nsid: 1, prp1: buf, ...lba(105n), cdw12: 0 })).status).toBe(
      Status.UnrecoveredReadError,
    );
    expect((await rig.driver.submit(1, { opcode: IoOpcode.Verify, nsid: 1, ...lba(100n), cdw12: 15 })).status).toBe(
      Status.UnrecoveredReadError,
    );
    expect((await rig.driver.submit(1, { opcode: IoOpcode.Verify, nsid: 1, ...lba(108n), cdw12: 7 })).status).toBe(0);
    const range = rig.driver.memory.alloc(4096);
    const rv = rig.driver.memory.dataView(range, 32);
    rv.setBigUint64(8, 103n, true);
    rv.setUint16(16, 1, true); // 2 blocks: 103, 104
    expect((await rig.driver.submit(1, { opcode: IoOpcode.Copy, nsid: 1, prp1: range, ...lba(2000n), cdw12: 0 })).status).toBe(
      Status.UnrecoveredReadError,
    );
    // SMART counts the media errors; the error log names the first bad LBA.
    const smart = await rig.driver.getLogPage(LogPageId.SmartHealth, 512);
    expect(new DataView(smart.data.buffer).getBigUint64(160, true)).toBe(5n);
    const errors = await rig.driver.getLogPage(LogPageId.ErrorInformation, 64);
    const ev = new DataView(errors.data.buffer);
    expect((ev.getUint16(12, true) >>> 1) & 0x7ff).toBe(Status.UnrecoveredReadError);
    expect(ev.getBigUint64(16, true)).toBe(104n); // the Copy source range 103..104 fails at 104
    expect(ev.getUint32(24, true)).toBe(1);
    // A Write of part of the range clears just those blocks.
    expect((await write(rig, 104n, 2, 0x77)).status).toBe(0);
    expect((await read(rig, 104n, 2)).data.every((b) => b === 0x77)).toBe(true);
    expect((await read(rig, 106n, 1)).completion.status).toBe(Status.UnrecoveredReadError);
    // Write Zeroes and Deallocate clear the rest (deallocated blocks read as zeroes: DLFEAT).
    expect((await rig.driver.submit(1, { opcode: IoOpcode.WriteZeroes, nsid: 1, ...lba(106n), cdw12: 0 })).status).toBe(0);
    const dsm = rig.driver.memory.alloc(4096);
    const dv = rig.driver.memory.dataView(dsm, 16);
    dv.setUint32(4, 1, true);
    dv.setBigUint64(8, 107n, true);
    expect((await rig.driver.submit(1, { opcode: IoOpcode.DatasetManagement, nsid: 1, prp1: dsm, cdw10: 0, cdw11: 4 })).status).toBe(0);
    const after = await read(rig, 100n, 16);
    expect(after.completion.status).toBe(0);
    expect([...after.data.subarray(6 * 512, 8 * 512)].every((b) => b === 0)).toBe(true);
    expect((await getLbaStatus(rig)).ranges).toEqual([]);
  });

  it('rejects bad namespaces and ranges past the end with the spec statuses', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 64 << 20 }] });
    const blocks = 131072n;
    await rig.driver.bringUp();
    expect((await writeUncorrectable(rig, 0n, 1, 0)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await writeUncorrectable(rig, 0n, 1, 2)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await writeUncorrectable(rig, 0n, 1, 0xffffffff)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await writeUncorrectable(rig, blocks - 1n, 2)).status).toBe(Status.LbaOutOfRange);
    expect((await writeUncorrectable(rig, blocks - 0xffffn, 0x10000)).status).toBe(Status.LbaOutOfRange); // NLB FFFFh
    expect((await writeUncorrectable(rig, 2n ** 64n - 1n, 0x10000)).status).toBe(Status.LbaOutOfRange); // wraps past 2^64
    expect((await writeUncorrectable(rig, blocks - 1n, 1)).status).toBe(0);
    expect((await writeUncorrectable(rig, 0n, 0x10000)).status).toBe(0); // NLB FFFFh: 65536 blocks, one entry
    expect((await getLbaStatus(rig)).ranges).toEqual([
      [0n, 0x10000, 3],
      [blocks - 1n, 1, 3],
    ]);
    expect(rig.deviceErrors).toEqual([]);
  });
});

describe('Get LBA Status', () => {
  it('lists the marked ranges of SLBA..SLBA+RL, coalesced, with LBARS 011b', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    for (const [s, n] of [
      [10n, 5],
      [15n, 5], // touches the first: one descriptor
      [100n, 1],
      [5000n, 300],
    ] as const)
      expect((await writeUncorrectable(rig, s, n)).status).toBe(0);
    const all = await getLbaStatus(rig, { atype: LbaStatusAction.ScanUntracked });
    expect(all).toEqual({
      status: 0,
      nlsd: 3,
      cmpc: 2,
      ranges: [
        [10n, 10, 3],
        [100n, 1, 3],
        [5000n, 300, 3],
      ],
    });
    // The range is clipped to SLBA..SLBA+RL; RL 0 runs to the end of the namespace.
    expect((await getLbaStatus(rig, { slba: 12n, rl: 88 })).ranges).toEqual([[12n, 8, 3]]);
    expect((await getLbaStatus(rig, { slba: 12n, rl: 89 })).ranges).toEqual([
      [12n, 8, 3],
      [100n, 1, 3],
    ]);
    expect((await getLbaStatus(rig, { slba: 5100n })).ranges).toEqual([[5100n, 200, 3]]);
    expect((await getLbaStatus(rig, { slba: 5400n })).ranges).toEqual([]);
    // RL reaching past the end is clipped to NSZE.
    expect((await getLbaStatus(rig, { slba: 5000n, rl: 0xffff })).ranges).toEqual([[5000n, 300, 3]]);
  });

  it('stops at MNDW with CMPC 1 (incomplete) and the host continues from the last range', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    for (let i = 0n; i < 5n; i++) expect((await writeUncorrectable(rig, i * 10n, 2)).status).toBe(0);
    // 8-byte header + 2 descriptors = 40 bytes = 10 dwords (MNDW 9).
    const first = await getLbaStatus(rig, { mndw: 9 });
    expect(first.nlsd).toBe(2);
    expect(first.cmpc).toBe(1);
    expect(first.ranges).toEqual([
      [0n, 2, 3],
      [10n, 2, 3],
    ]);
    const next = await getLbaStatus(rig, { slba: 12n, mndw: 9 });
    expect(next.ranges.map((r) => r[0])).toEqual([20n, 30n]);
    const last = await getLbaStatus(rig, { slba: 32n, mndw: 9 });
    expect([last.nlsd, last.cmpc, last.ranges]).toEqual([1, 2, [[40n, 2, 3]]]);
    // Room for the header only: no descriptor, incomplete.
    const header = await getLbaStatus(rig, { mndw: 1 });
    expect([header.nlsd, header.cmpc]).toEqual([0, 1]);
    // One dword: just NLSD (0), nothing past it is written.
    const tiny = await getLbaStatus(rig, { mndw: 0 });
    expect(tiny.nlsd).toBe(0);
  });

  it('refuses other action types, bad NSIDs, SLBA past the end and buffers beyond MDTS', async () => {
    rig = await startNvmeHarness();
    await rig.driver.bringUp();
    expect((await getLbaStatus(rig, { atype: 0x02 })).status).toBe(Status.InvalidField); // RALBAS = 0
    expect((await getLbaStatus(rig, { atype: 0 })).status).toBe(Status.InvalidField);
    expect((await getLbaStatus(rig, { atype: 0x12 })).status).toBe(Status.InvalidField);
    expect((await getLbaStatus(rig, { nsid: 0 })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await getLbaStatus(rig, { nsid: 7 })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await getLbaStatus(rig, { nsid: 0xffffffff })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await getLbaStatus(rig, { slba: BLOCKS })).status).toBe(Status.LbaOutOfRange);
    expect((await getLbaStatus(rig, { slba: 2n ** 64n - 1n })).status).toBe(Status.LbaOutOfRange);
    // MNDW FFFFFFFFh asks for a 16 GiB buffer: beyond MDTS (512 KiB).
    const c = await rig.driver.admin({
      opcode: AdminOpcode.GetLbaStatus,
      nsid: 1,
      cdw12: 0xffffffff,
      cdw13: LbaStatusAction.Tracked << 24,
    });
    expect(c.status).toBe(Status.InvalidField);
    expect(rig.deviceErrors).toEqual([]);
  });
});

describe('uncorrectable blocks across restarts', () => {
  it('persist in <image>.uncorrectable.json and are gone once rewritten', async () => {
    scratch = await mkdtemp(join(tmpdir(), 'p2pkit-uncor-'));
    const sidecar = join(scratch, 'ns1.raw.uncorrectable.json');
    rig = await startNvmeHarness({ directory: scratch });
    await rig.driver.bringUp();
    expect((await writeUncorrectable(rig, 40n, 8)).status).toBe(0);
    expect((await writeUncorrectable(rig, 9000n, 1)).status).toBe(0);
    expect(JSON.parse(await readFile(sidecar, 'utf8')).ranges).toEqual([
      ['40', '8'],
      ['9000', '1'],
    ]);
    await rig.close();

    rig = await startNvmeHarness({ directory: scratch });
    await rig.driver.bringUp();
    expect((await read(rig, 44n, 1)).completion.status).toBe(Status.UnrecoveredReadError);
    expect((await getLbaStatus(rig)).ranges).toEqual([
      [40n, 8, 3],
      [9000n, 1, 3],
    ]);
    expect((await write(rig, 40n, 8, 1)).status).toBe(0);
    expect((await write(rig, 9000n, 1, 1)).status).toBe(0);
    await expect(stat(sidecar)).rejects.toThrow(/ENOENT/);
    await rig.close();

    rig = await startNvmeHarness({ directory: scratch });
    await rig.driver.bringUp();
    expect((await read(rig, 40n, 8)).completion.status).toBe(0);
  });

  it('converts marks saved with 512-byte blocks to the 4 KiB blocks that cover them; refuses a corrupt sidecar', async () => {
    scratch = await mkdtemp(join(tmpdir(), 'p2pkit-uncor-'));
    const sidecar = join(scratch, 'ns1.raw.uncorrectable.json');
    await writeFile(join(scratch, 'ns1.raw'), new Uint8Array(0));
    await writeFile(sidecar, JSON.stringify({ format: 'p2pkit-nvme-uncorrectable/1', lbaSize: 512, ranges: [['9', '8']] }));
    rig = await startNvmeHarness({ directory: scratch, namespaces: [{ sizeBytes: 8 << 20, lbaSize: 4096 }] });
    await rig.driver.bringUp();
    // Bytes 4608..8703 lie in 4 KiB blocks 1 and 2.
    expect((await getLbaStatus(rig)).ranges).toEqual([[1n, 2, 3]]);
    await rig.close();

    await writeFile(sidecar, '{"format":"p2pkit-nvme-uncorrectable/1","lbaSize":512,"ranges":[[1,2]]}');
    await expect(startNvmeHarness({ directory: scratch })).rejects.toThrow(/uncorrectable\.json: ranges must be/);
  });

  it('Format NVM unmarks every block and removes the sidecar', async () => {
    scratch = await mkdtemp(join(tmpdir(), 'p2pkit-uncor-'));
    rig = await startNvmeHarness({ directory: scratch });
    await rig.driver.bringUp();
    expect((await writeUncorrectable(rig, 1n, 1)).status).toBe(0);
    expect((await rig.driver.admin({ opcode: AdminOpcode.FormatNvm, nsid: 1, cdw10: 0 })).status).toBe(0);
    expect((await read(rig, 1n, 1)).completion.status).toBe(0);
    await expect(stat(join(scratch, 'ns1.raw.uncorrectable.json'))).rejects.toThrow(/ENOENT/);
  });
});

import { crc16T10Dif, IoOpcode, type NamespaceOptions, Status } from '@p2pkit/nvme';
import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { blockIo, CHECK_ALL, CHECK_APP, CHECK_GUARD, CHECK_REF, PRACT, pattern, tuple, tuples } from './fixtures/metadata-io.ts';

let rig: NvmeHarness | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function serve(ns: Omit<NamespaceOptions, 'path'>): Promise<NvmeHarness> {
  rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20, ...ns }] });
  await rig.driver.bringUp();
  return rig;
}

const code = (status: number) => status & 0x7ff;
const type1 = { metadataSize: 8, protection: { type: 1 } } as const;

describe('CRC-16 T10-DIF guard', () => {
  it('matches the standard check value and continues across pieces', () => {
    const text = new TextEncoder().encode('123456789');
    expect(crc16T10Dif(text)).toBe(0xd0db);
    expect(crc16T10Dif(text.subarray(4), crc16T10Dif(text.subarray(0, 4)))).toBe(0xd0db);
    expect(crc16T10Dif(new Uint8Array(512))).toBe(0);
  });
});

describe('protection information type 1 (512+8, separate metadata)', () => {
  it('PRACT write inserts guard, application tag and LBA reference tags; a checked read returns them', async () => {
    const r = await serve(type1);
    const data = pattern(4 * 512, 1);
    const w = await blockIo(r, {
      opcode: IoOpcode.Write,
      slba: 100n,
      blocks: 4,
      bytes: 2048,
      data,
      cdw12: PRACT | CHECK_ALL,
      cdw14: 100,
      cdw15: 0x1234,
    });
    expect(w.completion.status).toBe(Status.Success);
    const read = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 100n,
      blocks: 4,
      bytes: 2048,
      metadata: new Uint8Array(32),
      cdw12: CHECK_ALL,
      cdw14: 100,
      cdw15: (0xffff << 16) | 0x1234,
    });
    expect(read.completion.status).toBe(Status.Success);
    expect(read.data).toEqual(data);
    expect(read.metadata).toEqual(tuples(data, 512, 0x1234, 100));
    // PRACT on a read of PI-only metadata strips it: no metadata transfer at all.
    const stripped = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 100n,
      blocks: 4,
      bytes: 2048,
      mptr: 0x7000_0000_0000n,
      cdw12: PRACT | CHECK_ALL,
      cdw14: 100,
    });
    expect(stripped.completion.status).toBe(Status.Success);
    expect(stripped.data).toEqual(data);
  });

  it('checks host PI on write: bad guard, application tag under the mask, reference tag; nothing is stored', async () => {
    const r = await serve(type1);
    const data = pattern(2 * 512, 2);
    const good = tuples(data, 512, 0x00ab, 8);
    const write = (metadata: Uint8Array, cdw12 = CHECK_ALL, cdw15 = (0xffff << 16) | 0xab, cdw14 = 8) =>
      blockIo(r, { opcode: IoOpcode.Write, slba: 8n, blocks: 2, bytes: 1024, data, metadata, cdw12, cdw14, cdw15 });
    const badGuard = good.slice();
    badGuard[8] = (badGuard[8] as number) ^ 1; // second block's guard
    expect(code((await write(badGuard)).completion.status)).toBe(Status.EndToEndGuardCheckError);
    const untouched = await blockIo(r, { opcode: IoOpcode.Read, slba: 8n, blocks: 2, bytes: 1024, metadata: new Uint8Array(16) });
    expect(untouched.data.every((b) => b === 0) && untouched.metadata.every((b) => b === 0xff)).toBe(true);
    const badApp = good.slice();
    badApp.set(tuple(crc16T10Dif(data.subarray(0, 512)), 0x00ac, 8), 0);
    expect(code((await write(badApp)).completion.status)).toBe(Status.EndToEndApplicationTagCheckError);
    // The mask leaves bit 0 unchecked: 0xac and 0xab differ in bits 0-2, so mask 0xfff8 passes.
    expect((await write(badApp, CHECK_ALL, (0xfff8 << 16) | 0xab)).completion.status).toBe(Status.Success);
    const badRef = good.slice();
    badRef.set(tuple(crc16T10Dif(data.subarray(512)), 0xab, 1234), 8);
    expect(code((await write(badRef)).completion.status)).toBe(Status.EndToEndReferenceTagCheckError);
    expect((await write(badRef, CHECK_GUARD | CHECK_APP)).completion.status).toBe(Status.Success);
    // Type 1: with reference tag checking ILBRT must be the LBA's low bits.
    expect(code((await write(good, CHECK_ALL, (0xffff << 16) | 0xab, 9)).completion.status)).toBe(Status.InvalidProtectionInformation);
    // The last accepted write stored badRef's tuple: a checked read now fails on block 9, unchecked it reads.
    const checked = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 8n,
      blocks: 2,
      bytes: 1024,
      metadata: new Uint8Array(16),
      cdw12: CHECK_REF,
      cdw14: 8,
    });
    expect(code(checked.completion.status)).toBe(Status.EndToEndReferenceTagCheckError);
    const unchecked = await blockIo(r, { opcode: IoOpcode.Read, slba: 8n, blocks: 2, bytes: 1024, metadata: new Uint8Array(16) });
    expect(unchecked.completion.status).toBe(Status.Success);
    expect(unchecked.metadata).toEqual(badRef);
  });

  it('reports a guard error on read and Verify once the stored block no longer matches its PI', async () => {
    const r = await serve(type1);
    const data = pattern(512, 3);
    await blockIo(r, { opcode: IoOpcode.Write, slba: 3n, blocks: 1, bytes: 512, data, cdw12: PRACT, cdw14: 3 });
    // Overwrite the data with its old PI (unchecked write): the guard no longer matches.
    const old = (await blockIo(r, { opcode: IoOpcode.Read, slba: 3n, blocks: 1, bytes: 512, metadata: new Uint8Array(8) })).metadata;
    await blockIo(r, { opcode: IoOpcode.Write, slba: 3n, blocks: 1, bytes: 512, data: pattern(512, 4), metadata: old });
    const read = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 3n,
      blocks: 1,
      bytes: 512,
      cdw12: PRACT | CHECK_GUARD | CHECK_REF,
      cdw14: 3,
    });
    expect(code(read.completion.status)).toBe(Status.EndToEndGuardCheckError);
    const verify = await r.driver.submit(1, { opcode: IoOpcode.Verify, nsid: 1, cdw10: 2, cdw12: 2 | CHECK_GUARD, cdw14: 2 });
    expect(code(verify.status)).toBe(Status.EndToEndGuardCheckError);
    expect((await r.driver.submit(1, { opcode: IoOpcode.Verify, nsid: 1, cdw10: 2, cdw12: 2 })).status).toBe(Status.Success);
    // Compare checks the PI of the media first.
    const compare = await blockIo(r, {
      opcode: IoOpcode.Compare,
      slba: 3n,
      blocks: 1,
      bytes: 512,
      data: pattern(512, 4),
      cdw12: PRACT | CHECK_GUARD,
    });
    expect(code(compare.completion.status)).toBe(Status.EndToEndGuardCheckError);
  });

  it('never-written and deallocated blocks read PI all FFh, which disables checking; Write Zeroes with PRACT writes real PI', async () => {
    const r = await serve(type1);
    const fresh = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 50n,
      blocks: 2,
      bytes: 1024,
      metadata: new Uint8Array(16),
      cdw12: CHECK_ALL,
      cdw14: 50,
    });
    expect(fresh.completion.status).toBe(Status.Success);
    expect(fresh.metadata.every((b) => b === 0xff)).toBe(true);
    expect(
      (await r.driver.submit(1, { opcode: IoOpcode.WriteZeroes, nsid: 1, cdw10: 60, cdw12: 1 | PRACT, cdw14: 60, cdw15: 7 })).status,
    ).toBe(0);
    const zeroed = await blockIo(r, {
      opcode: IoOpcode.Read,
      slba: 60n,
      blocks: 2,
      bytes: 1024,
      metadata: new Uint8Array(16),
      cdw12: CHECK_ALL,
      cdw14: 60,
      cdw15: (0xffff << 16) | 7,
    });
    expect(zeroed.completion.status).toBe(Status.Success);
    expect(zeroed.metadata).toEqual(tuples(new Uint8Array(1024), 512, 7, 60));
    expect((await r.driver.submit(1, { opcode: IoOpcode.WriteZeroes, nsid: 1, cdw10: 60, cdw12: 1 })).status).toBe(0);
    const dealloc = await blockIo(r, { opcode: IoOpcode.Read, slba: 60n, blocks: 2, bytes: 1024, metadata: new Uint8Array(16) });
    expect(dealloc.metadata.every((b) => b === 0xff)).toBe(true);
  });

  it('Copy with PRINFOW.PRACT regenerates the reference tags for the destination LBAs', async () => {
    const r = await serve(type1);
    const data = pattern(1024, 5);
    await blockIo(r, { opcode: IoOpcode.Write, slba: 10n, blocks: 2, bytes: 1024, data, cdw12: PRACT, cdw14: 10, cdw15: 9 });
    const ranges = r.driver.memory.alloc(32);
    const v = r.driver.memory.dataView(ranges, 32);
    v.setBigUint64(8, 10n, true);
    v.setUint16(16, 1, true);
    const copy = (dst: number, cdw12: number) =>
      r.driver.submit(1, { opcode: IoOpcode.Copy, nsid: 1, prp1: ranges, cdw10: dst, cdw12, cdw14: dst, cdw15: 9 });
    expect((await copy(200, PRACT)).status).toBe(0);
    expect((await copy(300, 0)).status).toBe(0);
    const read = (slba: number) =>
      blockIo(r, {
        opcode: IoOpcode.Read,
        slba: BigInt(slba),
        blocks: 2,
        bytes: 1024,
        metadata: new Uint8Array(16),
        cdw12: CHECK_ALL,
        cdw14: slba,
        cdw15: (0xffff << 16) | 9,
      });
    const regenerated = await read(200);
    expect(regenerated.completion.status).toBe(Status.Success);
    expect(regenerated.data).toEqual(data);
    expect(code((await read(300)).completion.status)).toBe(Status.EndToEndReferenceTagCheckError);
  });
});

describe('protection information types 2 and 3, PI location, extended LBAs', () => {
  it('type 2 takes reference tags from ILBRT, incrementing; a wrong EILBRT fails the read', async () => {
    const r = await serve({ metadataSize: 8, protection: { type: 2 } });
    const data = pattern(1024, 6);
    await blockIo(r, { opcode: IoOpcode.Write, slba: 7n, blocks: 2, bytes: 1024, data, cdw12: PRACT, cdw14: 0xabc0 });
    const read = (eilbrt: number) =>
      blockIo(r, {
        opcode: IoOpcode.Read,
        slba: 7n,
        blocks: 2,
        bytes: 1024,
        metadata: new Uint8Array(16),
        cdw12: CHECK_ALL,
        cdw14: eilbrt,
      });
    const ok = await read(0xabc0);
    expect(ok.completion.status).toBe(Status.Success);
    expect(ok.metadata).toEqual(tuples(data, 512, 0, 0xabc0));
    expect(code((await read(0xabc1)).completion.status)).toBe(Status.EndToEndReferenceTagCheckError);
  });

  it('type 3 does not check reference tags; FFFFh application tag disables checks only with an all-ones reference tag', async () => {
    const r = await serve({ metadataSize: 8, protection: { type: 3 } });
    const data = pattern(512, 7);
    const meta = tuple(crc16T10Dif(data), 5, 0x1111);
    const write = (metadata: Uint8Array) =>
      blockIo(r, {
        opcode: IoOpcode.Write,
        slba: 1n,
        blocks: 1,
        bytes: 512,
        data,
        metadata,
        cdw12: CHECK_ALL,
        cdw14: 0x2222,
        cdw15: (0xffff << 16) | 5,
      });
    expect((await write(meta)).completion.status).toBe(Status.Success);
    expect(code((await write(tuple(0xbad, 0xffff, 0x1111))).completion.status)).toBe(Status.EndToEndGuardCheckError);
    expect((await write(tuple(0xbad, 0xffff, 0xffffffff))).completion.status).toBe(Status.Success);
  });

  it('type 1 escape: application tag FFFFh skips every check of the block', async () => {
    const r = await serve(type1);
    const w = await blockIo(r, {
      opcode: IoOpcode.Write,
      slba: 4n,
      blocks: 1,
      bytes: 512,
      data: pattern(512, 8),
      metadata: tuple(0xbad, 0xffff, 77),
      cdw12: CHECK_ALL,
      cdw14: 4,
    });
    expect(w.completion.status).toBe(Status.Success);
  });

  it('4096+64 with PI last: the guard covers the 56 metadata bytes before it; PI first: data only', async () => {
    for (const location of ['last', 'first'] as const) {
      const r = await serve({ lbaSize: 4096, metadataSize: 64, protection: { type: 1, location } });
      const data = pattern(4096, 9);
      const host = pattern(64, 10);
      const written = await blockIo(r, {
        opcode: IoOpcode.Write,
        slba: 2n,
        blocks: 1,
        bytes: 4096,
        data,
        metadata: host,
        cdw12: PRACT,
        cdw14: 2,
      });
      expect(written.completion.status).toBe(Status.Success);
      const back = await blockIo(r, {
        opcode: IoOpcode.Read,
        slba: 2n,
        blocks: 1,
        bytes: 4096,
        metadata: new Uint8Array(64),
        cdw12: PRACT | CHECK_ALL,
        cdw14: 2,
      });
      expect(back.completion.status).toBe(Status.Success);
      const at = location === 'last' ? 56 : 0;
      const guard = location === 'last' ? crc16T10Dif(host.subarray(0, 56), crc16T10Dif(data)) : crc16T10Dif(data);
      // More metadata than PI: it moves even with PRACT; the controller filled in the tuple.
      expect(back.metadata.subarray(at, at + 8)).toEqual(tuple(guard, 0, 2));
      const rest =
        location === 'last' ? [back.metadata.subarray(0, 56), host.subarray(0, 56)] : [back.metadata.subarray(8), host.subarray(8)];
      expect(rest[0]).toEqual(rest[1]);
      await r.close();
      rig = undefined;
    }
  });

  it('extended 512+8 with PI: PRACT write takes data only, a plain read returns data and tuple interleaved', async () => {
    const r = await serve({ metadataSize: 8, extendedLba: true, protection: { type: 1 } });
    const data = pattern(1024, 11);
    expect(
      (await blockIo(r, { opcode: IoOpcode.Write, slba: 20n, blocks: 2, bytes: 1024, data, cdw12: PRACT, cdw14: 20 })).completion.status,
    ).toBe(0);
    const read = await blockIo(r, { opcode: IoOpcode.Read, slba: 20n, blocks: 2, bytes: 2 * 520, cdw12: CHECK_ALL, cdw14: 20 });
    expect(read.completion.status).toBe(Status.Success);
    const t = tuples(data, 512, 0, 20);
    expect(read.data.subarray(0, 512)).toEqual(data.subarray(0, 512));
    expect(read.data.subarray(512, 520)).toEqual(t.subarray(0, 8));
    expect(read.data.subarray(520, 1032)).toEqual(data.subarray(512));
    expect(read.data.subarray(1032)).toEqual(t.subarray(8));
    // An interleaved write with a corrupted second guard is refused.
    const bad = read.data.slice();
    bad[1032] = (bad[1032] as number) ^ 0x80;
    const w = await blockIo(r, { opcode: IoOpcode.Write, slba: 20n, blocks: 2, bytes: 1040, data: bad, cdw12: CHECK_GUARD });
    expect(code(w.completion.status)).toBe(Status.EndToEndGuardCheckError);
    // Compare of the interleaved buffer against the media (data and metadata).
    expect((await blockIo(r, { opcode: IoOpcode.Compare, slba: 20n, blocks: 2, bytes: 1040, data: read.data })).completion.status).toBe(0);
    expect(code((await blockIo(r, { opcode: IoOpcode.Compare, slba: 20n, blocks: 2, bytes: 1040, data: bad })).completion.status)).toBe(
      Status.CompareFailure,
    );
  });
});

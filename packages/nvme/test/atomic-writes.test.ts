/**
 * Atomic write limits: what Identify reports (AWUN/AWUPF, NSFEAT bit 1, NAWUN/NAWUPF/NACWU,
 * NABSN/NABO/NABSPF), how bad limits are refused, the journal's replay of writes a server death cut
 * short, and the serialisation of overlapping writes.
 */
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NvmeHarness, prpsFor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { AtomicJournal } from '../src/atomic/journal.ts';
import { resolveAtomicLimits, resolveControllerAtomicity } from '../src/atomic/limits.ts';
import { RangeLock } from '../src/atomic/range-lock.ts';
import { journalPath } from '../src/atomic/write-atomicity.ts';
import { createNvme, IoOpcode, Status } from '../src/index.ts';

let rig: NvmeHarness | undefined;
let scratch: string | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

const ATOMIC_NS = { powerFailBlocks: 32, normalBlocks: 64, powerFailBoundaryBlocks: 64, normalBoundaryBlocks: 128 };

async function write(r: NvmeHarness, slba: bigint, blocks: number, byte: number, fua = false): Promise<number> {
  // Start 512 bytes into a page so the transfer is several pieces (PRP entries), as from a guest.
  const buf = r.driver.memory.alloc(blocks * 512 + 4096) + 512n;
  r.driver.memory.view(buf, blocks * 512).fill(byte);
  const command = { cdw12: (blocks - 1) | (fua ? 1 << 30 : 0) };
  return (await r.driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba, blocks, buffer: buf, bytes: blocks * 512, command })).status;
}

async function read(r: NvmeHarness, slba: bigint, blocks: number): Promise<Uint8Array> {
  const buf = r.driver.memory.alloc(blocks * 512);
  const done = await r.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba, blocks, buffer: buf, bytes: blocks * 512 });
  expect(done.status).toBe(Status.Success);
  return r.driver.memory.view(buf, blocks * 512).slice();
}

describe('atomic write limits', () => {
  it("Identify reports AWUN/AWUPF and, with NSFEAT bit 1, the namespace's NAWUN/NAWUPF/NACWU/NABSN/NABO/NABSPF, 0's based", async () => {
    rig = await startNvmeHarness({
      atomicWrite: { normalBlocks: 16, powerFailBlocks: 8 },
      namespaces: [{ sizeBytes: 8 << 20, atomicWrite: { ...ATOMIC_NS, boundaryOffsetBlocks: 5 } }, { sizeBytes: 8 << 20 }],
    });
    await rig.driver.bringUp();
    const ctrl = new DataView((await rig.driver.identify(1)).data.buffer);
    expect([ctrl.getUint16(526, true), ctrl.getUint16(528, true), ctrl.getUint16(532, true)]).toEqual([15, 7, 0]);
    const ns1 = new DataView((await rig.driver.identify(0, 1)).data.buffer);
    expect(ns1.getUint8(24) & 0x2).toBe(0x2);
    // NAWUN, NAWUPF, NACWU, NABSN, NABO, NABSPF
    expect([34, 36, 38, 40, 42, 44].map((o) => ns1.getUint16(o, true))).toEqual([63, 31, 0, 127, 5, 63]);
    const ns2 = new DataView((await rig.driver.identify(0, 2)).data.buffer);
    expect(ns2.getUint8(24) & 0x2).toBe(0);
    expect([34, 36, 38, 40, 42, 44].map((o) => ns2.getUint16(o, true))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('defaults to one block everywhere and refuses inconsistent limits with a RangeError', async () => {
    expect(resolveControllerAtomicity(undefined)).toEqual({ normalBlocks: 1, powerFailBlocks: 1 });
    expect(resolveAtomicLimits({ powerFailBlocks: 8 }, { normalBlocks: 1, powerFailBlocks: 1 })).toMatchObject({
      namespaceLimits: true,
      normalBlocks: 8,
      powerFailBoundaryBlocks: 0,
    });
    const ctrl = { normalBlocks: 1, powerFailBlocks: 1 };
    for (const bad of [
      { powerFailBlocks: 0 },
      { powerFailBlocks: 65537 },
      { powerFailBlocks: 1.5 },
      { powerFailBlocks: 16, normalBlocks: 8 },
      { powerFailBlocks: 16, powerFailBoundaryBlocks: 8 },
      { powerFailBlocks: 1, powerFailBoundaryBlocks: 1 },
      { powerFailBlocks: 8, powerFailBoundaryBlocks: 16, boundaryOffsetBlocks: 16 },
      { powerFailBlocks: 8, boundaryOffsetBlocks: 4 },
    ]) {
      expect(() => resolveAtomicLimits(bad, ctrl), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => resolveControllerAtomicity({ normalBlocks: 2, powerFailBlocks: 4 })).toThrow(/must not exceed/);
    await expect(createNvme({ serial: 'X', atomicWrite: { powerFailBlocks: 0 } })).rejects.toThrow(RangeError);
  });

  it('writes within NAWUPF go through the journal, larger or boundary-crossing ones straight to the image', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20, atomicWrite: ATOMIC_NS }] });
    await rig.driver.bringUp();
    const ns = rig.controller.namespaces.get(1);
    const journal = journalPath(ns?.path ?? '');
    expect(await write(rig, 64n, 33, 0x11)).toBe(Status.Success); // > NAWUPF
    expect(await write(rig, 48n, 32, 0x22)).toBe(Status.Success); // crosses the NABSPF boundary at LBA 64
    expect((await stat(journal)).size).toBe(4096); // header only: nothing journaled
    expect(await write(rig, 128n, 32, 0x33, true)).toBe(Status.Success); // FUA, within the unit
    expect((await stat(journal)).size).toBeGreaterThan(4096);
    const data = await read(rig, 48n, 112);
    expect(data.subarray(0, 32 * 512).every((b) => b === 0x22)).toBe(true);
    expect(data.subarray(32 * 512, 49 * 512).every((b) => b === 0x11)).toBe(true);
    expect(data.subarray(80 * 512).every((b) => b === 0x33)).toBe(true);
  });

  it('on open, complete journal records are applied and a torn one is discarded', async () => {
    scratch = await mkdtemp(join(tmpdir(), 'p2pkit-atomic-'));
    const image = join(scratch, 'ns1.raw');
    const file = await open(image, 'w+');
    await file.truncate(8 << 20);
    // A server that died after journaling two writes: the first record whole, the second torn.
    const { journal } = AtomicJournal.open(journalPath(image), file.fd, 32 * 4096);
    const whole = journal.prepare(1 << 20, [new Uint8Array(16384).fill(0x5a)]);
    const torn = journal.prepare(2 << 20, [new Uint8Array(16384).fill(0xa5)]);
    torn.bytes.fill(0, torn.bytes.byteLength - 100); // the pwrite stopped short
    journal.write((await journal.acquire()) as number, whole);
    journal.write((await journal.acquire()) as number, torn);
    journal.close(); // slots still held: the file stays for the next open
    await file.close();

    rig = await startNvmeHarness({ directory: scratch, namespaces: [{ path: image, atomicWrite: ATOMIC_NS }] });
    expect(rig.controller.namespaces.get(1)?.recoveredAtomicWrites).toBe(1);
    await rig.driver.bringUp();
    expect((await read(rig, 2048n, 32)).every((b) => b === 0x5a)).toBe(true);
    expect((await read(rig, 4096n, 32)).every((b) => b === 0)).toBe(true);
    await rig.close();
    rig = undefined;
    // A clean close leaves no journal behind.
    await expect(readFile(journalPath(image))).rejects.toThrow(/ENOENT/);
  });

  it('overlapping writes wait for each other; disjoint ones do not', async () => {
    const lock = new RangeLock();
    const order: string[] = [];
    const releaseA = await lock.acquire(0n, 8);
    const b = lock.acquire(4n, 8).then((release) => {
      order.push('b');
      release();
    });
    const releaseC = await lock.acquire(8n, 8); // disjoint from A: at once
    order.push('c');
    releaseC();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['c']);
    releaseA();
    await b;
    expect(order).toEqual(['c', 'b']);
    expect(lock.size).toBe(0);
  });

  it('concurrent FUA writes of distinct patterns to one atomic unit leave exactly one of them', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 8 << 20, atomicWrite: ATOMIC_NS }] });
    const { driver } = rig;
    await driver.bringUp();
    const cids: number[] = [];
    for (let i = 1; i <= 12; i++) {
      const buf = driver.memory.alloc(32 * 512 + 4096) + 512n;
      driver.memory.view(buf, 32 * 512).fill(i);
      const { prp1, prp2 } = prpsFor(driver.memory, buf, 32 * 512);
      cids.push(driver.enqueue(1, { opcode: IoOpcode.Write, nsid: 1, prp1, prp2, cdw10: 256, cdw12: 31 | (i % 2 ? 1 << 30 : 0) }));
    }
    await driver.ringSqTail(1);
    for (const cid of cids) expect((await driver.waitForCompletion(1, cid)).status).toBe(Status.Success);
    const data = await read(rig, 256n, 32);
    expect(data[0]).toBeGreaterThan(0);
    expect(data.every((b) => b === data[0])).toBe(true);
  });
});

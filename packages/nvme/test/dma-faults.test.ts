/**
 * A refused DMA is the guest's business, never a reason for the server to die: unmapped addresses,
 * Bus Master Enable cleared and function resets during I/O end commands with Data Transfer Error
 * (NVMe 2.0 base §4.2.3.1, SC 04h) or — where no completion can be posted — with CSTS.CFS.
 */

import { type NvmeHarness, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoOpcode, Reg, Status } from '../src/index.ts';

const CSTS_CFS = 1 << 1;
const PCI_COMMAND = 0x04;
const MSE = 0x2;
/** PCIe capability: Device Control (cap + 8), Initiate Function Level Reset (bit 15). */
const INITIATE_FLR = 1 << 15;

let h: NvmeHarness;
const rejections: unknown[] = [];
const trap = (reason: unknown) => rejections.push(reason);
beforeEach(() => {
  rejections.length = 0;
  process.on('unhandledRejection', trap);
});
afterEach(async () => {
  await h?.close();
  process.off('unhandledRejection', trap);
});

const settle = () => new Promise((r) => setTimeout(r, 50));

/**
 * Submits `n` 4 KiB reads on queue 1 and rings the doorbell once. They are held (slow media, via a
 * command hook) until every one is in flight and `release()` is called; returns their CIDs.
 */
async function submitHeldReads(n: number): Promise<{ cids: number[]; release(): void }> {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let entered = 0;
  const remove = h.controller.intercept(async (ctx, next) => {
    if (ctx.queue !== 'io') return next();
    entered++;
    await gate;
    return next();
  });
  const cids: number[] = [];
  for (let i = 0; i < n; i++) {
    const buffer = h.memory.alloc(4096);
    cids.push(h.driver.enqueue(1, { opcode: IoOpcode.Read, nsid: 1, prp1: buffer, cdw10: i * 8, cdw12: 7 }));
  }
  await h.driver.ringSqTail(1);
  const end = Date.now() + 3000;
  while (entered < n) {
    if (Date.now() > end) throw new Error(`only ${entered}/${n} commands in flight`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return {
    cids,
    release() {
      remove();
      open();
    },
  };
}

/** Reaps whatever completes until every CID is in, or CSTS.CFS is set. */
async function completionsOrFatal(cids: number[]): Promise<{ statuses: Map<number, number>; cfs: boolean }> {
  const statuses = new Map<number, number>();
  const end = Date.now() + 5000;
  for (;;) {
    while (h.driver.hasCompletion(1)) {
      const c = await h.driver.reap(1);
      statuses.set(c.cid, c.status);
    }
    const cfs = ((await h.driver.read32(Reg.CSTS)) & CSTS_CFS) !== 0;
    if (cfs || cids.every((c) => statuses.has(c))) return { statuses, cfs };
    if (Date.now() > end) throw new Error(`neither all completions nor CFS: ${statuses.size}/${cids.length}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** After a fault: a controller reset and a fresh bring-up serve I/O again. */
async function servesAgain(): Promise<void> {
  await h.enableBusMaster();
  await h.driver.bringUp();
  const buffer = h.memory.alloc(4096);
  const done = await h.driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 8, buffer, bytes: 4096 });
  expect(done.status).toBe(Status.Success);
}

function pcieCapability(config: Buffer): number {
  for (let at = config[0x34] as number; at; at = config[at + 1] as number) if (config[at] === 0x10) return at;
  throw new Error('no PCIe capability');
}

describe('DMA faults during I/O', () => {
  it('a read whose PRP points outside guest RAM ends with Data Transfer Error, logged on the guest channel only', async () => {
    h = await startNvmeHarness();
    await h.driver.bringUp();
    const done = await h.driver.submit(1, { opcode: IoOpcode.Read, nsid: 1, prp1: 0x7f00_0000_0000n, cdw12: 7 });
    expect(done.status).toBe(Status.DataTransferError); // SCT 0, SC 04h
    expect(done.dnr).toBe(false);
    expect(h.guestErrors.some((e) => /data transfer failed/.test(e.message) && e.detail?.address === 0x7f00_0000_0000n)).toBe(true);
    expect(h.deviceErrors).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('clearing Bus Master Enable under 64 in-flight reads: each completes or CSTS.CFS is set; no process death', async () => {
    h = await startNvmeHarness();
    await h.driver.bringUp(128);
    const held = await submitHeldReads(64);
    await h.configWrite32(PCI_COMMAND, MSE); // BME off while the reads are in flight
    held.release();
    const { statuses, cfs } = await completionsOrFatal(held.cids);
    expect(cfs || held.cids.every((c) => statuses.has(c))).toBe(true);
    for (const s of statuses.values()) expect([Status.Success, Status.DataTransferError]).toContain(s);
    expect(h.deviceErrors).toEqual([]);
    await settle();
    expect(rejections).toEqual([]);
    await servesAgain();
  });

  it('a Function Level Reset during in-flight I/O leaves no unhandled rejection, and the function serves again', async () => {
    h = await startNvmeHarness();
    await h.driver.bringUp(128);
    const config = Buffer.alloc(256);
    for (let off = 0; off < 256; off += 4) config.writeUInt32LE(await h.configRead32(off), off);
    const devctl = pcieCapability(config) + 8;
    const held = await submitHeldReads(64);
    await h.configWrite32(devctl, (await h.configRead32(devctl)) | INITIATE_FLR);
    held.release();
    await settle();
    expect(h.nvme.functionResets).toBe(1);
    expect(h.deviceErrors).toEqual([]);
    expect(rejections).toEqual([]);
    await servesAgain();
  });

  it('CC.EN = 0 during in-flight I/O leaves no unhandled rejection', async () => {
    h = await startNvmeHarness();
    await h.driver.bringUp(128);
    const held = await submitHeldReads(64);
    await h.driver.write32(Reg.CC, 0);
    held.release();
    await settle();
    expect(h.deviceErrors).toEqual([]);
    expect(rejections).toEqual([]);
    await servesAgain();
  });

  it('an I/O SQ based outside guest RAM: the fetch fails, CSTS.CFS is set, the server keeps serving', async () => {
    h = await startNvmeHarness();
    await h.driver.enable();
    await h.driver.setFeatures(0x07, (3 << 16) | 3);
    const cq = h.memory.alloc(64 * 16);
    expect((await h.driver.admin({ opcode: 0x05, prp1: cq, cdw10: (63 << 16) | 1, cdw11: (1 << 16) | 3 })).status).toBe(Status.Success);
    expect((await h.driver.admin({ opcode: 0x01, prp1: 0x7f00_0000_0000n, cdw10: (63 << 16) | 1, cdw11: (1 << 16) | 1 })).status).toBe(
      Status.Success,
    );
    await h.driver.write32(Reg.DOORBELLS + 8, 1); // SQ 1 tail = 1: the controller fetches from outside RAM
    const end = Date.now() + 3000;
    while (((await h.driver.read32(Reg.CSTS)) & CSTS_CFS) === 0) {
      if (Date.now() > end) throw new Error('CSTS.CFS not set');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(h.guestErrors.some((e) => /fetch failed/.test(e.message))).toBe(true);
    expect(h.deviceErrors).toEqual([]);
    await settle();
    expect(rejections).toEqual([]);
    await servesAgain();
  });

  it('an I/O CQ based outside guest RAM: posting fails, CSTS.CFS is set, no unhandled rejection', async () => {
    h = await startNvmeHarness();
    await h.driver.enable();
    await h.driver.setFeatures(0x07, (3 << 16) | 3);
    expect((await h.driver.admin({ opcode: 0x05, prp1: 0x7f00_0000_0000n, cdw10: (63 << 16) | 1, cdw11: (1 << 16) | 3 })).status).toBe(
      Status.Success,
    );
    const sq = h.memory.alloc(64 * 64);
    expect((await h.driver.admin({ opcode: 0x01, prp1: sq, cdw10: (63 << 16) | 1, cdw11: (1 << 16) | 1 })).status).toBe(Status.Success);
    h.memory.view(sq, 64).set([0x00, 0, 1, 0]); // Flush, CID 1
    h.memory.view(sq + 4n, 4).set([1, 0, 0, 0]); // NSID 1
    await h.driver.write32(Reg.DOORBELLS + 8, 1);
    const end = Date.now() + 3000;
    while (((await h.driver.read32(Reg.CSTS)) & CSTS_CFS) === 0) {
      if (Date.now() > end) throw new Error('CSTS.CFS not set');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(h.deviceErrors).toEqual([]);
    await settle();
    expect(rejections).toEqual([]);
    await servesAgain();
  });
});

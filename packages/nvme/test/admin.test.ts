import { type NvmeHarness, sglDescriptor, startNvmeHarness } from '@p2pkit/nvme/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { IoOpcode, Status } from '../src/index.ts';

let rig: NvmeHarness;
afterEach(async () => rig?.close());

describe('queue management', () => {
  it('reports every create/delete error', async () => {
    rig = await startNvmeHarness({ maxQueueEntries: 256 });
    const { driver } = rig;
    await driver.enable();
    expect((await driver.setFeatures(7, 0x00010001)).dw0).toBe(0x00010001); // 2 SQs + 2 CQs
    const base = driver.memory.alloc(256 * 64);
    const cq = (qid: number, size: number, cdw11: number, prp1 = base) =>
      driver.admin({ opcode: 5, prp1, cdw10: ((size - 1) << 16) | qid, cdw11 });
    const sq = (qid: number, size: number, cqid: number, cdw11 = 1) =>
      driver.admin({ opcode: 1, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (cqid << 16) | cdw11 });
    expect((await cq(0, 16, 3)).status).toBe(Status.InvalidQueueIdentifier);
    expect((await cq(3, 16, 3)).status).toBe(Status.InvalidQueueIdentifier); // > NCQA + 1
    expect((await cq(1, 257, 3)).status).toBe(Status.InvalidQueueSize);
    expect((await cq(1, 1, 3)).status).toBe(Status.InvalidQueueSize);
    expect((await cq(1, 16, 2)).status).toBe(Status.InvalidField); // PC = 0
    expect((await cq(1, 16, 3 | (500 << 16))).status).toBe(Status.InvalidInterruptVector);
    expect((await cq(1, 16, 3, base + 64n)).status).toBe(Status.PrpOffsetInvalid);
    expect((await cq(1, 16, 3)).status).toBe(0);
    expect((await cq(1, 16, 3)).status).toBe(Status.InvalidQueueIdentifier); // exists
    expect((await sq(1, 16, 2)).status).toBe(Status.CompletionQueueInvalid);
    expect((await sq(1, 16, 0)).status).toBe(Status.CompletionQueueInvalid);
    expect((await sq(1, 300, 1)).status).toBe(Status.InvalidQueueSize);
    expect((await sq(1, 16, 1)).status).toBe(0);
    expect((await driver.admin({ opcode: 4, cdw10: 1 })).status).toBe(Status.InvalidQueueDeletion);
    expect((await driver.admin({ opcode: 0, cdw10: 2 })).status).toBe(Status.InvalidQueueIdentifier);
    expect((await driver.admin({ opcode: 0, cdw10: 0 })).status).toBe(Status.InvalidQueueIdentifier);
    expect((await driver.admin({ opcode: 0, cdw10: 1 })).status).toBe(0);
    expect((await driver.admin({ opcode: 4, cdw10: 1 })).status).toBe(0);
    expect((await driver.admin({ opcode: 4, cdw10: 1 })).status).toBe(Status.InvalidQueueIdentifier);
  });

  it('posts SQ head, wraps the phase tag and survives a full CQ', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await driver.enable();
    await driver.setFeatures(7, 0);
    // CQ of 4 entries (3 usable), SQ of 16: 8 commands in flight must wait for CQ space.
    const p = await driver.createQueuePair(1, 16, { completionEntries: 4 });
    const buf = driver.memory.alloc(4096);
    const cids: number[] = [];
    for (let i = 0; i < 8; i++) cids.push(driver.enqueue(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 }));
    await driver.ringSqTail(p.qid);
    await new Promise((r) => setTimeout(r, 20));
    expect(controller.stats.completionQueueFullStalls).toBeGreaterThan(0);
    const got: number[] = [];
    let lastHead = 0;
    for (let i = 0; i < 8; i++) {
      const c = await driver.reap(1);
      got.push(c.cid);
      lastHead = c.sqHead;
      expect(c.status).toBe(0);
    }
    expect(got.sort((a, b) => a - b)).toEqual(cids);
    expect(lastHead).toBe(8);
  });
});

describe('features', () => {
  it('gets and sets the supported features, rejects the rest', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    expect((await driver.getFeatures(6)).dw0).toBe(1);
    expect((await driver.setFeatures(6, 0)).status).toBe(0);
    expect((await driver.getFeatures(6)).dw0).toBe(0);
    expect((await driver.getFeatures(6, 1)).dw0).toBe(1); // default
    expect((await driver.getFeatures(6, 3)).dw0).toBe(4); // changeable
    expect((await driver.setFeatures(8, 0x0a05)).status).toBe(0);
    expect((await driver.getFeatures(8)).dw0).toBe(0x0a05);
    expect((await driver.setFeatures(9, 1 | (1 << 16))).status).toBe(0);
    expect((await driver.getFeatures(9, 0, 1)).dw0).toBe(1 | (1 << 16));
    expect((await driver.setFeatures(9, 999)).status).toBe(Status.InvalidField);
    expect((await driver.setFeatures(2, 1)).status).toBe(Status.InvalidField); // PS 1 > NPSS
    expect((await driver.setFeatures(1, 3)).status).toBe(0);
    expect((await driver.getFeatures(1)).dw0).toBe(3);
    expect((await driver.setFeatures(0x0b, 0x102)).status).toBe(0);
    expect((await driver.getFeatures(0x0b)).dw0).toBe(0x102);
    expect((await driver.setFeatures(0x0c, 1)).status).toBe(Status.InvalidField);
    expect((await driver.setFeatures(0x7f, 1)).status).toBe(Status.InvalidField);
    expect((await driver.admin({ opcode: 9, cdw10: 6 | (1 << 31), cdw11: 1 })).status).toBe(Status.FeatureNotSaveable);
    expect((await driver.setFeatures(4, 350 | (3 << 16))).status).toBe(Status.InvalidField); // sensor 3
    expect((await driver.setFeatures(7, 0xffff)).status).toBe(Status.InvalidField);
    expect((await driver.setFeatures(7, 0x10001)).status).toBe(Status.CommandSequenceError); // after queues exist
  });
});

describe('log pages and asynchronous events', () => {
  it('returns SMART, error, firmware and effects logs', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 4, buffer: buf, bytes: 2048 });
    await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 99999n, blocks: 1, buffer: buf, bytes: 512 }); // error
    const smart = await driver.getLogPage(2, 512);
    expect(smart.completion.status).toBe(0);
    const sv = new DataView(smart.data.buffer);
    expect(sv.getUint16(1, true)).toBe(313);
    expect(sv.getBigUint64(48, true)).toBe(1n); // data units written (1000 × 512 B, rounded up)
    expect(sv.getBigUint64(80, true)).toBe(1n); // host write commands
    expect(sv.getBigUint64(176, true)).toBe(1n);
    const err = await driver.getLogPage(1, 128);
    const ev = new DataView(err.data.buffer);
    expect(ev.getBigUint64(0, true)).toBe(1n);
    expect(ev.getUint16(8, true)).toBe(1); // SQID
    expect((ev.getUint16(12, true) >>> 1) & 0x7ff).toBe(Status.LbaOutOfRange);
    const fw = await driver.getLogPage(3, 512);
    expect(fw.data[0]).toBe(1);
    const fx = await driver.getLogPage(5, 4096);
    const fv = new DataView(fx.data.buffer);
    expect(fv.getUint32(6 * 4, true) & 1).toBe(1); // Identify supported
    expect(fv.getUint32(1024 + 1 * 4, true)).toBe(3); // Write: CSUPP + LBCC
    expect(fv.getUint32(0x80 * 4, true) & 0x20000).toBe(0x20000); // Format: exclusive controller
    expect((await driver.getLogPage(0x42, 512)).completion.status).toBe(Status.InvalidLogPage);
    expect((await driver.getLogPage(2, 512, { offset: 2 })).completion.status).toBe(Status.InvalidField);
    expect((await driver.getLogPage(2, 512, { offset: 4096 })).completion.status).toBe(Status.InvalidField);
    const part = await driver.getLogPage(2, 8, { offset: 200 });
    expect(new DataView(part.data.buffer).getUint16(0, true)).toBe(313);
  });

  it('completes an AER on a temperature threshold crossing, masked until the log is read', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await rig.driver.bringUp();
    expect((await driver.setFeatures(0x0b, 0x2)).status).toBe(0); // temperature warning AEN
    const aer1 = driver.enqueue(0, { opcode: 0x0c });
    const aer2 = driver.enqueue(0, { opcode: 0x0c });
    await driver.ringSqTail(0);
    await new Promise((r) => setTimeout(r, 5));
    expect((await driver.setFeatures(4, 300)).status).toBe(0); // over-threshold below current 313 K
    expect(driver.unclaimedCompletions).toHaveLength(1);
    const ev = driver.unclaimedCompletions.pop()!;
    expect([aer1, aer2]).toContain(ev.cid);
    expect(ev.dw0).toBe(1 | (1 << 8) | (2 << 16));
    // A second crossing stays masked until the host reads the SMART log without RAE.
    controller.setTemperature(290);
    controller.setTemperature(320);
    await new Promise((r) => setTimeout(r, 5));
    expect(controller.stats.asyncEventsCompleted).toBe(1);
    const smart = await driver.getLogPage(2, 512);
    expect(smart.data[0]! & 2).toBe(2);
    expect(new DataView(smart.data.buffer).getUint16(1, true)).toBe(320);
    expect(driver.unclaimedCompletions.map((c) => c.cid)).toEqual([aer1, aer2].filter((c) => c !== ev.cid));
    expect(controller.stats.asyncEventsCompleted).toBe(2);
    driver.unclaimedCompletions.length = 0;
    // Fifth AER exceeds the limit (4 outstanding).
    for (let i = 0; i < 4; i++) driver.enqueue(0, { opcode: 0x0c });
    await driver.ringSqTail(0);
    await new Promise((r) => setTimeout(r, 5));
    expect((await driver.admin({ opcode: 0x0c })).status).toBe(Status.AerLimitExceeded);
  });

  it('abort reports "not aborted"; keep alive succeeds', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const r = await driver.admin({ opcode: 8, cdw10: 1 | (5 << 16) });
    expect(r.status).toBe(0);
    expect(r.dw0 & 1).toBe(1);
    expect((await driver.admin({ opcode: 0x18 })).status).toBe(0);
  });
});

describe('format and namespace management', () => {
  it('formats to 4 KiB blocks, erasing data', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    const buf = driver.memory.alloc(4096);
    driver.memory.view(buf, 512).fill(0x5a);
    await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 512 });
    expect((await driver.admin({ opcode: 0x80, nsid: 1, cdw10: 5 })).status).toBe(Status.InvalidFormat);
    expect((await driver.admin({ opcode: 0x80, nsid: 1, cdw10: 1 | (1 << 5) })).status).toBe(Status.InvalidFormat);
    expect((await driver.admin({ opcode: 0x80, nsid: 1, cdw10: 1 | (2 << 9) })).status).toBe(Status.InvalidField);
    expect((await driver.admin({ opcode: 0x80, nsid: 7, cdw10: 1 })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await driver.admin({ opcode: 0x80, nsid: 1, cdw10: 1 })).status).toBe(0);
    const id = await driver.identify(0, 1);
    expect(id.data[26]).toBe(1);
    expect(new DataView(id.data.buffer).getBigUint64(0, true)).toBe(2048n);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 1, slba: 0n, blocks: 1, buffer: buf, bytes: 4096 })).status).toBe(0);
    expect([...driver.memory.view(buf, 4096)].every((b) => b === 0)).toBe(true);
  });

  it('creates, attaches, detaches and deletes namespaces with AENs and the changed list', async () => {
    rig = await startNvmeHarness({ maxNamespaces: 3, totalCapacityBytes: 32 << 20, namespaceManagement: true });
    const { driver, directory } = rig;
    const { join } = await import('node:path');
    await rig.driver.bringUp();
    await driver.setFeatures(0x0b, 1 << 8);
    const aer = driver.enqueue(0, { opcode: 0x0c });
    await driver.ringSqTail(0);

    const nsData = (nsze: bigint, flbas: number, ncap = nsze) => {
      const b = driver.memory.alloc(4096);
      const v = driver.memory.dataView(b, 4096);
      v.setBigUint64(0, nsze, true);
      v.setBigUint64(8, ncap, true);
      v.setUint8(26, flbas);
      return b;
    };
    const create = (b: bigint) => driver.admin({ opcode: 0x0d, prp1: b, cdw10: 0 });
    expect((await create(nsData(100n, 0, 50n))).status).toBe(Status.ThinProvisioningNotSupported);
    expect((await create(nsData(100n, 5))).status).toBe(Status.InvalidFormat);
    expect((await create(nsData(1n << 20n, 1))).status).toBe(Status.NamespaceInsufficientCapacity); // 4 GiB
    const made = await create(nsData(1024n, 1));
    expect(made.status).toBe(0);
    expect(made.dw0).toBe(2);
    expect((await driver.identify(0x10)).data.subarray(0, 8)).toEqual(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]));
    expect((await driver.identify(2)).data.subarray(4, 8)).toEqual(new Uint8Array(4)); // not active yet

    const ctrlList = (ids: number[]) => {
      const b = driver.memory.alloc(4096);
      const v = driver.memory.dataView(b, 4096);
      v.setUint16(0, ids.length, true);
      ids.forEach((id, i) => {
        v.setUint16(2 + 2 * i, id, true);
      });
      return b;
    };
    const attach = (nsid: number, sel: number, ids = [1]) => driver.admin({ opcode: 0x15, nsid, prp1: ctrlList(ids), cdw10: sel });
    expect((await attach(2, 0, [7])).status).toBe(Status.ControllerListInvalid);
    expect((await attach(2, 1)).status).toBe(Status.NamespaceNotAttached);
    expect((await attach(2, 0)).status).toBe(0);
    expect((await attach(2, 0)).status).toBe(Status.NamespaceAlreadyAttached);
    const ev = await driver.waitForCompletion(0, aer);
    expect(ev.cid).toBe(aer);
    expect(ev.dw0).toBe(2 | (0 << 8) | (4 << 16));
    const changed = await driver.getLogPage(4, 4096);
    expect(new DataView(changed.data.buffer).getUint32(0, true)).toBe(2);
    const id2 = await driver.identify(0, 2);
    expect(new DataView(id2.data.buffer).getBigUint64(0, true)).toBe(1024n);
    const buf = driver.memory.alloc(4096);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Write, nsid: 2, slba: 1023n, blocks: 1, buffer: buf, bytes: 4096 })).status).toBe(
      0,
    );

    expect((await driver.admin({ opcode: 0x0d, nsid: 2, cdw10: 1 })).status).toBe(0);
    expect((await driver.readWrite(1, { opcode: IoOpcode.Read, nsid: 2, slba: 0n, blocks: 1, buffer: buf, bytes: 4096 })).status).toBe(
      Status.InvalidNamespaceOrFormat,
    );
    expect((await driver.admin({ opcode: 0x0d, nsid: 2, cdw10: 1 })).status).toBe(Status.InvalidField);
    const { access } = await import('node:fs/promises');
    await expect(access(join(directory, 'ns2.img'))).rejects.toThrow();
  });
});

describe('Get Log Page bounds', () => {
  it('rejects a transfer beyond MDTS before allocating it', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.enable();
    const buf = driver.memory.alloc(4096);
    const r = await driver.admin({ opcode: 2, nsid: 0xffffffff, prp1: buf, cdw10: 2 | (0xffff << 16), cdw11: 0xffff });
    expect(r.status).toBe(Status.InvalidField);
  });
});

describe('admin status coverage (every implemented command: success and error statuses)', () => {
  it('Create I/O SQ: invalid queue id, PC = 0, SGL, unaligned base; success', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.enable();
    expect((await driver.setFeatures(7, 0x00010001)).status).toBe(0); // 2 SQs + 2 CQs
    const base = driver.memory.alloc(16 * 64);
    expect((await driver.admin({ opcode: 5, prp1: driver.memory.alloc(4096), cdw10: (15 << 16) | 1, cdw11: 3 })).status).toBe(0);
    const sq = (qid: number, cdw11 = (1 << 16) | 1, prp1 = base, flags = 0) =>
      driver.admin({ opcode: 1, prp1, flags, cdw10: (15 << 16) | qid, cdw11 });
    expect((await sq(0)).status).toBe(Status.InvalidQueueIdentifier);
    expect((await sq(3)).status).toBe(Status.InvalidQueueIdentifier); // > NSQA + 1
    expect((await sq(1, 1 << 16)).status).toBe(Status.InvalidField); // PC = 0
    expect((await sq(1, (1 << 16) | 1, base, 0x40)).status).toBe(Status.InvalidField); // PSDT: SGL
    expect((await sq(1, (1 << 16) | 1, base + 512n)).status).toBe(Status.PrpOffsetInvalid);
    expect((await sq(1, (1 << 16) | 1, 0n)).status).toBe(Status.PrpOffsetInvalid);
    const ok = await sq(1);
    expect(ok.status).toBe(0);
    expect(ok.dnr).toBe(false);
    const again = await sq(1);
    expect(again.status).toBe(Status.InvalidQueueIdentifier); // exists
    expect(again.dnr).toBe(true);
  });

  it('Identify: invalid namespace, unsupported CNS / CSI, management CNS without management, data transfer error', async () => {
    rig = await startNvmeHarness();
    const { driver, controller } = rig;
    await driver.enable();
    expect((await driver.identify(0, 0)).completion.status).toBe(Status.InvalidNamespaceOrFormat); // NSID 0
    expect((await driver.identify(0, 33)).completion.status).toBe(Status.InvalidNamespaceOrFormat); // > NN
    expect((await driver.identify(0, 5)).completion.status).toBe(0); // valid but inactive: zeroes
    expect((await driver.identify(3, 5)).completion.status).toBe(Status.InvalidNamespaceOrFormat); // descriptors of inactive
    expect((await driver.identify(2, 0xfffffffe)).completion.status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await driver.identify(0x7f)).completion.status).toBe(Status.InvalidField);
    expect((await driver.identify(5, 1, 1 << 24)).completion.status).toBe(Status.InvalidField); // CSI 1
    expect((await driver.identify(6, 0, 2 << 24)).completion.status).toBe(Status.InvalidField);
    expect((await driver.identify(7, 0, 1 << 24)).completion.status).toBe(Status.InvalidField);
    expect((await driver.identify(5, 1)).completion.status).toBe(0);
    expect((await driver.identify(6)).completion.status).toBe(0);
    expect((await driver.identify(7)).completion.status).toBe(0);
    expect((await driver.identify(0x1c)).completion.status).toBe(0);
    for (const cns of [0x10, 0x11, 0x12, 0x13]) expect((await driver.identify(cns, 1)).completion.status).toBe(Status.InvalidField);
    // PRP1 outside every DMA window: the DMA_WRITE is refused by the client → Data Transfer Error (retryable).
    const r = await driver.admin({ opcode: 6, prp1: 0x7000_0000n, cdw10: 1 });
    expect(r.status).toBe(Status.DataTransferError);
    expect(r.dnr).toBe(false);
    expect(controller.stats.dataTransferErrors).toBe(1);
    expect(rig.client.dmaServed.refused).toBeGreaterThan(0);
  });

  it('Get/Set Features: SEL, unsupported FID, invalid vector, namespace-specific, saved values', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await rig.driver.bringUp();
    expect((await driver.getFeatures(6, 2)).dw0).toBe(1); // saved = default
    expect((await driver.getFeatures(6, 4)).status).toBe(Status.InvalidField); // SEL 4 reserved
    expect((await driver.getFeatures(0x7f)).status).toBe(Status.InvalidField); // not supported
    expect((await driver.getFeatures(9, 0, 500)).status).toBe(Status.InvalidField); // vector 500
    expect((await driver.getFeatures(4, 0, 3 << 16)).status).toBe(Status.InvalidField); // TMPSEL 3
    expect((await driver.getFeatures(4)).dw0 & 0xffff).toBe(343);
    expect((await driver.setFeatures(6, 1, 1)).status).toBe(Status.FeatureNotNamespaceSpecific);
    expect((await driver.setFeatures(6, 1, 0xffffffff)).status).toBe(0);
    expect((await driver.setFeatures(8, 0x0102)).status).toBe(0); // coalescing
    expect((await driver.getFeatures(8)).dw0).toBe(0x0102);
    expect((await driver.setFeatures(0x0a, 1)).status).toBe(0); // write atomicity
    expect((await driver.getFeatures(0x0a)).dw0).toBe(1);
    expect((await driver.setFeatures(3, 0)).status).toBe(Status.InvalidField); // LBA Range Type: not supported
  });

  it('Get Log Page: supported pages, controller-scoped SMART, CSI and index offset refused, data transfer error', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.enable();
    const sup = await driver.getLogPage(0, 1024);
    expect(sup.completion.status).toBe(0);
    const v = new DataView(sup.data.buffer);
    expect([0, 1, 2, 3, 4, 5].map((lid) => v.getUint32(lid * 4, true))).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await driver.getLogPage(2, 512, { nsid: 1 })).completion.status).toBe(Status.InvalidField);
    const buf = driver.memory.alloc(4096);
    const log = (cdw14: number, prp1 = buf) => driver.admin({ opcode: 2, nsid: 0xffffffff, prp1, cdw10: 2 | (127 << 16), cdw14 });
    expect((await log(1 << 24)).status).toBe(Status.InvalidField); // CSI 1
    expect((await log(1 << 23)).status).toBe(Status.InvalidField); // OT
    expect((await log(0)).status).toBe(0);
    expect((await log(0, 0x7000_0000n)).status).toBe(Status.DataTransferError);
  });

  it('Format NVM of every namespace (NSID FFFFFFFFh); SES 1 accepted', async () => {
    rig = await startNvmeHarness({ namespaces: [{ sizeBytes: 1 << 20 }, { sizeBytes: 1 << 20 }] });
    const { driver } = rig;
    await driver.enable();
    expect((await driver.admin({ opcode: 0x80, nsid: 0xffffffff, cdw10: 1 | (1 << 9) })).status).toBe(0);
    for (const nsid of [1, 2]) expect((await driver.identify(0, nsid)).data[26]).toBe(1);
  });

  it('Namespace Management / Attachment: every refusal, detach success, unsupported without a directory', async () => {
    rig = await startNvmeHarness({ maxNamespaces: 2, namespaceManagement: true });
    const { driver } = rig;
    await driver.enable();
    const nsData = (nsze: bigint, flbas = 0, dps = 0) => {
      const b = driver.memory.alloc(4096);
      const v = driver.memory.dataView(b, 4096);
      v.setBigUint64(0, nsze, true);
      v.setBigUint64(8, nsze, true);
      v.setUint8(26, flbas);
      v.setUint8(29, dps);
      return b;
    };
    const mgmt = (sel: number, nsid = 0, prp1 = 0n, cdw11 = 0) => driver.admin({ opcode: 0x0d, nsid, prp1, cdw10: sel, cdw11 });
    expect((await mgmt(0, 0, nsData(0n))).status).toBe(Status.InvalidField); // NSZE 0
    expect((await mgmt(0, 0, nsData(64n, 0, 1))).status).toBe(Status.InvalidFormat); // end-to-end protection
    expect((await mgmt(0, 1, nsData(64n))).status).toBe(Status.InvalidField); // create with NSID ≠ 0
    expect((await mgmt(0, 0, nsData(64n), 1 << 24)).status).toBe(Status.InvalidField); // CSI 1
    expect((await mgmt(2, 1)).status).toBe(Status.InvalidField); // SEL 2
    expect((await mgmt(0, 0, 0x7000_0000n)).status).toBe(Status.DataTransferError);
    const made = await mgmt(0, 0, nsData(64n));
    expect(made.status).toBe(0);
    expect(made.dw0).toBe(2);
    expect((await mgmt(0, 0, nsData(64n))).status).toBe(Status.NamespaceIdUnavailable); // NN = 2 reached
    expect((await driver.identify(0x11, 2)).completion.status).toBe(0);
    expect((await driver.identify(0x12, 2)).completion.status).toBe(0);
    expect((await driver.identify(0x13)).completion.status).toBe(0);

    const ctrlList = driver.memory.alloc(4096);
    driver.memory.dataView(ctrlList, 4).setUint32(0, 1 | (1 << 16), true); // [1]
    const attach = (nsid: number, sel: number, prp1 = ctrlList) => driver.admin({ opcode: 0x15, nsid, prp1, cdw10: sel });
    expect((await attach(3, 0)).status).toBe(Status.InvalidField); // not allocated
    expect((await attach(0xffffffff, 0)).status).toBe(Status.InvalidField);
    expect((await attach(2, 2)).status).toBe(Status.InvalidField); // SEL 2
    expect((await attach(2, 0, driver.memory.alloc(4096))).status).toBe(Status.ControllerListInvalid); // empty list
    expect((await attach(2, 0)).status).toBe(0);
    expect((await attach(2, 1)).status).toBe(0); // detach
    expect((await driver.identify(0, 2)).data.subarray(0, 8)).toEqual(new Uint8Array(8)); // inactive again
    expect((await attach(2, 1)).status).toBe(Status.NamespaceNotAttached);
    expect((await mgmt(1, 0xffffffff)).status).toBe(0); // delete all
    expect((await driver.identify(0x10)).data.subarray(0, 4)).toEqual(new Uint8Array(4));
    await rig.close();

    rig = await startNvmeHarness(); // no namespace directory: the commands do not exist
    await rig.driver.enable();
    expect((await rig.driver.admin({ opcode: 0x0d, prp1: rig.driver.memory.alloc(4096) })).status).toBe(Status.InvalidOpcode);
    expect((await rig.driver.admin({ opcode: 0x15, nsid: 1, prp1: rig.driver.memory.alloc(4096) })).status).toBe(Status.InvalidOpcode);
  });

  it('Doorbell Buffer Config refuses SGLs and missing buffers; fused admin commands are refused', async () => {
    rig = await startNvmeHarness();
    const { driver } = rig;
    await driver.enable();
    const db = driver.memory.alloc(4096);
    expect((await driver.admin({ opcode: 0x7c, prp1: db, prp2: 0n })).status).toBe(Status.InvalidField);
    expect((await driver.admin({ opcode: 0x7c, flags: 0x40, sgl: sglDescriptor(db, 4096, 0) })).status).toBe(Status.InvalidField);
    expect((await driver.admin({ opcode: 0x18, flags: 1 })).status).toBe(Status.InvalidField); // fused
    expect((await driver.admin({ opcode: 0x7c, prp1: db, prp2: driver.memory.alloc(4096) })).status).toBe(0);
  });
});

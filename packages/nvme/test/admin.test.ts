import { afterEach, describe, expect, it } from 'vitest';
import { Status } from '../src/index.ts';
import { bringUp, makeRig, RAM_BASE, type Rig } from './helpers.ts';

let rig: Rig;
afterEach(async () => rig?.cleanup());

describe('queue management', () => {
  it('reports every create/delete error', async () => {
    rig = await makeRig({ maxQueueEntries: 256 });
    const { drv } = rig;
    await drv.enable();
    expect((await drv.setFeature(7, 0x00010001)).dw0).toBe(0x00010001); // 2 SQs + 2 CQs
    const base = drv.alloc(256 * 64);
    const cq = (qid: number, size: number, cdw11: number, prp1 = base) =>
      drv.admin({ opcode: 5, prp1, cdw10: ((size - 1) << 16) | qid, cdw11 });
    const sq = (qid: number, size: number, cqid: number, cdw11 = 1) =>
      drv.admin({ opcode: 1, prp1: base, cdw10: ((size - 1) << 16) | qid, cdw11: (cqid << 16) | cdw11 });
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
    expect((await drv.admin({ opcode: 4, cdw10: 1 })).status).toBe(Status.InvalidQueueDeletion);
    expect((await drv.admin({ opcode: 0, cdw10: 2 })).status).toBe(Status.InvalidQueueIdentifier);
    expect((await drv.admin({ opcode: 0, cdw10: 0 })).status).toBe(Status.InvalidQueueIdentifier);
    expect((await drv.admin({ opcode: 0, cdw10: 1 })).status).toBe(0);
    expect((await drv.admin({ opcode: 4, cdw10: 1 })).status).toBe(0);
    expect((await drv.admin({ opcode: 4, cdw10: 1 })).status).toBe(Status.InvalidQueueIdentifier);
  });

  it('posts SQ head, wraps the phase tag and survives a full CQ', async () => {
    rig = await makeRig();
    const { drv, ctrl } = rig;
    await drv.enable();
    await drv.setFeature(7, 0);
    // CQ of 4 entries (3 usable), SQ of 16: 8 commands in flight must wait for CQ space.
    const cqBus = drv.alloc(4 * 16);
    expect((await drv.admin({ opcode: 5, prp1: cqBus, cdw10: (3 << 16) | 1, cdw11: (1 << 16) | 3 })).status).toBe(0);
    const sqBus = drv.alloc(16 * 64);
    expect((await drv.admin({ opcode: 1, prp1: sqBus, cdw10: (15 << 16) | 1, cdw11: (1 << 16) | 1 })).status).toBe(0);
    const { QueuePair } = await import('./helpers.ts');
    const p = new QueuePair(1, 16, { bus: sqBus, bytes: drv.ram.view(sqBus, 16 * 64) }, { bus: cqBus, bytes: drv.ram.view(cqBus, 64) });
    drv.pairs.set(1, p);
    // CQ pair view must use its own size (4) for head/phase; wrap a small adapter.
    const cqPair = new QueuePair(1, 4, p.sq, p.cq);
    const buf = drv.alloc(4096);
    const cids: number[] = [];
    for (let i = 0; i < 8; i++) cids.push(drv.place(1, { opcode: 2, nsid: 1, prp1: buf, cdw12: 0 }));
    await drv.ringSq(p);
    await new Promise((r) => setTimeout(r, 20));
    expect(ctrl.stats.completionQueueFullStalls).toBeGreaterThan(0);
    drv.pairs.set(1, cqPair);
    const got: number[] = [];
    let lastHead = 0;
    for (let i = 0; i < 8; i++) {
      const c = await drv.reap(1);
      got.push(c.cid);
      lastHead = c.sqhd;
      expect(c.status).toBe(0);
    }
    expect(got.sort((a, b) => a - b)).toEqual(cids);
    expect(lastHead).toBe(8);
  });
});

describe('features', () => {
  it('gets and sets the supported features, rejects the rest', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    expect((await drv.getFeature(6)).dw0).toBe(1);
    expect((await drv.setFeature(6, 0)).status).toBe(0);
    expect((await drv.getFeature(6)).dw0).toBe(0);
    expect((await drv.getFeature(6, 1)).dw0).toBe(1); // default
    expect((await drv.getFeature(6, 3)).dw0).toBe(4); // changeable
    expect((await drv.setFeature(8, 0x0a05)).status).toBe(0);
    expect((await drv.getFeature(8)).dw0).toBe(0x0a05);
    expect((await drv.setFeature(9, 1 | (1 << 16))).status).toBe(0);
    expect((await drv.getFeature(9, 0, 1)).dw0).toBe(1 | (1 << 16));
    expect((await drv.setFeature(9, 999)).status).toBe(Status.InvalidField);
    expect((await drv.setFeature(2, 1)).status).toBe(Status.InvalidField); // PS 1 > NPSS
    expect((await drv.setFeature(1, 3)).status).toBe(0);
    expect((await drv.getFeature(1)).dw0).toBe(3);
    expect((await drv.setFeature(0x0b, 0x102)).status).toBe(0);
    expect((await drv.getFeature(0x0b)).dw0).toBe(0x102);
    expect((await drv.setFeature(0x0c, 1)).status).toBe(Status.InvalidField);
    expect((await drv.setFeature(0x7f, 1)).status).toBe(Status.InvalidField);
    expect((await drv.admin({ opcode: 9, cdw10: 6 | (1 << 31), cdw11: 1 })).status).toBe(Status.FeatureNotSaveable);
    expect((await drv.setFeature(4, 350 | (3 << 16))).status).toBe(Status.InvalidField); // sensor 3
    expect((await drv.setFeature(7, 0xffff)).status).toBe(Status.InvalidField);
    expect((await drv.setFeature(7, 0x10001)).status).toBe(Status.CommandSequenceError); // after queues exist
  });
});

describe('log pages and asynchronous events', () => {
  it('returns SMART, error, firmware and effects logs', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const buf = drv.alloc(4096);
    await drv.rw(1, 1, 1, 0n, 4, buf, 2048);
    await drv.rw(1, 2, 1, 99999n, 1, buf, 512); // error
    const smart = await drv.getLog(2, 512);
    expect(smart.cqe.status).toBe(0);
    const sv = new DataView(smart.data.buffer);
    expect(sv.getUint16(1, true)).toBe(313);
    expect(sv.getBigUint64(48, true)).toBe(1n); // data units written (1000 × 512 B, rounded up)
    expect(sv.getBigUint64(80, true)).toBe(1n); // host write commands
    expect(sv.getBigUint64(176, true)).toBe(1n);
    const err = await drv.getLog(1, 128);
    const ev = new DataView(err.data.buffer);
    expect(ev.getBigUint64(0, true)).toBe(1n);
    expect(ev.getUint16(8, true)).toBe(1); // SQID
    expect((ev.getUint16(12, true) >>> 1) & 0x7ff).toBe(Status.LbaOutOfRange);
    const fw = await drv.getLog(3, 512);
    expect(fw.data[0]).toBe(1);
    const fx = await drv.getLog(5, 4096);
    const fv = new DataView(fx.data.buffer);
    expect(fv.getUint32(6 * 4, true) & 1).toBe(1); // Identify supported
    expect(fv.getUint32(1024 + 1 * 4, true)).toBe(3); // Write: CSUPP + LBCC
    expect(fv.getUint32(0x80 * 4, true) & 0x20000).toBe(0x20000); // Format: exclusive controller
    expect((await drv.getLog(0x42, 512)).cqe.status).toBe(Status.InvalidLogPage);
    expect((await drv.getLog(2, 512, { offset: 2 })).cqe.status).toBe(Status.InvalidField);
    expect((await drv.getLog(2, 512, { offset: 4096 })).cqe.status).toBe(Status.InvalidField);
    const part = await drv.getLog(2, 8, { offset: 200 });
    expect(new DataView(part.data.buffer).getUint16(0, true)).toBe(313);
  });

  it('completes an AER on a temperature threshold crossing, masked until the log is read', async () => {
    rig = await makeRig();
    const { drv, ctrl } = rig;
    await bringUp(rig);
    expect((await drv.setFeature(0x0b, 0x2)).status).toBe(0); // temperature warning AEN
    const aer1 = drv.place(0, { opcode: 0x0c });
    const aer2 = drv.place(0, { opcode: 0x0c });
    await drv.ringSq(drv.pairs.get(0)!);
    await new Promise((r) => setTimeout(r, 5));
    expect((await drv.setFeature(4, 300)).status).toBe(0); // over-threshold below current 313 K
    expect(drv.unclaimed).toHaveLength(1);
    const ev = drv.unclaimed.pop()!;
    expect([aer1, aer2]).toContain(ev.cid);
    expect(ev.dw0).toBe(1 | (1 << 8) | (2 << 16));
    // A second crossing stays masked until the host reads the SMART log without RAE.
    ctrl.setTemperature(290);
    ctrl.setTemperature(320);
    await new Promise((r) => setTimeout(r, 5));
    expect(ctrl.stats.asyncEventsCompleted).toBe(1);
    const smart = await drv.getLog(2, 512);
    expect(smart.data[0]! & 2).toBe(2);
    expect(new DataView(smart.data.buffer).getUint16(1, true)).toBe(320);
    expect(drv.unclaimed.map((c) => c.cid)).toEqual([aer1, aer2].filter((c) => c !== ev.cid));
    expect(ctrl.stats.asyncEventsCompleted).toBe(2);
    drv.unclaimed.length = 0;
    // Fifth AER exceeds the limit (4 outstanding).
    for (let i = 0; i < 4; i++) drv.place(0, { opcode: 0x0c });
    await drv.ringSq(drv.pairs.get(0)!);
    await new Promise((r) => setTimeout(r, 5));
    expect((await drv.admin({ opcode: 0x0c })).status).toBe(Status.AerLimitExceeded);
  });

  it('abort reports "not aborted"; keep alive succeeds', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const r = await drv.admin({ opcode: 8, cdw10: 1 | (5 << 16) });
    expect(r.status).toBe(0);
    expect(r.dw0 & 1).toBe(1);
    expect((await drv.admin({ opcode: 0x18 })).status).toBe(0);
  });
});

describe('format and namespace management', () => {
  it('formats to 4 KiB blocks, erasing data', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await bringUp(rig);
    const buf = drv.alloc(4096);
    drv.ram.view(buf, 512).fill(0x5a);
    await drv.rw(1, 1, 1, 0n, 1, buf, 512);
    expect((await drv.admin({ opcode: 0x80, nsid: 1, cdw10: 5 })).status).toBe(Status.InvalidFormat);
    expect((await drv.admin({ opcode: 0x80, nsid: 1, cdw10: 1 | (1 << 5) })).status).toBe(Status.InvalidFormat);
    expect((await drv.admin({ opcode: 0x80, nsid: 1, cdw10: 1 | (2 << 9) })).status).toBe(Status.InvalidField);
    expect((await drv.admin({ opcode: 0x80, nsid: 7, cdw10: 1 })).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await drv.admin({ opcode: 0x80, nsid: 1, cdw10: 1 })).status).toBe(0);
    const id = await drv.identify(0, 1);
    expect(id.data[26]).toBe(1);
    expect(new DataView(id.data.buffer).getBigUint64(0, true)).toBe(2048n);
    expect((await drv.rw(1, 2, 1, 0n, 1, buf, 4096)).status).toBe(0);
    expect([...drv.ram.view(buf, 4096)].every((b) => b === 0)).toBe(true);
  });

  it('creates, attaches, detaches and deletes namespaces with AENs and the changed list', async () => {
    rig = await makeRig({ maxNamespaces: 3, totalCapacityBytes: 32 << 20, nsManagement: true });
    const { drv, dir } = rig;
    const { join } = await import('node:path');
    await bringUp(rig);
    await drv.setFeature(0x0b, 1 << 8);
    const aer = drv.place(0, { opcode: 0x0c });
    await drv.ringSq(drv.pairs.get(0)!);

    const nsData = (nsze: bigint, flbas: number, ncap = nsze) => {
      const b = drv.alloc(4096);
      const v = new DataView(drv.ram.bytes.buffer, Number(b - RAM_BASE), 4096);
      v.setBigUint64(0, nsze, true);
      v.setBigUint64(8, ncap, true);
      v.setUint8(26, flbas);
      return b;
    };
    const create = (b: bigint) => drv.admin({ opcode: 0x0d, prp1: b, cdw10: 0 });
    expect((await create(nsData(100n, 0, 50n))).status).toBe(Status.ThinProvisioningNotSupported);
    expect((await create(nsData(100n, 3))).status).toBe(Status.InvalidFormat);
    expect((await create(nsData(1n << 20n, 1))).status).toBe(Status.NamespaceInsufficientCapacity); // 4 GiB
    const made = await create(nsData(1024n, 1));
    expect(made.status).toBe(0);
    expect(made.dw0).toBe(2);
    expect((await drv.identify(0x10)).data.subarray(0, 8)).toEqual(new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]));
    expect((await drv.identify(2)).data.subarray(4, 8)).toEqual(new Uint8Array(4)); // not active yet

    const ctrlList = (ids: number[]) => {
      const b = drv.alloc(4096);
      const v = new DataView(drv.ram.bytes.buffer, Number(b - RAM_BASE), 4096);
      v.setUint16(0, ids.length, true);
      ids.forEach((id, i) => {
        v.setUint16(2 + 2 * i, id, true);
      });
      return b;
    };
    const attach = (nsid: number, sel: number, ids = [1]) => drv.admin({ opcode: 0x15, nsid, prp1: ctrlList(ids), cdw10: sel });
    expect((await attach(2, 0, [7])).status).toBe(Status.ControllerListInvalid);
    expect((await attach(2, 1)).status).toBe(Status.NamespaceNotAttached);
    expect((await attach(2, 0)).status).toBe(0);
    expect((await attach(2, 0)).status).toBe(Status.NamespaceAlreadyAttached);
    const ev = await drv.take(0, aer);
    expect(ev.cid).toBe(aer);
    expect(ev.dw0).toBe(2 | (0 << 8) | (4 << 16));
    const changed = await drv.getLog(4, 4096);
    expect(new DataView(changed.data.buffer).getUint32(0, true)).toBe(2);
    const id2 = await drv.identify(0, 2);
    expect(new DataView(id2.data.buffer).getBigUint64(0, true)).toBe(1024n);
    const buf = drv.alloc(4096);
    expect((await drv.rw(1, 1, 2, 1023n, 1, buf, 4096)).status).toBe(0);

    expect((await drv.admin({ opcode: 0x0d, nsid: 2, cdw10: 1 })).status).toBe(0);
    expect((await drv.rw(1, 2, 2, 0n, 1, buf, 4096)).status).toBe(Status.InvalidNamespaceOrFormat);
    expect((await drv.admin({ opcode: 0x0d, nsid: 2, cdw10: 1 })).status).toBe(Status.InvalidField);
    const { access } = await import('node:fs/promises');
    await expect(access(join(dir, 'ns2.img'))).rejects.toThrow();
  });
});

describe('Get Log Page bounds', () => {
  it('rejects a transfer beyond MDTS before allocating it', async () => {
    rig = await makeRig();
    const { drv } = rig;
    await drv.enable();
    const buf = drv.alloc(4096);
    const r = await drv.admin({ opcode: 2, nsid: 0xffffffff, prp1: buf, cdw10: 2 | (0xffff << 16), cdw11: 0xffff });
    expect(r.status).toBe(Status.InvalidField);
  });
});

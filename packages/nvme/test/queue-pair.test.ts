/**
 * The host side of a queue pair: what `QueuePair.push` writes is what the controller's
 * `SubmissionEntry` decodes, and `ready`/`peek` see exactly the entries `writeCompletion` posts,
 * across a wrap of the CQ (phase flip).
 */
import { describe, expect, it } from 'vitest';
import { SQE_BYTES, SubmissionEntry, writeSubmission } from '../src/command.ts';
import { type Completion, CQE_BYTES, writeCompletion } from '../src/queues.ts';
import { DNR } from '../src/status.ts';
import { QueuePair } from '../src/testing/queue-pair.ts';

/** A pair over plain buffers placed at an offset in a larger buffer (as ring memory inside guest RAM is). */
function pair(sqEntries: number, cqEntries: number) {
  const backing = new Uint8Array(8192 + sqEntries * SQE_BYTES + cqEntries * CQE_BYTES);
  const sq = backing.subarray(4096, 4096 + sqEntries * SQE_BYTES);
  const cq = backing.subarray(8192 + sqEntries * SQE_BYTES);
  return { sq, cq, qp: new QueuePair(1, { address: 0x10000n, bytes: sq }, sqEntries, { address: 0x20000n, bytes: cq }, cqEntries) };
}

describe('QueuePair', () => {
  it('encodes every field where SubmissionEntry reads it, with a fresh CID per slot', () => {
    const { sq, qp } = pair(4, 4);
    sq.fill(0xee); // stale bytes in the slot: every field, reserved dwords included, is rewritten
    const cid = qp.push({
      opcode: 0x02,
      nsid: 0xfffffffe,
      mptr: 0x1234_5678_9abc_def0n,
      prp1: 0x0000_0001_0000_1000n,
      prp2: 0xffff_ffff_ffff_f000n,
      cdw10: 0xffffffff,
      cdw11: 1,
      cdw12: 0x8000_0007,
      cdw13: 2,
      cdw14: 3,
      cdw15: 4,
    });
    const e = new SubmissionEntry(sq.slice(0, SQE_BYTES), 1);
    expect([e.opcode, e.cid, e.nsid, e.mptr, e.prp1, e.prp2, e.psdt]).toEqual([
      0x02,
      cid,
      0xfffffffe,
      0x1234_5678_9abc_def0n,
      0x0000_0001_0000_1000n,
      0xffff_ffff_ffff_f000n,
      0,
    ]);
    expect([e.cdw10, e.cdw11, e.cdw12, e.cdw13, e.cdw14, e.cdw15]).toEqual([0xffffffff, 1, 0x8000_0007, 2, 3, 4]);
    expect([...sq.subarray(8, 16)]).toEqual(new Array(8).fill(0));
    expect(sq[SQE_BYTES]).toBe(0xee); // the next slot is untouched

    const sgl = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const second = qp.push({ opcode: 0x01, sgl }, 0x40);
    expect(second).not.toBe(cid);
    const s = new SubmissionEntry(sq.slice(SQE_BYTES, 2 * SQE_BYTES), 1);
    expect([s.psdt, s.cid, [...s.sgl1]]).toEqual([1, second, [...sgl]]);
    expect(qp.sqTail).toBe(2);
  });

  it('refuses to overfill the SQ, and an entry that would not fit its view', () => {
    const { qp } = pair(2, 2);
    qp.push({ opcode: 0 });
    expect(() => qp.push({ opcode: 0 })).toThrow(/SQ full/);
    const view = new DataView(new ArrayBuffer(2 * SQE_BYTES));
    expect(() => writeSubmission(view, SQE_BYTES + 8, { opcode: 0 }, 1, 0)).toThrow(RangeError);
    expect(() => writeSubmission(view, -SQE_BYTES, { opcode: 0 }, 1, 0)).toThrow(RangeError);
  });

  it('sees a posted entry only once its phase tag matches, across a wrap of the CQ', () => {
    const { cq, qp } = pair(4, 2);
    const post = (slot: number, c: Completion, sqHead: number, phase: number) =>
      writeCompletion(cq.subarray(slot * CQE_BYTES, (slot + 1) * CQE_BYTES), c, sqHead, phase);
    expect(qp.ready).toBe(false);
    expect(qp.peek()).toBeUndefined();

    post(0, { dw0: 0xdeadbeef, dw1: 7, sqid: 1, cid: 5, status: 0 }, 1, 1);
    expect(qp.ready).toBe(true);
    const first = qp.peek();
    expect(first).toEqual({ dw0: 0xdeadbeef, dw1: 7, sqid: 1, cid: 5, status: 0, dnr: false, sqHead: 1 });
    qp.advance(first as NonNullable<typeof first>);

    post(1, { dw0: 0, dw1: 0, sqid: 1, cid: 6, status: DNR | 0x0281 }, 2, 1);
    const second = qp.peek();
    expect(second).toMatchObject({ cid: 6, status: 0x0281, dnr: true, sqHead: 2 });
    qp.advance(second as NonNullable<typeof second>);

    // Wrapped: slot 0 still holds phase 1, which is now stale.
    expect([qp.cqHead, qp.phase, qp.ready]).toEqual([0, 0, false]);
    post(0, { dw0: 1, dw1: 0, sqid: 1, cid: 7, status: 0 }, 3, 0);
    expect(qp.ready).toBe(true);
    expect(qp.peek()).toMatchObject({ cid: 7, dw0: 1, sqHead: 3 });
  });
});

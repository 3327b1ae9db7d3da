/**
 * walkPrp straight, without a controller: PRP lists whose entries merge into contiguous segments,
 * and bus addresses at and above 2^53 (kept exact: list entries are merged as numbers only below it).
 */
import { describe, expect, it } from 'vitest';
import { walkPrp } from '../src/prp.ts';
import type { SegmentWalk } from '../src/segments.ts';

const PAGE = 4096;

/** Runs a walk, answering each list read from `lists` (address → entries). */
function walk(prp1: bigint, prp2: bigint, length: number, lists: Map<bigint, bigint[]>): SegmentWalk {
  const steps = walkPrp(prp1, prp2, length, PAGE);
  let step = steps.next();
  while (!step.done) {
    const entries = lists.get(step.value.address) ?? [];
    const raw = new Uint8Array(step.value.length);
    const view = new DataView(raw.buffer);
    entries.forEach((e, i) => {
      if (i * 8 < raw.length) view.setBigUint64(i * 8, e, true);
    });
    step = steps.next(raw);
  }
  return step.value;
}

describe('walkPrp', () => {
  it('merges contiguous list entries and keeps scattered ones apart', () => {
    const lists = new Map([[0x9000n, [0x2000n, 0x3000n, 0x7000n, 0x8000n]]]);
    const r = walk(0x1000n, 0x9000n, 5 * PAGE, lists);
    expect(r).toEqual({
      ok: true,
      segments: [
        { address: 0x1000n, length: 3 * PAGE },
        { address: 0x7000n, length: 2 * PAGE },
      ],
    });
  });

  it('is exact at and above 2^53, merging across it, and for the top page of the 64-bit space', () => {
    const at = (n: bigint) => (1n << 53n) + n;
    const top = (1n << 64n) - BigInt(PAGE);
    const lists = new Map([[0x9000n, [at(0n), at(BigInt(PAGE)), top]]]);
    const r = walk(at(-BigInt(PAGE)), 0x9000n, 4 * PAGE, lists);
    expect(r).toEqual({
      ok: true,
      segments: [
        { address: at(-BigInt(PAGE)), length: 3 * PAGE },
        { address: top, length: PAGE },
      ],
    });
  });

  it('refuses a list entry with a page offset, naming the whole 64-bit entry', () => {
    const lists = new Map([[0x9000n, [0x1_0000_2010n, 0x3000n]]]);
    const r = walk(0x1000n, 0x9000n, 3 * PAGE, lists);
    expect(r).toMatchObject({ ok: false, message: 'PRP entry 0x100002010 has a page offset' });
  });
});

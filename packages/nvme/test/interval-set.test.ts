import { describe, expect, it } from 'vitest';
import { IntervalSet } from '../src/interval-set.ts';

/** The same set as a plain membership array, to compare against. */
function naive(ops: [boolean, number, number][], limit: number): boolean[] {
  const bits = new Array<boolean>(limit).fill(false);
  for (const [add, s, e] of ops) for (let i = s; i < e; i++) bits[i] = add;
  return bits;
}

describe('IntervalSet', () => {
  it('merges overlapping and touching ranges into one entry', () => {
    const set = new IntervalSet();
    set.add(10n, 20n);
    set.add(30n, 40n);
    set.add(20n, 30n); // touches both
    expect(set.entries()).toEqual([[10n, 40n]]);
    set.add(5n, 12n);
    set.add(0n, 1n);
    expect(set.entries()).toEqual([
      [0n, 1n],
      [5n, 40n],
    ]);
    expect(set.size).toBe(36n);
    set.add(7n, 7n); // empty range: no change
    expect(set.count).toBe(2);
  });

  it('removes from the middle, the edges and across entries', () => {
    const set = new IntervalSet();
    set.add(0n, 100n);
    expect(set.remove(40n, 60n)).toBe(true);
    expect(set.entries()).toEqual([
      [0n, 40n],
      [60n, 100n],
    ]);
    expect(set.remove(40n, 60n)).toBe(false); // nothing there
    expect(set.remove(30n, 70n)).toBe(true);
    expect(set.entries()).toEqual([
      [0n, 30n],
      [70n, 100n],
    ]);
    expect(set.remove(0n, 1000n)).toBe(true);
    expect(set.count).toBe(0);
  });

  it('finds the first member of a window and clips ranges to it', () => {
    const set = new IntervalSet();
    set.add(100n, 110n);
    set.add(200n, 300n);
    expect(set.firstIn(0n, 100n)).toBeUndefined();
    expect(set.firstIn(0n, 101n)).toBe(100n);
    expect(set.firstIn(105n, 250n)).toBe(105n);
    expect(set.firstIn(110n, 200n)).toBeUndefined();
    expect(set.firstIn(2n ** 63n, 2n ** 64n)).toBeUndefined();
    expect([...set.within(105n, 250n)]).toEqual([
      [105n, 110n],
      [200n, 250n],
    ]);
    expect([...set.within(300n, 400n)]).toEqual([]);
  });

  it('agrees with a per-value model over random adds and removes', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const limit = 200;
    const set = new IntervalSet();
    const ops: [boolean, number, number][] = [];
    for (let k = 0; k < 400; k++) {
      const s = rand(limit);
      const e = s + rand(30);
      const add = rand(3) !== 0;
      ops.push([add, s, Math.min(e, limit)]);
      if (add) set.add(BigInt(s), BigInt(Math.min(e, limit)));
      else set.remove(BigInt(s), BigInt(Math.min(e, limit)));
      const want = naive(ops, limit);
      const got = new Array<boolean>(limit).fill(false);
      for (const [a, b] of set.entries()) for (let i = Number(a); i < Number(b); i++) got[i] = true;
      expect(got).toEqual(want);
      // Coalesced: no entry touches the next.
      const entries = set.entries();
      for (let i = 1; i < entries.length; i++)
        expect((entries[i] as [bigint, bigint])[0]).toBeGreaterThan((entries[i - 1] as [bigint, bigint])[1]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { rotated, roundRatios, spread } from './statistics.ts';

describe('spread', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even count', () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(spread([10, 1, 4, 2])).toEqual({ median: 3, min: 1, max: 10, n: 4 });
  });
  it('leaves out NaN and infinite samples, and is NaN with none left', () => {
    expect(spread([Number.NaN, 5, Number.POSITIVE_INFINITY])).toEqual({ median: 5, min: 5, max: 5, n: 1 });
    const none = spread([Number.NaN]);
    expect(none.n).toBe(0);
    expect(none.median).toBeNaN();
  });
});

describe('roundRatios', () => {
  it('is the median of per-round ratios, not the ratio of medians', () => {
    // Round 1 ran under heavy load for both: per round the target is always 2× the reference.
    const target = [200, 20, 220];
    const reference = [100, 10, 110];
    expect(roundRatios(target, reference)).toEqual({ median: 2, min: 2, max: 2, n: 3 });
    expect(spread(target).median / spread(reference).median).toBe(2);
    expect(roundRatios([30, 10, 10], [10, 10, 20])).toEqual({ median: 1, min: 0.5, max: 3, n: 3 });
  });
  it('skips rounds where either side is missing or the reference is not positive', () => {
    expect(roundRatios([4, Number.NaN, 9, 6], [2, 3, 0, 3])).toEqual({ median: 2, min: 2, max: 2, n: 2 });
  });
});

describe('rotated', () => {
  it('puts every item in every position over as many rounds as items', () => {
    const items = ['a', 'b', 'c'];
    expect([0, 1, 2, 3].map((r) => rotated(items, r).join(''))).toEqual(['abc', 'bca', 'cab', 'abc']);
    expect(rotated([], 2)).toEqual([]);
    expect(items).toEqual(['a', 'b', 'c']);
  });
});

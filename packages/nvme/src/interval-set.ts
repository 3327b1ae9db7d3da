/**
 * A set of non-negative bigints stored as disjoint half-open intervals [start, end), kept sorted
 * and coalesced (no two intervals overlap or touch). Lookups are binary searches; adding or removing
 * a range splices only the intervals it meets, so marking a million-block range costs one entry.
 */
export class IntervalSet {
  private readonly starts: bigint[] = [];
  private readonly ends: bigint[] = [];

  /** Number of disjoint intervals. */
  get count(): number {
    return this.starts.length;
  }

  /** How many values the set holds (the sum of the interval lengths). */
  get size(): bigint {
    let n = 0n;
    for (let i = 0; i < this.starts.length; i++) n += (this.ends[i] as bigint) - (this.starts[i] as bigint);
    return n;
  }

  /** Adds [start, end); merges with the intervals it overlaps or touches. */
  add(start: bigint, end: bigint): void {
    if (end <= start) return;
    const i = this.firstEndAtLeast(start);
    const j = this.firstStartAbove(end);
    const from = i < j ? min(start, this.starts[i] as bigint) : start;
    const to = i < j ? max(end, this.ends[j - 1] as bigint) : end;
    this.starts.splice(i, j - i, from);
    this.ends.splice(i, j - i, to);
  }

  /** Removes [start, end); returns whether the set changed. */
  remove(start: bigint, end: bigint): boolean {
    if (end <= start) return false;
    const i = this.firstEndAbove(start);
    const j = this.firstStartAtLeast(end);
    if (i >= j) return false;
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    const firstStart = this.starts[i] as bigint;
    const lastEnd = this.ends[j - 1] as bigint;
    if (firstStart < start) {
      starts.push(firstStart);
      ends.push(start);
    }
    if (lastEnd > end) {
      starts.push(end);
      ends.push(lastEnd);
    }
    this.starts.splice(i, j - i, ...starts);
    this.ends.splice(i, j - i, ...ends);
    return true;
  }

  /** The lowest value in both the set and [start, end), if any. */
  firstIn(start: bigint, end: bigint): bigint | undefined {
    const i = this.firstEndAbove(start);
    if (i >= this.starts.length) return undefined;
    const s = max(start, this.starts[i] as bigint);
    return s < end ? s : undefined;
  }

  /** The parts of the set inside [start, end), in ascending order, as [start, end) pairs. */
  *within(start: bigint, end: bigint): Generator<[bigint, bigint]> {
    for (let i = this.firstEndAbove(start); i < this.starts.length && (this.starts[i] as bigint) < end; i++) {
      yield [max(start, this.starts[i] as bigint), min(end, this.ends[i] as bigint)];
    }
  }

  /** Every interval, in ascending order. */
  entries(): [bigint, bigint][] {
    return this.starts.map((s, i) => [s, this.ends[i] as bigint]);
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }

  /** Index of the first interval with end ≥ x (the first one x could merge with). */
  private firstEndAtLeast(x: bigint): number {
    return search(this.ends, (e) => e >= x);
  }
  /** Index of the first interval with end > x (the first one containing x or after it). */
  private firstEndAbove(x: bigint): number {
    return search(this.ends, (e) => e > x);
  }
  /** Index of the first interval with start > x. */
  private firstStartAbove(x: bigint): number {
    return search(this.starts, (s) => s > x);
  }
  /** Index of the first interval with start ≥ x. */
  private firstStartAtLeast(x: bigint): number {
    return search(this.starts, (s) => s >= x);
  }
}

/** First index of the sorted `values` where the monotone `test` holds (values.length if none). */
function search(values: readonly bigint[], test: (v: bigint) => boolean): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (test(values[mid] as bigint)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** Summary statistics of repeated measurements: the median and the spread, never a mean of noise. */

/** Median and range of one metric over the repetitions (NaN samples are left out). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Samples that went into the summary (finite ones). */
  n: number;
}

/** Median (mean of the two middle values for an even count), min and max of the finite samples. */
export function spread(samples: readonly number[]): Spread {
  const sorted = samples.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = n >> 1;
  const median = n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[n - 1] as number, n };
}

/**
 * Ratio a/b per round, then summarised: the median of per-round ratios compares numbers measured
 * seconds apart under the same background load, which the ratio of two medians does not.
 * Rounds where either side is missing or b is not positive are skipped.
 */
export function roundRatios(a: readonly number[], b: readonly number[]): Spread {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (Number.isFinite(x) && Number.isFinite(y) && y > 0) ratios.push(x / y);
  }
  return spread(ratios);
}

/** The order of `items` in round `round` (0-based): rotated left by `round`, so every item takes every position. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = ((round % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

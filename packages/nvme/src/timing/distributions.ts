/**
 * Latency distributions of the timing model, sampled with a seeded generator so a run can be
 * repeated. Every value is in microseconds.
 */

/** One point of a datasheet latency curve: `percentile` (0..100) of commands complete within `us`. */
export interface LatencyPercentile {
  /** 0..100. */
  percentile: number;
  /** Latency at that percentile, µs. */
  us: number;
}

/**
 * How long one command takes, µs:
 * - a number: always that long;
 * - `uniform`: evenly spread over [minUs, maxUs];
 * - `normal`: mean and standard deviation (negative draws are drawn again);
 * - `lognormal`: the median and the 99th percentile a datasheet quotes (a long right tail);
 * - `percentiles`: a datasheet's latency curve, linear between the points (e.g. p50, p99, p99.99);
 *   below the first point the first value, above the last the last value.
 */
export type LatencyDistribution =
  | number
  | { kind: 'uniform'; minUs: number; maxUs: number }
  | { kind: 'normal'; meanUs: number; stddevUs: number }
  | { kind: 'lognormal'; p50Us: number; p99Us: number }
  | { kind: 'percentiles'; points: readonly LatencyPercentile[] };

/** z of the 99th percentile of the standard normal distribution. */
const Z99 = 2.3263478740408408;

/** A uniform [0, 1) generator (mulberry32): small, fast, and the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
function standardNormal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const finite = (v: number) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Why `d` is not a usable distribution, or undefined when it is. */
export function distributionProblem(d: LatencyDistribution): string | undefined {
  if (typeof d === 'number') return finite(d) ? undefined : `latency ${d} µs is not a finite number ≥ 0`;
  switch (d.kind) {
    case 'uniform':
      return finite(d.minUs) && finite(d.maxUs) && d.minUs <= d.maxUs ? undefined : 'uniform needs 0 ≤ minUs ≤ maxUs';
    case 'normal':
      return finite(d.meanUs) && finite(d.stddevUs) ? undefined : 'normal needs meanUs ≥ 0 and stddevUs ≥ 0';
    case 'lognormal':
      return finite(d.p50Us) && finite(d.p99Us) && d.p50Us > 0 && d.p99Us >= d.p50Us ? undefined : 'lognormal needs 0 < p50Us ≤ p99Us';
    case 'percentiles': {
      const p = d.points;
      if (p.length === 0) return 'percentiles needs at least one point';
      for (let i = 0; i < p.length; i++) {
        const pt = p[i] as LatencyPercentile;
        if (!finite(pt.us) || !(pt.percentile >= 0 && pt.percentile <= 100))
          return `percentile point ${i} is outside 0..100 % or not ≥ 0 µs`;
        const prev = p[i - 1];
        if (prev && (pt.percentile <= prev.percentile || pt.us < prev.us))
          return 'percentile points must rise in percentile and not fall in µs';
      }
      return undefined;
    }
    default:
      return `unknown latency distribution ${JSON.stringify(d)}`;
  }
}

/** One draw from `d`, µs (`d` already checked by {@link distributionProblem}). */
export function sampleLatency(d: LatencyDistribution, random: () => number): number {
  if (typeof d === 'number') return d;
  switch (d.kind) {
    case 'uniform':
      return d.minUs + (d.maxUs - d.minUs) * random();
    case 'normal': {
      if (d.stddevUs === 0) return d.meanUs;
      for (;;) {
        const v = d.meanUs + d.stddevUs * standardNormal(random);
        if (v >= 0) return v;
      }
    }
    case 'lognormal': {
      const mu = Math.log(d.p50Us);
      const sigma = (Math.log(d.p99Us) - mu) / Z99;
      return Math.exp(mu + sigma * standardNormal(random));
    }
    case 'percentiles':
      return inversePercentile(d.points, random() * 100);
  }
}

/** The latency at percentile `q` of a piecewise-linear curve. */
function inversePercentile(points: readonly LatencyPercentile[], q: number): number {
  const first = points[0] as LatencyPercentile;
  if (q <= first.percentile) return first.us;
  for (let i = 1; i < points.length; i++) {
    const hi = points[i] as LatencyPercentile;
    if (q <= hi.percentile) {
      const lo = points[i - 1] as LatencyPercentile;
      return lo.us + ((hi.us - lo.us) * (q - lo.percentile)) / (hi.percentile - lo.percentile);
    }
  }
  return (points[points.length - 1] as LatencyPercentile).us;
}

/** The mean of `d`, µs: what a profile promises on average (lognormal from its median and p99). */
export function meanLatency(d: LatencyDistribution): number {
  if (typeof d === 'number') return d;
  switch (d.kind) {
    case 'uniform':
      return (d.minUs + d.maxUs) / 2;
    case 'normal':
      return d.meanUs; // ignores the resampled negative tail (small while stddev ≪ mean)
    case 'lognormal': {
      const sigma = (Math.log(d.p99Us) - Math.log(d.p50Us)) / Z99;
      return d.p50Us * Math.exp((sigma * sigma) / 2);
    }
    case 'percentiles': {
      // Integral of the piecewise-linear inverse CDF over 0..100 %.
      const p = d.points;
      const first = p[0] as LatencyPercentile;
      let area = first.us * first.percentile;
      for (let i = 1; i < p.length; i++) {
        const lo = p[i - 1] as LatencyPercentile;
        const hi = p[i] as LatencyPercentile;
        area += ((lo.us + hi.us) / 2) * (hi.percentile - lo.percentile);
      }
      const last = p[p.length - 1] as LatencyPercentile;
      area += last.us * (100 - last.percentile);
      return area / 100;
    }
  }
}

// Summary statistics of a bench's samples. Percentiles use linear interpolation between the two nearest
// ranks (Hyndman and Fan's type 7, the default of numpy, R and Excel's PERCENTILE.INC): for n sorted values
// x[0..n-1], the p-th percentile lies at rank h = (n - 1) * p / 100, between x[floor(h)] and x[ceil(h)].
// With 20 samples p95 and p99 sit between the two largest values: read them as "the slow tail", not as
// estimates of a population's 99th percentile.

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** The p-th percentile (0 <= p <= 100) of values sorted in ascending order, by linear interpolation. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const rank = ((sorted.length - 1) * p) / 100;
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  const low = sorted[below]!;
  return low + (sorted[above]! - low) * (rank - below);
}

/** Percentiles, extremes and mean of `values` (any order); undefined for no values. */
export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((sum, v) => sum + v, 0) / sorted.length,
  };
}

/**
 * How many times faster `candidate` is than `baseline` (both durations): baseline / candidate. 2 means half
 * the time; below 1 means slower. Undefined when either is missing or the candidate took no time.
 */
export function speedup(baseline: number | undefined, candidate: number | undefined): number | undefined {
  if (baseline === undefined || candidate === undefined || candidate <= 0) return undefined;
  return baseline / candidate;
}

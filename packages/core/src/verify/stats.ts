// Small statistics helpers, shared by `baton verify` and the bench.

export interface Summary {
  n: number;
  min?: number;
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  mean?: number;
  sd?: number;
}

function nearestRank(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The q-quantile (0..1) of the numbers, nearest rank; undefined when there are none. */
export function quantile(values: ArrayLike<number>, q: number): number | undefined {
  if (values.length === 0) return undefined;
  return nearestRank(Float64Array.from(values).sort(), q);
}

export const median = (values: ArrayLike<number>): number | undefined => quantile(values, 0.5);

export function summary(values: ArrayLike<number>): Summary {
  if (values.length === 0) return { n: 0 };
  const sorted = Float64Array.from(values).sort();
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const sd = Math.sqrt(sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, sorted.length - 1));
  return {
    n: sorted.length,
    min: sorted[0],
    p50: nearestRank(sorted, 0.5),
    p95: nearestRank(sorted, 0.95),
    p99: nearestRank(sorted, 0.99),
    max: sorted[sorted.length - 1],
    mean,
    sd,
  };
}

/** Rounds to `digits` decimals; undefined, null and NaN pass through. */
export function round<T extends number | undefined | null>(value: T, digits = 1): T {
  if (value === undefined || value === null || Number.isNaN(value)) return value;
  const f = 10 ** digits;
  return (Math.round((value as number) * f) / f) as T;
}

/** A summary with every number rounded to one decimal. */
export function roundSummary(s: Summary): Summary {
  if (s.n === 0) return { n: 0 };
  return {
    n: s.n,
    min: round(s.min),
    p50: round(s.p50),
    p95: round(s.p95),
    max: round(s.max),
    mean: round(s.mean),
    sd: round(s.sd),
  };
}

export interface LatencyStats {
  n: number;
  p50?: number;
  p99?: number;
  max?: number;
}

/** n, p50 and p99 (two decimals) and the maximum of a set of latencies in ms. */
export function latencyStats(values: ArrayLike<number>): LatencyStats {
  const s = summary(values);
  if (s.n === 0) return { n: 0 };
  return { n: s.n, p50: round(s.p50, 2), p99: round(s.p99, 2), max: round(s.max, 1) };
}

/**
 * The statistics of the benchmarks, computed as bench/driver/stats.go
 * computes them (nearest-rank percentiles), so that a figure of our Deno
 * host driver and the same figure of the Go driver mean the same thing.
 *
 * @module
 */

import type { Dist } from "./_table.ts";

/**
 * The nearest-rank percentile of sorted samples (stats.go `percentile`).
 *
 * @param sorted Samples in ascending order.
 * @param p The percentile, 0-100.
 * @returns The sample at rank ⌈p/100 · n⌉ (at least the first); 0 when there are none.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

/**
 * The samples in ascending order, as a new array.
 *
 * @param samples Any order.
 * @returns A sorted copy.
 */
export function sorted(samples: readonly number[]): number[] {
  return [...samples].sort((a, b) => a - b);
}

/**
 * Summarises samples (stats.go `distOf`).
 *
 * @param samples In the order they were taken (kept so in `samples`).
 * @returns The distribution, or undefined when there are no samples.
 */
export function distOf(samples: readonly number[]): Dist | undefined {
  if (samples.length === 0) return undefined;
  const s = sorted(samples);
  return {
    n: s.length,
    median: percentile(s, 50),
    p90: percentile(s, 90),
    min: s[0],
    max: s[s.length - 1],
    samples: [...samples],
  };
}

/**
 * Pure numbers for the bench: percentiles of latency samples, a run's summary, the median round.
 * No I/O, so test/bench-stats.test.ts checks it without a database.
 */

export interface RunSummary {
  requests: number;
  errors: number;
  elapsedMs: number;
  reqPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  /** Mean latency, ms. */
  mean: number;
}

/** The q-quantile (0…1) of ascending `sorted` by nearest rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Latencies in ms (any order), errors and the wall time of the run → req/s and percentiles. */
export function summarize(latenciesMs: readonly number[], errors: number, elapsedMs: number): RunSummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const total = sorted.reduce((a, b) => a + b, 0);
  return {
    requests: sorted.length,
    errors,
    elapsedMs: round(elapsedMs, 1),
    reqPerSec: elapsedMs > 0 ? round((sorted.length * 1000) / elapsedMs, 1) : 0,
    p50: round(percentile(sorted, 0.5), 3),
    p95: round(percentile(sorted, 0.95), 3),
    p99: round(percentile(sorted, 0.99), 3),
    mean: sorted.length ? round(total / sorted.length, 3) : Number.NaN,
  };
}

/**
 * The round whose throughput is the median of the rounds (the lower middle for an even count),
 * so its percentiles come from one real run rather than being mixed across runs.
 */
export function medianRound<T extends { reqPerSec: number }>(rounds: readonly T[]): T {
  if (rounds.length === 0) throw new RangeError('medianRound: no rounds');
  const sorted = [...rounds].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** `value / base`, rounded to 2 decimals; undefined when either is missing or base is 0. */
export function ratio(value: number | undefined, base: number | undefined): number | undefined {
  if (value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base) || base === 0) return undefined;
  return round(value / base, 2);
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rotates `items` by `shift`, so each round starts with a different variant. */
export function rotate<T>(items: readonly T[], shift: number): T[] {
  if (items.length === 0) return [];
  const s = ((shift % items.length) + items.length) % items.length;
  return [...items.slice(s), ...items.slice(0, s)];
}

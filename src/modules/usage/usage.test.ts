import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKET_COUNT, LATENCY_BUCKETS_MS } from '../../../db/schema/usage.js';
import { latencyBucket, percentileFromBuckets, utcDay } from './usage.js';

const histogram = (counts: Record<number, number>) => Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => counts[i] ?? 0);

describe('latency buckets', () => {
  it('puts a duration in the first bucket whose bound it does not exceed (bounds inclusive)', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(5)).toBe(0);
    expect(latencyBucket(5.01)).toBe(1);
    expect(latencyBucket(100)).toBe(LATENCY_BUCKETS_MS.indexOf(100));
    expect(latencyBucket(10_000)).toBe(LATENCY_BUCKETS_MS.length - 1);
    expect(latencyBucket(10_001)).toBe(LATENCY_BUCKETS_MS.length);
  });
});

describe('percentileFromBuckets', () => {
  it('is null for an empty histogram', () => {
    expect(percentileFromBuckets(histogram({}), 0.95)).toBeNull();
  });

  it('is the upper bound of the bucket holding the 95th percentile', () => {
    // 95 requests ≤ 5 ms, 5 in (50, 100]: rank 95 is still in the first bucket.
    expect(percentileFromBuckets(histogram({ 0: 95, 4: 5 }), 0.95)).toBe(5);
    // 94 fast, 6 slow: rank 95 falls in the (50, 100] bucket.
    expect(percentileFromBuckets(histogram({ 0: 94, 4: 6 }), 0.95)).toBe(100);
    expect(percentileFromBuckets(histogram({ 7: 1 }), 0.95)).toBe(1000);
  });

  it('reads the unbounded bucket as the largest bound', () => {
    expect(percentileFromBuckets(histogram({ 0: 1, [LATENCY_BUCKETS_MS.length]: 99 }), 0.95)).toBe(10_000);
  });
});

describe('utcDay', () => {
  it('uses the UTC date, whatever the local zone', () => {
    expect(utcDay(new Date('2026-03-01T23:59:59.999Z'))).toBe('2026-03-01');
    expect(utcDay(new Date('2026-03-02T00:00:00+02:00'))).toBe('2026-03-01');
  });

  it('answers each call for its own day (it remembers only the last one asked)', () => {
    expect(utcDay(new Date('2026-03-01T12:00:00Z'))).toBe('2026-03-01');
    expect(utcDay(new Date('2026-03-02T00:00:00Z'))).toBe('2026-03-02');
    expect(utcDay(new Date('2026-03-01T23:59:59.999Z'))).toBe('2026-03-01');
    expect(utcDay(new Date('1969-12-31T23:00:00Z'))).toBe('1969-12-31');
    expect(() => utcDay(new Date(Number.NaN))).toThrow(RangeError);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TenantBulkhead, type Permit } from './tenant-bulkhead.js';

const A = 'tenant-a';
const B = 'tenant-b';

describe('TenantBulkhead', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits maxConcurrent requests per tenant, each tenant on its own', () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 2, waitMs: 100 });
    const a1 = bulkhead.tryAcquire(A);
    const a2 = bulkhead.tryAcquire(A);
    expect(a1).toBeDefined();
    expect(a2).toBeDefined();
    expect(bulkhead.tryAcquire(A)).toBeUndefined();
    expect(bulkhead.tryAcquire(B)).toBeDefined();
    expect(bulkhead.inUse(A)).toBe(2);
    expect(bulkhead.inUse(B)).toBe(1);
  });

  it('refuses a waiter after waitMs, leaving no trace', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, waitMs: 100 });
    const held = bulkhead.tryAcquire(A)!;
    const waiting = bulkhead.acquire(A);
    expect(bulkhead.waiting(A)).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(bulkhead.waiting(A)).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).resolves.toBeUndefined();
    expect(bulkhead.waiting(A)).toBe(0);
    held.release();
    expect(bulkhead.inUse(A)).toBe(0);
    expect(bulkhead.activeTenants).toBe(0);
  });

  it('hands a released permit to the oldest waiter, before any newcomer', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, waitMs: 1_000 });
    const held = bulkhead.tryAcquire(A)!;
    const order: string[] = [];
    const first = bulkhead.acquire(A).then((p) => (order.push('first'), p));
    const second = bulkhead.acquire(A).then((p) => (order.push('second'), p));
    held.release();
    expect(bulkhead.tryAcquire(A)).toBeUndefined();
    const p1 = (await first)!;
    expect(order).toEqual(['first']);
    expect(bulkhead.inUse(A)).toBe(1);
    p1.release();
    const p2 = (await second)!;
    expect(order).toEqual(['first', 'second']);
    p2.release();
    expect(bulkhead.inUse(A)).toBe(0);
    expect(bulkhead.activeTenants).toBe(0);
  });

  it('counts a permit released twice once', () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 2, waitMs: 0 });
    const p = bulkhead.tryAcquire(A)!;
    bulkhead.tryAcquire(A);
    p.release();
    p.release();
    expect(bulkhead.inUse(A)).toBe(1);
  });

  it('takes a waiter whose signal fires out of the queue at once, and never gives it a permit', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, waitMs: 10_000 });
    const held = bulkhead.tryAcquire(A)!;
    const client = new AbortController();
    const waiting = bulkhead.acquire(A, () => client.signal);
    expect(bulkhead.waiting(A)).toBe(1);
    client.abort();
    await expect(waiting).resolves.toBeUndefined();
    expect(bulkhead.waiting(A)).toBe(0);
    held.release();
    expect(bulkhead.inUse(A)).toBe(0);
    // Already gone before it would wait: not queued at all.
    const again = bulkhead.tryAcquire(A)!;
    await expect(bulkhead.acquire(A, () => client.signal)).resolves.toBeUndefined();
    expect(bulkhead.waiting(A)).toBe(0);
    again.release();
    expect(bulkhead.activeTenants).toBe(0);
  });

  it('asks for the signal only when it has to wait', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, waitMs: 0 });
    const signal = vi.fn(() => undefined);
    const permit: Permit | undefined = await bulkhead.acquire(A, signal);
    expect(permit).toBeDefined();
    expect(signal).not.toHaveBeenCalled();
    await expect(bulkhead.acquire(A, signal)).resolves.toBeUndefined();
  });

  it('refuses settings that would admit nobody', () => {
    expect(() => new TenantBulkhead({ maxConcurrent: 0, waitMs: 10 })).toThrow(RangeError);
    expect(() => new TenantBulkhead({ maxConcurrent: 1, waitMs: -1 })).toThrow(RangeError);
  });
});

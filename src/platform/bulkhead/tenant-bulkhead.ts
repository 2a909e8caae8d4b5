/**
 * Per-tenant bulkheads: at most `maxConcurrent` requests of one tenant hold a permit at a time on
 * this instance (TENANT_MAX_CONCURRENCY). A request past that waits in its tenant's queue, first
 * come first served, for at most `waitMs` (TENANT_BUSY_WAIT_MS); a permit freed during the wait is
 * handed straight to the oldest waiter. A request that gets none in time, or whose client goes
 * away while it waits, is not admitted (`acquire` answers undefined) and never takes a permit.
 *
 * Permits are per instance, in memory: a bulkhead protects this instance's pool from one tenant,
 * not the database from all instances (that is what the rate limits, shared through Redis, do).
 * A tenant's entry exists only while it has permits out or waiters, so idle tenants cost nothing.
 *
 * Written here rather than taken from npm (checked on 2026-12-04): p-limit 7 and async-sema 3 have
 * one queue and no bound on the wait; p-queue 10 would need a queue per tenant, removing idle ones
 * by hand, and an AbortSignal per waiter for the deadline; async-mutex 0.5's Semaphore times a wait
 * out only by cancelling every waiter. None is keyed, and the keyed one-permit-per-holder, release-
 * once shape below is smaller than the glue any of them would need.
 */

/** One admitted request's hold; `release` is idempotent (a second call does nothing). */
export interface Permit {
  release(): void;
}

export interface TenantBulkheadOptions {
  /** Permits per tenant (at least 1). */
  maxConcurrent: number;
  /** The longest a request waits for a permit, in ms; 0: refused at once when none is free. */
  waitMs: number;
}

interface Waiter {
  admit(permit: Permit): void;
}

interface Compartment {
  inUse: number;
  waiters: Waiter[];
}

export class TenantBulkhead {
  readonly maxConcurrent: number;
  readonly waitMs: number;
  private readonly compartments = new Map<string, Compartment>();

  constructor(options: TenantBulkheadOptions) {
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) throw new RangeError('maxConcurrent must be an integer of at least 1');
    if (!(options.waitMs >= 0)) throw new RangeError('waitMs must be 0 or more');
    this.maxConcurrent = options.maxConcurrent;
    this.waitMs = options.waitMs;
  }

  /** A free permit now, or undefined: the hot path, with no promise and no timer. */
  tryAcquire(tenantId: string): Permit | undefined {
    let compartment = this.compartments.get(tenantId);
    if (compartment === undefined) this.compartments.set(tenantId, (compartment = { inUse: 0, waiters: [] }));
    if (compartment.inUse >= this.maxConcurrent) return undefined;
    compartment.inUse++;
    return this.permit(tenantId, compartment);
  }

  /**
   * A permit, waiting for one up to `waitMs`; undefined when none came in time or `signal` (the
   * client going away) fired first. `signal` is asked for only when the request has to wait.
   */
  acquire(tenantId: string, signal?: () => AbortSignal | undefined): Promise<Permit | undefined> {
    const now = this.tryAcquire(tenantId);
    if (now !== undefined || this.waitMs === 0) return Promise.resolve(now);
    const compartment = this.compartments.get(tenantId)!;
    const aborting = signal?.();
    if (aborting?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const leave = () => {
        clearTimeout(timer);
        aborting?.removeEventListener('abort', leave);
        const i = compartment.waiters.indexOf(waiter);
        if (i === -1) return;
        compartment.waiters.splice(i, 1);
        this.forgetIfIdle(tenantId, compartment);
        resolve(undefined);
      };
      const waiter: Waiter = {
        admit: (permit) => {
          clearTimeout(timer);
          aborting?.removeEventListener('abort', leave);
          resolve(permit);
        },
      };
      const timer = setTimeout(leave, this.waitMs);
      compartment.waiters.push(waiter);
      aborting?.addEventListener('abort', leave, { once: true });
    });
  }

  /** Permits held by the tenant's requests now. */
  inUse(tenantId: string): number {
    return this.compartments.get(tenantId)?.inUse ?? 0;
  }

  /** The tenant's requests waiting for a permit now. */
  waiting(tenantId: string): number {
    return this.compartments.get(tenantId)?.waiters.length ?? 0;
  }

  /** Tenants with permits out or waiters (idle tenants have no entry). */
  get activeTenants(): number {
    return this.compartments.size;
  }

  private permit(tenantId: string, compartment: Compartment): Permit {
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const next = compartment.waiters.shift();
        // Handed over, not returned: the oldest waiter gets it before any newcomer's tryAcquire.
        if (next !== undefined) return next.admit(this.permit(tenantId, compartment));
        compartment.inUse--;
        this.forgetIfIdle(tenantId, compartment);
      },
    };
  }

  private forgetIfIdle(tenantId: string, compartment: Compartment): void {
    if (compartment.inUse === 0 && compartment.waiters.length === 0 && this.compartments.get(tenantId) === compartment) {
      this.compartments.delete(tenantId);
    }
  }
}

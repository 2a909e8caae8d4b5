/**
 * Something that collects in memory and writes in batches: on a timer while the server runs, and
 * once more at shutdown so nothing collected is lost. The timer never keeps the process alive.
 *
 * Flushes never overlap. A flush that outlasts the interval (a slow database, thousands of active
 * tenants) is not joined by a second one on the next tick: overlapping flushes competed for the
 * same pool, each took longer, and under load they piled up with their batches in memory (the
 * bench saw ten at once, 20 s each, and RSS past 300 MB). The next tick after it takes whatever
 * was collected meanwhile, in one batch.
 */
/** Tenants (or groups) a flush writes at once: enough to keep up, few enough to leave the pool to requests. */
const FLUSH_CONCURRENCY = 4;
/** A group's bounds: one transaction's worth of tenants, and of rows (a group's statements travel in one flight). */
const GROUP_TENANTS = 50;
const GROUP_WEIGHT = 5_000;

export interface GroupWrite<T> {
  /** Rows (or a proxy for them) in one tenant's share, to bound a group's size. */
  weight(share: T): number;
  /** Writes a whole group at once (db/tenant-tx.ts writeEachTenant). */
  group(shares: ReadonlyMap<string, T>): Promise<void>;
  /** Writes one tenant's share and handles its own failure: the fallback when its group failed. */
  one(tenantId: string, share: T): Promise<void>;
  /**
   * Told when a group failed, before its tenants are written one by one: a group that fails and
   * then succeeds tenant by tenant is otherwise silent (a bug in the group path would only show
   * as more transactions).
   */
  groupFailed?(error: unknown, tenants: number): void;
}

export abstract class BatchWriter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  abstract flush(): Promise<void>;

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.flush()
        .catch(onError)
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * `write.group` for groups of tenants, a few groups at a time. A group that fails is written
   * again tenant by tenant, so one tenant's failure (purged meanwhile, say) costs only its own share.
   */
  protected async eachGroup<T>(batch: ReadonlyMap<string, T>, write: GroupWrite<T>): Promise<void> {
    const groups: Map<string, T>[] = [];
    let current = new Map<string, T>();
    let weight = 0;
    for (const [tenantId, share] of batch) {
      const w = write.weight(share);
      if (current.size > 0 && (current.size >= GROUP_TENANTS || weight + w > GROUP_WEIGHT)) {
        groups.push(current);
        current = new Map();
        weight = 0;
      }
      current.set(tenantId, share);
      weight += w;
    }
    if (current.size > 0) groups.push(current);
    const worker = async () => {
      for (let group = groups.shift(); group; group = groups.shift()) {
        try {
          await write.group(group);
        } catch (error) {
          write.groupFailed?.(error, group.size);
          for (const [tenantId, share] of group) await write.one(tenantId, share);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, groups.length) }, worker));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.flush();
  }
}

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
/** Tenants a flush writes at once: enough to keep up, few enough to leave the pool to requests. */
const FLUSH_CONCURRENCY = 4;

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

  /** `write` for each tenant's share of a batch, a few tenants at a time; `write` handles its own failures. */
  protected async eachTenant<T>(batch: ReadonlyMap<string, T>, write: (tenantId: string, share: T) => Promise<void>): Promise<void> {
    const queue = [...batch];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await write(next[0], next[1]);
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, queue.length) }, worker));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.flush();
  }
}

/**
 * Something that collects in memory and writes in batches: on a timer while the server runs, and
 * once more at shutdown so nothing collected is lost. The timer never keeps the process alive.
 */
export abstract class BatchWriter {
  private timer: NodeJS.Timeout | undefined;

  abstract flush(): Promise<void>;

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.timer = setInterval(() => void this.flush().catch(onError), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

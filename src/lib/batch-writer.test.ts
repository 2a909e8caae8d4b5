import { describe, expect, it } from 'vitest';
import { BatchWriter } from './batch-writer.js';

class SlowWriter extends BatchWriter {
  active = 0;
  most = 0;
  flushes = 0;
  async flush(): Promise<void> {
    this.flushes++;
    this.most = Math.max(this.most, ++this.active);
    await new Promise((resolve) => setTimeout(resolve, 60));
    this.active--;
  }
}

describe('BatchWriter', () => {
  it('never runs two flushes at once when a flush outlasts the interval, and flushes once more at stop', async () => {
    const writer = new SlowWriter();
    writer.start(5, () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writer.stop();
    expect(writer.most).toBe(1);
    // Roughly one flush per 60 ms, plus the last one: not one per 5 ms tick.
    expect(writer.flushes).toBeGreaterThanOrEqual(2);
    expect(writer.flushes).toBeLessThanOrEqual(6);
    expect(writer.active).toBe(0);
  });
});

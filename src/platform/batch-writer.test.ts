import { describe, expect, it } from 'vitest';
import { BatchWriter, type GroupWrite } from './batch-writer.js';

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

/** Records how eachGroup splits a batch; a group holding `failing` fails as a whole. */
class GroupingWriter extends BatchWriter {
  groups: string[][] = [];
  singles: string[] = [];
  failedGroups: number[] = [];
  constructor(private readonly failing?: string) {
    super();
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  run(batch: Map<string, number>): Promise<void> {
    const write: GroupWrite<number> = {
      weight: (rows) => rows,
      group: (shares) => {
        this.groups.push([...shares.keys()]);
        return this.failing !== undefined && shares.has(this.failing) ? Promise.reject(new Error('group failed')) : Promise.resolve();
      },
      one: (tenantId) => {
        this.singles.push(tenantId);
        return Promise.resolve();
      },
      groupFailed: (_error, tenants) => void this.failedGroups.push(tenants),
    };
    return this.eachGroup(batch, write);
  }
}

describe('BatchWriter.eachGroup', () => {
  const tenants = (n: number, rows: number) => new Map(Array.from({ length: n }, (_, i) => [`t${i}`, rows]));

  it('puts at most 50 tenants and 5,000 rows in a group, every tenant exactly once', async () => {
    const byCount = new GroupingWriter();
    await byCount.run(tenants(120, 1));
    expect(byCount.groups.map((g) => g.length).sort((x, y) => y - x)).toEqual([50, 50, 20]);
    const byWeight = new GroupingWriter();
    await byWeight.run(tenants(5, 2_000));
    expect(byWeight.groups.map((g) => g.length).sort((x, y) => y - x)).toEqual([2, 2, 1]);
    // One tenant over the limit still goes, alone.
    const heavy = new GroupingWriter();
    await heavy.run(new Map([['big', 9_000], ['small', 1]]));
    expect(heavy.groups).toEqual([['big'], ['small']]);
    for (const w of [byCount, byWeight, heavy]) expect(w.singles).toEqual([]);
    expect(byCount.groups.flat().sort()).toEqual([...tenants(120, 1).keys()].sort());
  });

  it('writes a failed group again tenant by tenant, and only that group', async () => {
    const writer = new GroupingWriter('t60');
    await writer.run(tenants(120, 1));
    expect(writer.failedGroups).toEqual([50]);
    expect(writer.singles).toEqual(Array.from({ length: 50 }, (_, i) => `t${50 + i}`));
  });
});

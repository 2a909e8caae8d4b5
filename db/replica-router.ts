/**
 * Where a one-statement tenant read goes when the server has a streaming read replica
 * (READ_DATABASE_URL): the replica, unless it is down, lags more than `maxLagMs`, or has not yet
 * replayed the tenant's own last write (read-your-writes). Every decision is made in memory; a
 * poller keeps the facts it needs, every `pollMs`, on two one-connection pools of its own:
 *
 *   primary:  select pg_current_wal_lsn()                              where the WAL is
 *   replica:  select pg_is_in_recovery(), pg_last_wal_replay_lsn()    how far it has replayed
 *
 * Read-your-writes: a tenant transaction reports its tenant (`wrote`) when it starts and again once
 * it committed. From then on the tenant's reads go to the primary: first as `pending`, until the
 * next poll reads the primary's WAL position (necessarily at or past the commit, which came
 * before the poll began), then until the replica has replayed past that position. So a write
 * routes its tenant's reads to the primary for about one to two poll intervals plus the replay
 * lag. Only this instance's writes are known here: another instance (or the CLI, or a batched
 * background write) may have written something this instance's replica reads do not show yet,
 * for at most `maxLagMs`.
 *
 * Lag is measured in time from positions, not from `pg_last_xact_replay_timestamp()` (which grows
 * on an idle primary): each poll samples the primary's position; the lag is how long ago the
 * oldest sampled position the replica has not replayed was sampled, 0 when it has replayed every
 * one. A paused or stuck replica therefore shows its lag growing from the first write it missed.
 */
import type { Sql } from './client.js';

/** `X/Y` (pg_lsn as text) as one number, for comparing. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  if (high === undefined || low === undefined) throw new TypeError(`not an LSN: ${text}`);
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/**
 * `starting`: not reached yet; `streaming`: serving reads; `lagging`: reachable but more than
 * `maxLagMs` behind; `down`: not answering (or a read on it just failed); `promoted`: no longer in
 * recovery (a failover made it a primary: reads stay on the primary until it is a replica again);
 * `refused`: it failed the startup checks (a role that bypasses RLS, not a replica) when first reached.
 */
export type ReplicaState = 'starting' | 'streaming' | 'lagging' | 'down' | 'promoted' | 'refused';

export interface ReplicaStatus {
  state: ReplicaState;
  /** Whether reads go to it now (`streaming`). */
  serving: boolean;
  /** How far behind the primary it is (see the header); null while it is not reachable. */
  lagMs: number | null;
  maxLagMs: number;
  /** Its last replayed WAL position, as Postgres writes it. */
  replayLsn: string | null;
  /** Tenants whose reads go to the primary now because of their own recent writes. */
  tenantsOnPrimary: number;
  /** Why it is not serving, when it is not. */
  reason?: string;
  /** When the poller last heard from it (ISO time). */
  checkedAt: string | null;
  /** Tenant reads since start: sent to the replica, to the primary, and sent again to the primary after failing on the replica. */
  reads: { replica: number; primary: number; retried: number };
}

export interface ReplicaRouterOptions {
  /** The app role on the replica: the reads themselves. */
  replica: Sql;
  /** One connection on the replica for the poller. */
  replicaProbe: Sql;
  /** One connection on the primary for the poller. */
  primaryProbe: Sql;
  pollMs: number;
  maxLagMs: number;
  /**
   * Whether a failed replica read should be retried on the primary: the replica is unreachable,
   * saturated, or cancelled the read (a recovery conflict). Never for errors the read itself caused.
   */
  isReplicaFailure(error: unknown): boolean;
  /**
   * The startup checks (in recovery, the role cannot bypass RLS), run when the replica is first
   * reached if it was not reachable at startup: problems make it `refused` for good.
   */
  verify(replica: Sql): Promise<string[]>;
  /** For log lines when the state changes. */
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

/** Sampled primary positions kept while the replica is behind; past this the middle ones are thinned. */
const MAX_SAMPLES = 600;

export class ReplicaRouter {
  readonly replica: Sql;
  private readonly options: ReplicaRouterOptions;
  private readonly now: () => number;
  private state: ReplicaState = 'starting';
  private reason: string | undefined = 'not reached yet';
  private verified = false;
  /** Tenants that wrote since the last poll began: they wait for the next primary position. */
  private pending = new Set<string>();
  /** Tenants and the primary position the replica must replay before it serves them again. */
  private readonly waiting = new Map<string, bigint>();
  /** Primary positions the replica has not replayed yet, oldest first, with when they were seen. */
  private samples: { at: number; lsn: bigint }[] = [];
  private replayLsn: { text: string; lsn: bigint } | undefined;
  private lagMs: number | null = null;
  private lastHeardAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private readonly reads = { replica: 0, primary: 0, retried: 0 };

  constructor(options: ReplicaRouterOptions) {
    this.options = options;
    this.replica = options.replica;
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs the startup checks and the first poll. Throws the checks' problems; a replica that cannot
   * be reached is no reason to refuse to start (reads use the primary until it answers; the
   * checks run then), so that only logs.
   */
  async start(): Promise<{ problems: string[]; unreachable?: unknown }> {
    let problems: string[];
    try {
      problems = await this.options.verify(this.replica);
    } catch (error) {
      if (!this.options.isReplicaFailure(error)) throw error;
      this.markDown(error);
      this.schedule();
      return { problems: [], unreachable: error };
    }
    if (problems.length > 0) return { problems };
    this.verified = true;
    await this.poll();
    this.schedule();
    return { problems: [] };
  }

  /** Whether `tenantId`'s next read may go to the replica. */
  useReplica(tenantId: string): boolean {
    if (this.state !== 'streaming') return false;
    // A poller that stopped hearing back (a hung connection) must not keep the replica serving.
    if (this.lastHeardAt === undefined || this.now() - this.lastHeardAt > this.staleAfterMs()) return false;
    return !this.pending.has(tenantId) && !this.waiting.has(tenantId);
  }

  /** useReplica for a read about to be sent, counted (status().reads, /metrics). */
  route(tenantId: string): boolean {
    const replica = this.useReplica(tenantId);
    this.reads[replica ? 'replica' : 'primary']++;
    return replica;
  }

  /** `tenantId` wrote (or is writing) on the primary: its reads stay there until the replica has it. */
  wrote(tenantId: string): void {
    this.pending.add(tenantId);
  }

  /**
   * A read on the replica failed with `error`. True: retry it on the primary (and reads go there
   * until the next poll hears from the replica again); false: the error is the read's own.
   */
  readFailed(error: unknown): boolean {
    if (!this.options.isReplicaFailure(error)) return false;
    this.reads.retried++;
    this.markDown(error);
    return true;
  }

  status(): ReplicaStatus {
    const serving = this.state === 'streaming' && this.lastHeardAt !== undefined && this.now() - this.lastHeardAt <= this.staleAfterMs();
    const stale = this.state === 'streaming' && !serving;
    return {
      state: stale ? 'down' : this.state,
      serving,
      lagMs: this.state === 'streaming' || this.state === 'lagging' ? this.lagMs : null,
      maxLagMs: this.options.maxLagMs,
      replayLsn: this.replayLsn?.text ?? null,
      tenantsOnPrimary: new Set([...this.pending, ...this.waiting.keys()]).size,
      ...(stale ? { reason: `no answer from the replica for ${this.now() - this.lastHeardAt!} ms` } : this.reason ? { reason: this.reason } : {}),
      checkedAt: this.lastHeardAt === undefined ? null : new Date(this.lastHeardAt).toISOString(),
      reads: { ...this.reads },
    };
  }

  /** One poll now (tests; the timer calls it every `pollMs`). Concurrent calls share one. */
  poll(): Promise<void> {
    this.polling ??= this.runPoll().finally(() => (this.polling = undefined));
    return this.polling;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** Longer than this without an answer, and the replica counts as down whatever it last said. */
  private staleAfterMs(): number {
    return Math.max(this.options.maxLagMs, 5 * this.options.pollMs, 1_000);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, this.options.pollMs);
    this.timer.unref();
  }

  private async runPoll(): Promise<void> {
    const batch = this.pending;
    this.pending = new Set();
    const limit = this.staleAfterMs();
    const [primary, replica] = await Promise.allSettled([
      within(limit, this.options.primaryProbe<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`.execute()),
      this.pollReplica(limit),
    ]);
    const at = this.now();
    if (primary.status === 'fulfilled' && primary.value[0]) {
      const lsn = parseLsn(primary.value[0].lsn);
      for (const tenantId of batch) this.waiting.set(tenantId, max(this.waiting.get(tenantId), lsn));
      const last = this.samples.at(-1);
      if (!last || lsn > last.lsn) this.samples.push({ at, lsn });
      if (this.samples.length > MAX_SAMPLES) this.samples.splice(1, 1);
    } else {
      // Without the primary's position these tenants cannot be placed yet: keep them on the primary.
      for (const tenantId of batch) this.pending.add(tenantId);
    }
    if (replica.status === 'rejected') return this.markDown(replica.reason);
    const row = replica.value;
    if (row === 'refused') return;
    this.lastHeardAt = at;
    if (!row.recovery || row.lsn === null) {
      return this.setState('promoted', 'the replica is not in recovery (pg_is_in_recovery() is false): it is no longer a replica');
    }
    const replayed = parseLsn(row.lsn);
    this.replayLsn = { text: row.lsn, lsn: replayed };
    while (this.samples[0] && this.samples[0].lsn <= replayed) this.samples.shift();
    for (const [tenantId, lsn] of this.waiting) if (lsn <= replayed) this.waiting.delete(tenantId);
    this.lagMs = this.samples[0] ? at - this.samples[0].at : 0;
    if (this.lagMs > this.options.maxLagMs) this.setState('lagging', `replay is ${this.lagMs} ms behind the primary (READ_REPLICA_MAX_LAG_MS ${this.options.maxLagMs})`);
    else this.setState('streaming', undefined);
  }

  private async pollReplica(limit: number): Promise<{ recovery: boolean; lsn: string | null } | 'refused'> {
    if (this.state === 'refused') return 'refused';
    if (!this.verified) {
      const problems = await within(limit, this.options.verify(this.replica));
      if (problems.length > 0) {
        this.setState('refused', `READ_DATABASE_URL failed the startup checks: ${problems.join('; ')}`);
        return 'refused';
      }
      this.verified = true;
    }
    const [row] = await within(
      limit,
      this.options.replicaProbe<{ recovery: boolean; lsn: string | null }[]>`
        select pg_is_in_recovery() as recovery, pg_last_wal_replay_lsn()::text as lsn`.execute(),
    );
    if (!row) throw new Error('the replica answered no row');
    return row;
  }

  private markDown(error: unknown): void {
    if (this.state === 'refused') return;
    this.lagMs = null;
    this.setState('down', `the replica is not answering: ${error instanceof Error ? error.message : String(error)}`);
  }

  private setState(state: ReplicaState, reason: string | undefined): void {
    const before = this.state;
    this.state = state;
    this.reason = reason;
    if (before === state || !this.options.log) return;
    if (state === 'streaming') this.options.log('info', 'read replica serving reads', { lagMs: this.lagMs, was: before });
    else this.options.log(state === 'refused' ? 'error' : 'warn', 'read replica not serving reads: they go to the primary', { state, reason });
  }
}

function max(a: bigint | undefined, b: bigint): bigint {
  return a === undefined || b > a ? b : a;
}

/** `promise`, or a rejection after `ms`: a hung connection must not hold the poller. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

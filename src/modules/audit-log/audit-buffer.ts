/**
 * Tenant audit events for reads (`dataset.query`), written in batches instead of in the read's
 * own transaction: a read then stays one read-only statement (db/tenant-read.ts) and never waits
 * for a commit to disk. Each event keeps the time it happened. Changes are still audited in the
 * same transaction as the change (audit.service.ts); only reads take this path, and at most one
 * flush interval of them is lost if the process dies (and, since a flush's commit does not wait
 * for the disk, up to ~0.6 s of them if Postgres crashes: wal_writer_delay × 3).
 *
 * Repeats (`recordRepeat`: the same actor, from the same address, reading the same cache entry)
 * are folded, when the buffer is built with `foldRepeats`, into one row per flush that counts them
 * (`details.count`, `lastAt`, `lastRequestId`, `maxDurationMs`). A dashboard polling a cached
 * result then costs one insert per interval instead of one per request: a row per hit took a
 * fifth to a third off cached throughput in the bench (README, Performance). A single event is
 * written as it came.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Sql } from '../../../db/client.js';
import { auditEvents } from '../../../db/schema/index.js';
import { withTenant, writeEachTenant } from '../../../db/tenant-tx.js';
import { BatchWriter } from '../../platform/batch-writer.js';
import { silentLogger, type Logger } from '../../lib/log.js';
import { SQLSTATE, sqlState } from '../../lib/pg-errors.js';
import { eventValues, type Actor, type AuditEventInput } from './audit.service.js';

/**
 * One event as the JSON object the INSERT reads, serialized when recorded: held until the flush,
 * a string costs the garbage collector far less than the objects it was made from.
 */
type Row = string;

function serialize(actor: Actor, event: AuditEventInput, at: Date): Row {
  const v = eventValues(actor, event);
  return JSON.stringify({ at: at.toISOString(), action: v.action, actor_type: v.actorType, actor_id: v.actorId, target_type: v.targetType, target_id: v.targetId, request_id: v.requestId, source_ip: v.sourceIp, details: v.details });
}

/** Repeats of one event since the last flush: the first as it came, the rest counted. */
interface Fold {
  actor: Actor;
  event: AuditEventInput;
  at: Date;
  count: number;
  lastAt: Date;
  lastRequestId: string | null;
  maxDurationMs: number | undefined;
}

function durationOf(event: AuditEventInput): number | undefined {
  const ms = event.details?.durationMs;
  return typeof ms === 'number' ? ms : undefined;
}

function foldedRow(fold: Fold): Row {
  if (fold.count === 1) return serialize(fold.actor, fold.event, fold.at);
  const details = { ...fold.event.details, count: fold.count, lastAt: fold.lastAt.toISOString(), lastRequestId: fold.lastRequestId, maxDurationMs: fold.maxDurationMs ?? null };
  return serialize(fold.actor, { ...fold.event, details }, fold.at);
}

/** One tenant's events waiting for the next flush. */
interface Pending {
  rows: Row[];
  folds: Map<string, Fold>;
}

export interface AuditBufferOptions {
  /** Fold `recordRepeat` events as described above; false writes each one (AUDIT_CACHE_HITS=each). */
  foldRepeats?: boolean;
}

const BATCH_ROWS = 5000;

/** A tenant's rows as INSERTs of at most BATCH_ROWS rows each. */
function inserts(rows: Row[]): SQL[] {
  const out: SQL[] = [];
  for (let i = 0; i < rows.length; i += BATCH_ROWS) out.push(insertRows(rows.slice(i, i + BATCH_ROWS)));
  return out;
}

/**
 * One INSERT of many rows with a single jsonb parameter. `on conflict … do nothing` never fires
 * (ids are fresh uuids); on Citus it keeps the INSERT … SELECT off the COPY path, which row-level
 * security refuses. Drizzle's `values(rows)` builds a
 * parameter per cell, which cost ~5% of the CPU of every cached query at a few thousand reads per
 * second; tenant_id comes from the setting, as for every tenant insert.
 */
function insertRows(rows: Row[]): SQL {
  const json = `[${rows.join(',')}]`;
  return sql`insert into ${auditEvents} (at, action, actor_type, actor_id, target_type, target_id, request_id, source_ip, details)
    select at, action, actor_type, actor_id, target_type, target_id, request_id, source_ip, details
    from jsonb_to_recordset(${json}::jsonb) as r(at timestamptz, action text, actor_type text, actor_id text, target_type text, target_id text, request_id text, source_ip text, details jsonb)
    on conflict (tenant_id, id) do nothing`;
}

/** Events beyond this many per tenant between flushes are dropped (and counted in the log). */
const MAX_PENDING_PER_TENANT = 10_000;

export class AuditBuffer extends BatchWriter {
  private pending = new Map<string, Pending>();
  private dropped = 0;
  private readonly foldRepeats: boolean;

  constructor(
    private readonly pool: Sql,
    private readonly log: Logger = silentLogger,
    options: AuditBufferOptions = {},
  ) {
    super();
    this.foldRepeats = options.foldRepeats ?? true;
  }

  record(tenantId: string, actor: Actor, event: AuditEventInput, at: Date): void {
    const pending = this.pendingOf(tenantId);
    if (pending) pending.rows.push(serialize(actor, event, at));
  }

  /**
   * An event that may repeat: `key` names what was read (a cache key), so the same actor from
   * the same address reading the same thing again folds into the pending event.
   */
  recordRepeat(tenantId: string, actor: Actor, event: AuditEventInput, at: Date, key: string): void {
    if (!this.foldRepeats) return this.record(tenantId, actor, event, at);
    const foldKey = `${actor.type}\0${actor.id ?? ''}\0${actor.sourceIp ?? ''}\0${key}`;
    const fold = this.pending.get(tenantId)?.folds.get(foldKey);
    if (fold) {
      fold.count++;
      fold.lastAt = at;
      fold.lastRequestId = actor.requestId ?? null;
      const ms = durationOf(event);
      if (ms !== undefined && (fold.maxDurationMs === undefined || ms > fold.maxDurationMs)) fold.maxDurationMs = ms;
      return;
    }
    this.pendingOf(tenantId)?.folds.set(foldKey, { actor, event, at, count: 1, lastAt: at, lastRequestId: actor.requestId ?? null, maxDurationMs: durationOf(event) });
  }

  /** The tenant's pending events, or undefined (and one more dropped) when they are full. */
  private pendingOf(tenantId: string): Pending | undefined {
    let pending = this.pending.get(tenantId);
    if (!pending) this.pending.set(tenantId, (pending = { rows: [], folds: new Map() }));
    if (pending.rows.length + pending.folds.size >= MAX_PENDING_PER_TENANT) {
      this.dropped++;
      return undefined;
    }
    return pending;
  }

  /**
   * Every tenant's pending events, many tenants to a transaction (writeEachTenant), a few
   * transactions at a time. The commit does not wait for the WAL to reach the disk
   * (`synchronous_commit` off for that transaction only). A group that fails is written again
   * tenant by tenant: a tenant whose write still fails keeps its events for the next flush, unless
   * it no longer exists (they have nowhere to go); the first failure is rethrown once every tenant
   * was tried.
   */
  async flush(): Promise<void> {
    const batch = new Map<string, Row[]>();
    for (const [tenantId, pending] of this.pending) {
      const rows = pending.rows;
      for (const fold of pending.folds.values()) rows.push(foldedRow(fold));
      if (rows.length > 0) batch.set(tenantId, rows);
    }
    this.pending = new Map();
    if (this.dropped > 0) {
      this.log('warn', 'audit events dropped: more reads than the buffer holds between flushes', { dropped: this.dropped });
      this.dropped = 0;
    }
    const failures: unknown[] = [];
    await this.eachGroup(batch, {
      weight: (rows) => rows.length,
      groupFailed: (error, tenants) => this.log('warn', 'batched write failed; writing each tenant on its own', { tenants, error: String(error) }),
      group: (shares) => writeEachTenant(this.pool, new Map([...shares].map(([tenantId, rows]) => [tenantId, inserts(rows)])), { synchronousCommit: false }),
      one: async (tenantId, rows) => {
        try {
          await withTenant(this.pool, tenantId, async (tx) => {
            await Promise.all([tx.execute(sql`select set_config('synchronous_commit', 'off', true)`), ...inserts(rows).map((insert) => tx.execute(insert))]);
          });
        } catch (error) {
          if (sqlState(error) !== SQLSTATE.foreignKeyViolation) this.requeue(tenantId, rows);
          failures.push(error);
        }
      },
    });
    if (failures.length > 0) throw failures[0];
  }

  /** Folded events go back as the rows they became; they no longer fold with new repeats. */
  private requeue(tenantId: string, rows: Row[]): void {
    const now = this.pending.get(tenantId) ?? { rows: [], folds: new Map() };
    now.rows = [...rows, ...now.rows].slice(0, Math.max(0, MAX_PENDING_PER_TENANT - now.folds.size));
    this.pending.set(tenantId, now);
  }
}

/**
 * Tenant audit events for reads (`dataset.query`), written in batches instead of in the read's
 * own transaction: a read then stays one read-only statement (db/tenant-read.ts) and never waits
 * for a commit to disk. Each event keeps the time it happened. Changes are still audited in the
 * same transaction as the change (audit.service.ts); only reads take this path, and at most one
 * flush interval of them is lost if the process dies (and, since a flush's commit does not wait
 * for the disk, up to ~0.6 s of them if Postgres crashes: wal_writer_delay × 3).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Sql } from '../../db/client.js';
import { auditEvents } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { BatchWriter } from '../lib/batch-writer.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { SQLSTATE, sqlState } from '../lib/pg-errors.js';
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

const BATCH_ROWS = 5000;

/**
 * One INSERT of many rows with a single jsonb parameter. Drizzle's `values(rows)` builds a
 * parameter per cell, which cost ~5% of the CPU of every cached query at a few thousand reads per
 * second; tenant_id comes from the setting, as for every tenant insert.
 */
function insertRows(rows: Row[]): SQL {
  const json = `[${rows.join(',')}]`;
  return sql`insert into ${auditEvents} (at, action, actor_type, actor_id, target_type, target_id, request_id, source_ip, details)
    select at, action, actor_type, actor_id, target_type, target_id, request_id, source_ip, details
    from jsonb_to_recordset(${json}::jsonb) as r(at timestamptz, action text, actor_type text, actor_id text, target_type text, target_id text, request_id text, source_ip text, details jsonb)`;
}

/** Events beyond this many per tenant between flushes are dropped (and counted in the log). */
const MAX_PENDING_PER_TENANT = 10_000;

export class AuditBuffer extends BatchWriter {
  private pending = new Map<string, Row[]>();
  private dropped = 0;

  constructor(
    private readonly pool: Sql,
    private readonly log: Logger = silentLogger,
  ) {
    super();
  }

  record(tenantId: string, actor: Actor, event: AuditEventInput, at: Date): void {
    let rows = this.pending.get(tenantId);
    if (!rows) this.pending.set(tenantId, (rows = []));
    if (rows.length >= MAX_PENDING_PER_TENANT) {
      this.dropped++;
      return;
    }
    rows.push(serialize(actor, event, at));
  }

  /**
   * Each tenant's pending events in its own transaction, a few tenants at a time. The commit does
   * not wait for the WAL to reach the disk (`synchronous_commit` off for that transaction only):
   * with a thousand active tenants, one disk wait per tenant made a flush take many times its
   * interval. A tenant whose write fails keeps its events for the next flush, unless it no longer
   * exists (they have nowhere to go); the first failure is rethrown once every tenant was tried.
   */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    if (this.dropped > 0) {
      this.log('warn', 'audit events dropped: more reads than the buffer holds between flushes', { dropped: this.dropped });
      this.dropped = 0;
    }
    const failures: unknown[] = [];
    await this.eachTenant(batch, async (tenantId, rows) => {
      try {
        await withTenant(this.pool, tenantId, async (tx) => {
          // Built here, per tenant, so a flush holds one copy of a few tenants' rows, not of all.
          const inserts: SQL[] = [];
          for (let i = 0; i < rows.length; i += BATCH_ROWS) inserts.push(insertRows(rows.slice(i, i + BATCH_ROWS)));
          // Promise.all sends them at once, in this order, on the transaction's connection.
          await Promise.all([tx.execute(sql`select set_config('synchronous_commit', 'off', true)`), ...inserts.map((insert) => tx.execute(insert))]);
        });
      } catch (error) {
        if (sqlState(error) !== SQLSTATE.foreignKeyViolation) this.requeue(tenantId, rows);
        failures.push(error);
      }
    });
    if (failures.length > 0) throw failures[0];
  }

  private requeue(tenantId: string, rows: Row[]): void {
    const now = this.pending.get(tenantId) ?? [];
    this.pending.set(tenantId, [...rows, ...now].slice(0, MAX_PENDING_PER_TENANT));
  }
}

/**
 * `lastUsedAt` for API keys and sessions without a write on every request: requests only note
 * the time in memory, and `flush` writes each tenant's latest times in one statement per table,
 * under that tenant's setting (many tenants to a transaction, db/tenant-tx.ts writeEachTenant).
 * The server flushes on a timer and at shutdown, so at most one interval of precision is lost if
 * the process dies.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Sql } from '../../../db/client.js';
import { withTenant, writeEachTenant } from '../../../db/tenant-tx.js';
import type { TenantPrincipal } from './credentials.service.js';
import { BatchWriter } from '../../platform/batch-writer.js';

interface Pending {
  keys: Map<string, Date>;
  sessions: Map<string, Date>;
}

/**
 * One statement per table with noted times. greatest() ignores NULL, so the first use sets the
 * time and later ones only move it forward. One JSON parameter: Drizzle's pool serializers do not
 * send JS arrays.
 */
function updates(tenantId: string, entry: Pending): SQL[] {
  const out: SQL[] = [];
  for (const [table, times] of [['api_keys', entry.keys], ['sessions', entry.sessions]] as const) {
    if (times.size === 0) continue;
    const rows = JSON.stringify([...times].map(([id, at]) => ({ id, at: at.toISOString() })));
    out.push(sql`update ${sql.identifier(table)} t set last_used_at = greatest(t.last_used_at, u.at)
      from json_to_recordset(${rows}::json) as u(id uuid, at timestamptz) where t.tenant_id = ${tenantId}::uuid and t.id = u.id`);
  }
  return out;
}

export class LastUsedRecorder extends BatchWriter {
  private pending = new Map<string, Pending>();

  constructor(private readonly pool: Sql) {
    super();
  }

  note(principal: TenantPrincipal, at: Date): void {
    let entry = this.pending.get(principal.tenantId);
    if (!entry) this.pending.set(principal.tenantId, (entry = { keys: new Map(), sessions: new Map() }));
    if (principal.via === 'api_key') entry.keys.set(principal.keyId, at);
    else entry.sessions.set(principal.sessionId, at);
  }

  /** Writes everything noted so far. Failures are reported, not retried: it is only a hint. */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const failures: unknown[] = [];
    await this.eachGroup(batch, {
      weight: (entry) => entry.keys.size + entry.sessions.size,
      group: (shares) => writeEachTenant(this.pool, new Map([...shares].map(([tenantId, entry]) => [tenantId, updates(tenantId, entry)]))),
      one: (tenantId, entry) =>
        withTenant(this.pool, tenantId, async (tx) => {
          for (const update of updates(tenantId, entry)) await tx.execute(update);
        }).catch((error: unknown) => void failures.push(error)),
    });
    if (failures.length > 0) throw failures[0];
  }
}

/**
 * `lastUsedAt` for API keys and sessions without a write on every request: requests only note
 * the time in memory, and `flush` writes each tenant's latest times in one statement per table,
 * inside that tenant's own transaction. The server flushes on a timer and at shutdown, so at
 * most one interval of precision is lost if the process dies.
 */
import type { Sql } from '../../db/client.js';
import { withTenant } from '../../db/tenant-tx.js';
import type { TenantPrincipal } from './credentials.service.js';
import { BatchWriter } from '../lib/batch-writer.js';

interface Pending {
  keys: Map<string, Date>;
  sessions: Map<string, Date>;
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
    await Promise.all(
      [...batch].map(([tenantId, entry]) =>
        withTenant(this.pool, tenantId, async (tx) => {
          for (const [table, times] of [['api_keys', entry.keys], ['sessions', entry.sessions]] as const) {
            if (times.size === 0) continue;
            // greatest() ignores NULL, so the first use sets the time and later ones only move it
            // forward. One JSON parameter: Drizzle's pool serializers do not send JS arrays.
            const rows = JSON.stringify([...times].map(([id, at]) => ({ id, at: at.toISOString() })));
            await tx.$client.unsafe(
              `update ${table} t set last_used_at = greatest(t.last_used_at, u.at)
               from json_to_recordset($1::json) as u(id uuid, at timestamptz) where t.id = u.id`,
              [rows],
            );
          }
        }),
      ),
    );
  }

}

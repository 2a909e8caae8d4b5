/**
 * Postgres tells every instance what changed: migration 0012's triggers send a NOTIFY on
 * `palisade_changes` when a credential stops being what it was or a tenant's data changes, from
 * the API, the CLI or psql alike, and only if the change commits. Each instance LISTENs on one
 * dedicated connection (postgres.js `listen`, outside the pool) and hands each change to its
 * caches. No Redis needed: without it, this is how a revoke on one instance reaches the others.
 *
 * The listening connection reconnects by itself (postgres.js re-LISTENs after a drop, with the
 * pool's backoff). Notifications sent while it was down are lost, so every reconnect after the
 * first LISTEN reports `missed` and the caches start over.
 */
import type { Sql } from '../../db/client.js';
import type { Logger } from '../lib/log.js';

/** The channel migration 0012's triggers notify on. */
export const CHANGE_CHANNEL = 'palisade_changes';

/** Which credentials a change may have invalidated (any field matching drops a cached one). */
export interface ChangedCredential {
  tenantId?: string;
  keyId?: string;
  sessionId?: string;
  userId?: string;
}

export type Change =
  | { kind: 'credentials'; change: ChangedCredential }
  /** `tenantId` null: every tenant (a TRUNCATE). */
  | { kind: 'data'; tenantId: string | null };

export interface ChangeHandlers {
  credentials(change: ChangedCredential): void;
  /** `origin`: the application_name of the session that made the change. */
  data(tenantId: string | null, origin: string | undefined): void | Promise<void>;
  /** Notifications may have been lost (the listening connection dropped): forget everything. */
  missed(): void | Promise<void>;
}

export interface ChangeFeedOptions {
  log: Logger;
  /** This instance's application_name: changes it made itself were already applied after commit. */
  origin?: string;
}

const CREDENTIAL_FIELDS = ['tenantId', 'keyId', 'sessionId', 'userId'] as const;

/** The change and its origin, or undefined for a payload this version cannot read. */
export function parseChange(payload: string): { change: Change; origin: string | undefined } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, origin } = value as { kind?: unknown; origin?: unknown };
  const from = typeof origin === 'string' ? origin : undefined;
  if (kind === 'data') {
    const { tenantId } = value as { tenantId?: unknown };
    if (tenantId !== null && typeof tenantId !== 'string') return undefined;
    return { change: { kind, tenantId }, origin: from };
  }
  if (kind !== 'credentials') return undefined;
  const raw = (value as { change?: unknown }).change;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const change: ChangedCredential = {};
  for (const field of CREDENTIAL_FIELDS) {
    const v = (raw as Record<string, unknown>)[field];
    if (typeof v === 'string') change[field] = v;
  }
  if (Object.keys(change).length === 0) return undefined;
  return { change: { kind, change }, origin: from };
}

/**
 * Sends changes on the channel as migration 0012's triggers would, for Citus, where the triggers
 * cannot run (triggers on shards would fire on the workers). Called after commit with what the
 * server or the CLI changed; psql changes are not covered there. Never throws: the change is made.
 */
export async function announceChanges(sql: Sql, changes: readonly Change[], origin: string | undefined, log: Logger): Promise<void> {
  if (changes.length === 0) return;
  const payloads = changes.map((change) => JSON.stringify({ ...change, origin }));
  try {
    await sql`select pg_notify(${CHANGE_CHANNEL}, payload) from unnest(${payloads}::text[]) as payload`;
  } catch (error) {
    log('warn', 'could not announce a change to the other instances; they see it when their cached entries expire', { error: String(error) });
  }
}

/** One instance's subscription. `close` stops it; the pool's `end` closes its connection. */
export class ChangeFeed {
  private listens = 0;
  private unlisten: (() => Promise<void>) | undefined;
  private closed = false;
  private readonly started: Promise<void>;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Sql,
    private readonly handlers: ChangeHandlers,
    private readonly options: ChangeFeedOptions,
  ) {
    this.started = this.subscribe();
  }

  /** Resolves once the first LISTEN is in place (or failed, logged; it is retried every second). */
  ready(): Promise<void> {
    return this.started;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.started;
    await this.unlisten?.().catch(() => undefined);
  }

  /**
   * postgres.js re-LISTENs by itself after a drop, but not after a first LISTEN that failed: that
   * one is retried here, and since changes went unheard meanwhile, it counts as a reconnect.
   */
  private async subscribe(failures = 0): Promise<void> {
    try {
      const subscription = await this.pool.listen(CHANGE_CHANNEL, (payload) => this.receive(payload), () => this.onListen());
      this.unlisten = subscription.unlisten;
      if (this.closed) await subscription.unlisten().catch(() => undefined);
    } catch (error) {
      if (this.closed) return;
      // The server still serves; meanwhile cached entries age out by their TTL.
      if (failures === 0) this.options.log('error', 'could not LISTEN for changes; retrying every second, other instances’ revocations and writes are seen when cached entries expire', { error: String(error) });
      this.listens = Math.max(this.listens, 1);
      this.retryTimer = setTimeout(() => void this.subscribe(failures + 1), 1_000);
      this.retryTimer.unref();
    }
  }

  private onListen(): void {
    if (this.listens++ === 0) return;
    this.options.log('warn', 'change feed reconnected; dropping cached credentials and results, changes made meanwhile were not heard');
    void this.apply(() => this.handlers.missed());
  }

  private receive(payload: string): void {
    const parsed = parseChange(payload);
    if (!parsed) {
      // Fail towards freshness: whatever it meant, drop everything.
      this.options.log('warn', 'unreadable change notification; dropping cached credentials and results', { payload: payload.slice(0, 200) });
      void this.apply(() => this.handlers.missed());
      return;
    }
    if (parsed.origin !== undefined && parsed.origin === this.options.origin) return;
    const { change } = parsed;
    if (change.kind === 'credentials') this.handlers.credentials(change.change);
    else void this.apply(() => this.handlers.data(change.tenantId, parsed.origin));
  }

  private async apply(handler: () => void | Promise<void>): Promise<void> {
    try {
      await handler();
    } catch (error) {
      this.options.log('warn', 'could not apply a change notification', { error: String(error) });
    }
  }
}

/**
 * What the server knows about its database between requests: the readiness probe behind /readyz,
 * and the outage state that logs an outage once, not once per refused request.
 *
 * The probe runs `select 1` on a connection of its own (index.ts opens a one-connection pool for
 * it), so a saturated app pool cannot hold /readyz up, and answers within `timeoutMs` whatever
 * the database does; concurrent probes share one query. The first request refused because the
 * database is unreachable (or the probe failing) starts an outage: one log line, then the probe
 * runs every `reprobeMs`. The outage ends once the probe has succeeded for `settleMs` with no
 * request refused meanwhile (the app pool reconnects a moment after the probe's connection does;
 * its last refusals belong to the same outage), with a second line: when the database answered
 * again, how long it was away, how many requests were refused. Requests refused because no
 * pooled connection became free in time (DATABASE_BUSY) are a saturation, not an outage: logged
 * at most once per `busyLogMs`, with their count.
 */
import type { Sql } from '../../db/client.js';
import type { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export interface DatabaseHealthOptions {
  /** Where the probe runs: a pool of its own (index.ts), or the app pool in tests. */
  sql: Sql;
  log: Logger;
  /** The longest a probe may take; past it the database counts as unreachable. Default 800 ms. */
  timeoutMs?: number;
  /** How often the probe runs during an outage, to notice its end. Default 500 ms. */
  reprobeMs?: number;
  /** How long the probe must have succeeded, with no refusal meanwhile, to end an outage. Default 1 s. */
  settleMs?: number;
  /** At most one DATABASE_BUSY log line per this many ms. Default 10 s. */
  busyLogMs?: number;
}

export type ProbeResult = { ok: true } | { ok: false; error: unknown };

export class DatabaseHealth {
  private readonly sql: Sql;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly reprobeMs: number;
  private readonly settleMs: number;
  private readonly busyLogMs: number;
  private probing: Promise<ProbeResult> | undefined;
  /** `answering`: since when the probe has succeeded with no request refused. */
  private outage: { since: number; refused: number; answering: number | undefined } | undefined;
  private reprobe: NodeJS.Timeout | undefined;
  private busy = { loggedAt: -Infinity, refused: 0 };
  private closed = false;

  constructor(options: DatabaseHealthOptions) {
    this.sql = options.sql;
    this.log = options.log;
    this.timeoutMs = options.timeoutMs ?? 800;
    this.reprobeMs = options.reprobeMs ?? 500;
    this.settleMs = options.settleMs ?? 1_000;
    this.busyLogMs = options.busyLogMs ?? 10_000;
  }

  /** True from the first unreachable-database failure until the outage has ended (see above). */
  get unavailable(): boolean {
    return this.outage !== undefined;
  }

  /** `select 1` on the probe's connection, settled within `timeoutMs`; ends or starts an outage. */
  probe(): Promise<ProbeResult> {
    this.probing ??= this.runProbe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  /**
   * A request was answered 503. Only the database's reasons (DATABASE_*) concern it: a tenant's
   * full bulkhead (TENANT_BUSY) or a shutdown says nothing about the database.
   */
  noteRefused(error: AppError, requestId?: string): void {
    if (error.reason === 'DATABASE_BUSY') return this.noteBusy(error, requestId);
    if (error.reason !== 'DATABASE_UNAVAILABLE') return;
    if (!this.outage) this.startOutage(error.cause ?? error, requestId);
    this.outage!.refused++;
    this.outage!.answering = undefined;
  }

  /** Stops the probing that an outage started (shutdown). */
  close(): void {
    this.closed = true;
    clearTimeout(this.reprobe);
  }

  private async runProbe(): Promise<ProbeResult> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the readiness probe got no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([this.sql`select 1`.execute(), timedOut]);
      this.answered();
      return { ok: true };
    } catch (error) {
      if (this.outage) this.outage.answering = undefined;
      else this.startOutage(error);
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  private startOutage(error: unknown, requestId?: string): void {
    this.outage = { since: Date.now(), refused: 0, answering: undefined };
    this.log('error', 'database unavailable: answering 503 DATABASE_UNAVAILABLE until it is back', { requestId, error: String(error) });
    this.scheduleReprobe();
  }

  /** The probe succeeded: during an outage, the outage ends once that has lasted `settleMs`. */
  private answered(): void {
    if (!this.outage) return;
    const now = Date.now();
    this.outage.answering ??= now;
    if (now - this.outage.answering < this.settleMs) return;
    const { since, refused, answering } = this.outage;
    this.outage = undefined;
    clearTimeout(this.reprobe);
    this.reprobe = undefined;
    this.log('info', 'database available again', { answeringSince: new Date(answering).toISOString(), outageMs: answering - since, refused });
  }

  /** Probes every `reprobeMs` while the outage lasts. */
  private scheduleReprobe(): void {
    if (this.closed || this.reprobe) return;
    this.reprobe = setTimeout(() => {
      this.reprobe = undefined;
      void this.probe().then(() => {
        if (this.outage) this.scheduleReprobe();
      });
    }, this.reprobeMs);
    // Never what keeps the process alive.
    this.reprobe.unref();
  }

  private noteBusy(error: AppError, requestId?: string): void {
    this.busy.refused++;
    const now = Date.now();
    if (now - this.busy.loggedAt < this.busyLogMs) return;
    this.log('warn', 'database pool saturated: requests waited longer than DB_CONNECT_WAIT_MS for a connection (503 DATABASE_BUSY)', {
      requestId,
      refused: this.busy.refused,
      error: String(error.cause ?? error),
    });
    this.busy = { loggedAt: now, refused: 0 };
  }
}

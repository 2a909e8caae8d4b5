/**
 * One round trip, and no parse or plan, for a one-statement tenant read. `withTenant` costs two
 * round trips (BEGIN · setting · statement, then COMMIT) and a reserved connection; a read that is
 * a single statement needs neither. It goes out as ONE simple-protocol message:
 *
 *   [prepare palisade_rN as <the statement, with $1…$n>;]          first use on this connection
 *   set local app.tenant_id = '<uuid>'; [set local statement_timeout = N;]
 *   execute palisade_rN(<the parameters as literals (sql-literal.ts)>)
 *
 * Postgres runs the statements of one simple Query message as one implicit transaction block, in
 * which SET LOCAL takes effect (as `set_config(…, true)` in withTenant does): the setting applies
 * to the statement after it and is gone when the message ends, whether the statement succeeded or
 * not. SET answers no row, so the driver parses one result set per read, not two. Nothing here opens a
 * transaction that could outlive the message, so messages of different tenants may be pipelined
 * on one connection: each carries its own setting, none inherits another's.
 *
 * Prepared statements belong to a connection, so the reader owns its connections: one postgres.js
 * client of one connection per slot (it reconnects by itself; a reconnected slot answers 26000 for
 * a name it no longer has, and the read is re-sent once with PREPARE). Statements are kept per
 * slot in LRU order and deallocated when evicted. Parameters are declared with the types
 * postgres.js would bind them as; a statement Postgres still cannot prepare (42P18 and friends)
 * is sent inlined from then on, as a plain one-message read.
 *
 * `read` gives its callback a Drizzle handle of its own (db/scoped-handle.ts) that accepts exactly
 * one statement: a second one is refused (it would run without the setting), and so is any use
 * after `read` returned; multi-statement work must use withTenant. `query` and `values` take SQL
 * text and parameters directly, for callers that build their own (dataset queries, compiled
 * selects): no Drizzle in between.
 */
import { drizzleOver, openPool, type Db, type Sql } from './client.js';
import { scopedHandle } from './scoped-handle.js';
import { inlineParameters, sqlLiteral } from './sql-literal.js';
import { assertTenantId } from './tenant-tx.js';

export class SingleStatementError extends Error {
  constructor() {
    super('a tenant read runs exactly one statement; use withTenant for more');
  }
}

type Rows = Record<string, unknown>[];
type Mode = 'rows' | 'values';

interface Read {
  setting: string;
  sent: boolean;
  /** False once `read` has returned: a handle kept past it refuses. */
  open: boolean;
}

export interface ReadOptions {
  /** Set for this read only (SET LOCAL), in the same message. */
  statementTimeoutMs?: number;
}

interface Slot {
  sql: Sql;
  inflight: number;
  /** Parameter types and statement text → prepared name, least recently used first. */
  statements: Map<string, string>;
  /** Evicted names to deallocate in the slot's next message. */
  evicted: string[];
  /** The slot's prepared statements are unknown (a failed PREPARE, a reconnect): drop them all first. */
  reset: boolean;
}

export interface TenantReaderOptions {
  /** Connections the reader owns (each pipelines any number of reads). Default 4. */
  connections?: number;
  /** Prepared statements kept per connection. Default 256. */
  statementsPerConnection?: number;
  applicationName?: string;
}

/** SQLSTATEs meaning "this text cannot be prepared untyped", answered by sending it inlined. */
const UNPREPARABLE = new Set(['42P18', '42725', '42804', '42883']);
const MAX_UNPREPARABLE = 1000;

let names = 0;

const outsideRead = () => Promise.reject(new Error('this handle only works inside TenantReader.read'));

export class TenantReader {
  private readonly slots: Slot[];
  private readonly db: Db;
  private readonly capacity: number;
  private readonly unpreparable = new Set<string>();
  private turn = 0;

  constructor(url: string, options: TenantReaderOptions = {}) {
    const connections = Math.max(1, options.connections ?? 4);
    this.capacity = Math.max(1, options.statementsPerConnection ?? 256);
    this.slots = Array.from({ length: connections }, () => ({
      sql: openPool(url, { max: 1, applicationName: options.applicationName ?? 'palisade-read' }),
      inflight: 0,
      statements: new Map<string, string>(),
      evicted: [],
      reset: false,
    }));
    // One Drizzle instance for every read (building one per request costs more than the query),
    // over a client that refuses: each read gets a scoped handle of it (db/scoped-handle.ts).
    this.db = drizzleOver(readClient(this.slots[0]!.sql, outsideRead));
    // Drizzle installs its parsers (dates as text, which its columns map) on the client it wraps;
    // every slot answers reads, so every slot must parse alike.
    const { parsers, serializers } = this.slots[0]!.sql.options;
    for (const slot of this.slots.slice(1)) {
      Object.assign(slot.sql.options.parsers, parsers);
      Object.assign(slot.sql.options.serializers, serializers);
    }
  }

  /** Runs `fn`'s one statement for `tenantId` in a single round trip. */
  async read<T>(tenantId: string, fn: (db: Db) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    const read: Read = { setting: settingFor(tenantId, options), sent: false, open: true };
    const client = readClient(this.slots[0]!.sql, (text, params, mode) => this.sendInRead(read, text, params, mode));
    try {
      // Awaited here: Drizzle builders are lazy thenables and run when awaited, which must happen
      // while the read is open.
      return await fn(scopedHandle(this.db, client));
    } finally {
      read.open = false;
    }
  }

  /** Runs one statement (`text` with $1…$n) for `tenantId` in a single round trip; its rows as objects. */
  async query(tenantId: string, text: string, params: unknown[], options: ReadOptions = {}): Promise<Rows> {
    return this.send(settingFor(tenantId, options), text, params, 'rows');
  }

  /** As `query`, each row as an array of its values in select-list order (db/compiled-select.ts). */
  async values(tenantId: string, text: string, params: unknown[], options: ReadOptions = {}): Promise<unknown[][]> {
    return (await this.send(settingFor(tenantId, options), text, params, 'values')) as unknown as unknown[][];
  }

  /** Prepared statements held per connection (tests read it). */
  preparedCounts(): number[] {
    return this.slots.map((s) => s.statements.size);
  }

  async end(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.sql.end({ timeout: 5 })));
  }

  /** The Drizzle handle's one statement, in its read. */
  private sendInRead(read: Read, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    // After the read there is no tenant: refuse rather than run unscoped.
    if (!read.open) return outsideRead();
    if (read.sent) return Promise.reject(new SingleStatementError());
    read.sent = true;
    return this.send(read.setting, text, params, mode);
  }

  private async send(setting: string, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    const slot = this.pick();
    // Typed as postgres.js would bind them, so a statement means what it means through the pool.
    const types = params.map(parameterType);
    const key = `${types.join(',')}|${text}`;
    if (this.unpreparable.has(key)) return run(slot, `${setting}${inlineParameters(text, params)}`, mode);
    // Throws before anything is sent when a value cannot be a literal.
    const args = params.length ? `(${params.map(sqlLiteral).join(', ')})` : '';
    const declared = params.length ? ` (${types.join(', ')})` : '';
    for (let attempt = 0; ; attempt++) {
      const { head, name, prepared } = this.statementFor(slot, key, (n) => `prepare ${n}${declared} as ${text}; `);
      try {
        return await run(slot, `${head}${setting}execute ${name}${args}`, mode);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (prepared || code === '26000') this.forget(slot);
        if (attempt > 0) throw error;
        if (code === '26000') continue; // the connection was replaced and lost its statements
        if (prepared && code && UNPREPARABLE.has(code)) {
          const rows = await run(slot, `${setting}${inlineParameters(text, params)}`, mode);
          if (this.unpreparable.size < MAX_UNPREPARABLE) this.unpreparable.add(key);
          return rows;
        }
        throw error;
      }
    }
  }

  /** The slot with the fewest reads in flight, ties taken in turn. */
  private pick(): Slot {
    const n = this.slots.length;
    const start = this.turn++ % n;
    let best = this.slots[start]!;
    for (let k = 1; k < n && best.inflight > 0; k++) {
      const slot = this.slots[(start + k) % n]!;
      if (slot.inflight < best.inflight) best = slot;
    }
    return best;
  }

  /** The prepared name for `key` on `slot`, and what must precede its EXECUTE in the message. */
  private statementFor(slot: Slot, key: string, prepare: (name: string) => string): { head: string; name: string; prepared: boolean } {
    let head = slot.reset ? 'deallocate all; ' : '';
    slot.reset = false;
    for (const name of slot.evicted.splice(0)) head += `deallocate ${name}; `;
    const known = slot.statements.get(key);
    if (known) {
      slot.statements.delete(key);
      slot.statements.set(key, known);
      return { head, name: known, prepared: false };
    }
    const name = `palisade_r${++names}`;
    slot.statements.set(key, name);
    if (slot.statements.size > this.capacity) {
      const [oldestText, oldestName] = slot.statements.entries().next().value!;
      slot.statements.delete(oldestText);
      slot.evicted.push(oldestName);
    }
    // Pipelined after us on this connection, later reads of `key` may EXECUTE `name` at once.
    return { head: head + prepare(name), name, prepared: true };
  }

  /**
   * After a failed PREPARE (or DEALLOCATE) the slot's statements are unknown: forget them and let
   * the next message drop whatever the server holds. Reads already sent ran before that message.
   */
  private forget(slot: Slot): void {
    slot.statements.clear();
    slot.evicted = [];
    slot.reset = true;
  }
}

/** The statements that open a read, each ending in `; `. */
function settingFor(tenantId: string, options: ReadOptions): string {
  assertTenantId(tenantId);
  // Validated above, so the id can be a literal; the timeout is an integer we format.
  let setting = `set local app.tenant_id = '${tenantId}'; `;
  if (options.statementTimeoutMs !== undefined) setting += `set local statement_timeout = ${Math.max(1, Math.floor(options.statementTimeoutMs))}; `;
  return setting;
}

/** The type postgres.js binds a value as (its inferType); `unknown` lets Postgres infer it from context. */
function parameterType(value: unknown): string {
  if (value instanceof Date) return 'timestamptz';
  if (value === true || value === false) return 'boolean';
  if (typeof value === 'bigint') return 'bigint';
  return 'unknown';
}

/** The message answers one result per statement; callers (Drizzle) want the last one. */
async function run(slot: Slot, message: string, mode: Mode): Promise<Rows> {
  slot.inflight++;
  try {
    const query = slot.sql.unsafe(message);
    const results = (mode === 'values' ? await query.values() : await query) as unknown as Rows[];
    return results.at(-1)!;
  } finally {
    slot.inflight--;
  }
}

/** What Drizzle sees as its client: `unsafe(text, params)` goes to `send`, as objects or arrays. */
function readClient(base: Sql, send: (text: string, params: unknown[], mode: Mode) => Promise<Rows>): Sql {
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (text: string, params: unknown[] = []) => ({
          then<A, B>(resolve?: (rows: Rows) => A, reject?: (error: unknown) => B) {
            return send(text, params, 'rows').then(resolve, reject);
          },
          values() {
            return send(text, params, 'values');
          },
        });
      }
      if (prop === 'begin' || prop === 'reserve') {
        return () => {
          throw new Error('a tenant read runs one statement; use withTenant for transactions');
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    // `db.$client\`…\`` would run on the connection without the setting: refused, not silently unscoped.
    apply() {
      throw new Error('tenant read: use the Drizzle handle (db.select/db.execute), not db.$client');
    },
  }) as unknown as Sql;
}

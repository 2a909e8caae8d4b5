/**
 * One round trip, and no parse or plan, for a one-statement tenant read. `withTenant` costs two
 * round trips (BEGIN · setting · statement, then COMMIT) and a reserved connection; a read that is
 * a single statement needs neither. It goes out as ONE flight of the extended query protocol on a
 * connection of the reader's own (db/pg-wire.ts):
 *
 *   [Close evicted statements]  [Parse palisade_rN + Describe]             first use on this connection
 *   Bind/Execute palisade_tenant('<uuid>'[, timeout])       set_config('app.tenant_id', $1, true) …
 *   Bind/Execute palisade_rN(<the parameters, bound>)
 *   Sync
 *
 * Everything before one Sync runs in one implicit transaction, so the setting (transaction-local,
 * as withTenant's) applies to the statement after it and is gone at the Sync, whether the
 * statement succeeded or not; after an error Postgres skips the rest of the flight, up to the
 * Sync. Nothing here opens a transaction that could outlive the flight (a connection left in one
 * is closed: pg-wire.ts), so flights of different tenants may be pipelined on one connection: each
 * carries its own setting, none inherits another's. The tenant id is validated as a uuid and bound.
 *
 * Prepared statements belong to a connection, so the reader owns its connections (one per slot;
 * a lost one is replaced on the next read, and its statements are prepared again). Statements
 * are kept per slot in LRU order and closed when evicted. Parameters are declared with the types
 * postgres.js would bind them as; a statement Postgres still cannot prepare (42P18 and friends)
 * is sent unnamed with its parameters inlined from then on. Rows are decoded with the parsers of
 * a postgres.js client (Drizzle's, and the array types it fetched), so a value reads the same as
 * through the pool.
 *
 * `read` gives its callback a Drizzle handle of its own (db/scoped-handle.ts) that accepts exactly
 * one statement: a second one is refused (it would run without the setting), and so is any use
 * after `read` returned; multi-statement work must use withTenant. `query` and `values` take SQL
 * text and parameters directly, for callers that build their own (dataset queries, compiled
 * selects): no Drizzle in between.
 */
import { drizzleOver, openPool, type Db, type Sql } from './client.js';
import { bind, closeStatement, describe, execute, MSG, parse, postgresError, readRowDescription, sync, WireConnection, Writer, type WireColumn } from './pg-wire.js';
import { scopedHandle } from './scoped-handle.js';
import { inlineParameters, parameterText } from './sql-literal.js';
import { assertTenantId } from './tenant-tx.js';

export class SingleStatementError extends Error {
  constructor() {
    super('a tenant read runs exactly one statement; use withTenant for more');
  }
}

type Rows = Record<string, unknown>[];
type Mode = 'rows' | 'values';

/** The tenant (a validated uuid) and the statement timeout a read sets for itself. */
interface Setting {
  tenantId: string;
  /** Milliseconds, as text; undefined leaves the server's setting. */
  timeout: string | undefined;
}

interface Read {
  setting: Setting;
  sent: boolean;
  /** False once `read` has returned: a handle kept past it refuses. */
  open: boolean;
}

export interface ReadOptions {
  /** Set for this read only (transaction-local), in the same flight. */
  statementTimeoutMs?: number;
}

/** A statement prepared on one connection; its columns arrive with the answer to its Describe. */
interface Statement {
  name: string;
  columns: WireColumn[] | undefined;
  /** Built at its first row, per mode: the columns' parsers looked up once, not per read. */
  decoders?: Partial<Record<Mode, RowDecoder>>;
  /** Its Parse failed: the reason, for the reads pipelined behind it (they answer 26000). */
  failed?: Error;
}

interface Slot {
  conn: WireConnection;
  /** The connection generation `statements` belong to. */
  generation: number;
  inflight: number;
  /** Parameter types and statement text → prepared statement, least recently used first. */
  statements: Map<string, Statement>;
  /** Evicted names to close in the slot's next flight. */
  evicted: string[];
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

/** The setting statements, prepared on every reader connection as it opens. */
const SET_TENANT = 'palisade_tenant';
const SET_TENANT_TIMEOUT = 'palisade_tenant_timeout';
const TEXT_OID = 25;
const INIT = (() => {
  const w = new Writer();
  parse(w, SET_TENANT, "select set_config('app.tenant_id', $1, true)", [TEXT_OID]);
  parse(w, SET_TENANT_TIMEOUT, "select set_config('app.tenant_id', $1, true), set_config('statement_timeout', $2, true)", [TEXT_OID, TEXT_OID]);
  return Buffer.from(sync(w).bytes());
})();

let names = 0;

const outsideRead = () => Promise.reject(new Error('this handle only works inside TenantReader.read'));

export class TenantReader {
  private readonly slots: Slot[];
  /** postgres.js, only for its parsers (Drizzle's and the array types it fetches): never queried by reads. */
  private readonly types: Sql;
  private typesReady = false;
  private typesLoading: Promise<void> | undefined;
  private readonly db: Db;
  private readonly capacity: number;
  private readonly unpreparable = new Set<string>();
  private turn = 0;

  constructor(url: string, options: TenantReaderOptions = {}) {
    const connections = Math.max(1, options.connections ?? 4);
    const applicationName = options.applicationName ?? 'palisade-read';
    this.capacity = Math.max(1, options.statementsPerConnection ?? 256);
    this.slots = Array.from({ length: connections }, () => ({
      conn: new WireConnection(url, { applicationName, init: INIT }),
      generation: 0,
      inflight: 0,
      statements: new Map<string, Statement>(),
      evicted: [],
    }));
    this.types = openPool(url, { max: 1, applicationName });
    // One Drizzle instance for every read (building one per request costs more than the query),
    // over a client that refuses: each read gets a scoped handle of it (db/scoped-handle.ts).
    // Building it installs Drizzle's parsers (dates as text, which its columns map) on `types`.
    this.db = drizzleOver(readClient(this.types, outsideRead));
  }

  /** Runs `fn`'s one statement for `tenantId` in a single round trip. */
  async read<T>(tenantId: string, fn: (db: Db) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    const read: Read = { setting: settingFor(tenantId, options), sent: false, open: true };
    const client = readClient(this.types, (text, params, mode) => this.sendInRead(read, text, params, mode));
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
    await Promise.all([...this.slots.map((s) => s.conn.end()), this.types.end({ timeout: 5 })]);
  }

  /** The Drizzle handle's one statement, in its read. */
  private sendInRead(read: Read, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    // After the read there is no tenant: refuse rather than run unscoped.
    if (!read.open) return outsideRead();
    if (read.sent) return Promise.reject(new SingleStatementError());
    read.sent = true;
    return this.send(read.setting, text, params, mode);
  }

  private async send(setting: Setting, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    // Once per reader: postgres.js fetches the server's array types on its first connection.
    if (!this.typesReady) await (this.typesLoading ??= this.loadTypes());
    // Typed as postgres.js would bind them, so a statement means what it means through the pool.
    const types = params.map(parameterType);
    // Untyped parameters (the common case) key by the text alone: no string built per read.
    const key = types.some((t) => t !== 0) ? `${types.join(',')}|${text}` : text;
    // Throws before anything is sent when a value cannot be bound.
    const values = params.map(parameterText);
    for (let attempt = 0; ; attempt++) {
      const slot = this.pick();
      if (this.unpreparable.has(key)) return this.run(slot, setting, inlineParameters(text, params), mode);
      const { statement, prepared } = this.statementFor(slot, key);
      try {
        return await this.flight(slot, setting, mode, statement, prepared ? { text, types } : undefined, values);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (statement.failed || code === '26000') this.forget(slot, key, statement);
        // Its Parse failed (in this flight or one before it): that is the answer, unless Postgres
        // only could not infer a parameter's type, which the inlined statement settles.
        const failed = statement.failed;
        if (failed) {
          if (!UNPREPARABLE.has((failed as { code?: string }).code ?? '')) throw failed;
          if (this.unpreparable.size < MAX_UNPREPARABLE) this.unpreparable.add(key);
          return this.run(this.pick(), setting, inlineParameters(text, params), mode);
        }
        // The connection was replaced under it and lost its statements: prepare again, once.
        if (code === '26000' && attempt === 0) continue;
        throw error;
      }
    }
  }

  private async loadTypes(): Promise<void> {
    try {
      await this.types`select 1`;
      this.typesReady = true;
      // Its parsers are all we need of it: no idle connection kept for them.
      await this.types.end({ timeout: 5 });
    } catch (error) {
      this.typesLoading = undefined;
      throw error;
    }
  }

  /** Statement `statement` of `slot` (prepared first when `prepare` is given) for `setting`, in one flight. */
  private async flight(slot: Slot, setting: Setting, mode: Mode, statement: Statement, prepare: { text: string; types: number[] } | undefined, values: (string | null)[]): Promise<Rows> {
    const w = new Writer();
    for (const name of slot.evicted.splice(0)) closeStatement(w, name);
    if (prepare) describe(parse(w, statement.name, prepare.text, prepare.types), 'S', statement.name);
    bindSetting(w, setting);
    execute(bind(w, statement.name, values));
    return this.exchange(slot, sync(w).bytes(), {
      decoder: (parsers) => (statement.decoders ??= {})[mode] ??= rowDecoder(statement.columns ?? [], parsers, mode),
      describe: (columns) => (statement.columns = columns),
      parseFailed: prepare ? (error) => (statement.failed = error) : undefined,
    });
  }

  /** `text` with its parameters inlined, as an unnamed statement: for what cannot be prepared untyped. */
  private run(slot: Slot, setting: Setting, text: string, mode: Mode): Promise<Rows> {
    const w = new Writer();
    bindSetting(w, setting);
    describe(bind(parse(w, '', text, []), '', []), 'P', '');
    let columns: WireColumn[] | undefined;
    return this.exchange(slot, sync(execute(w)).bytes(), { decoder: (parsers) => rowDecoder(columns ?? [], parsers, mode), describe: (c) => (columns = c) });
  }

  /**
   * Sends one flight and reads its answer: the setting's Bind comes first, so DataRows after the
   * second BindComplete are the statement's. The first ErrorResponse is the flight's error.
   */
  private async exchange(slot: Slot, flight: Buffer, on: Answer): Promise<Rows> {
    const parsers = this.types.options.parsers as Parsers;
    const rows: unknown[] = [];
    let binds = 0;
    let parsed = false;
    let error: Error | undefined;
    let decode: RowDecoder | undefined;
    slot.inflight++;
    try {
      await slot.conn.request(flight, (type, body) => {
        switch (type) {
          case MSG.parseComplete:
            parsed = true;
            return;
          case MSG.rowDescription:
            on.describe(readRowDescription(body));
            return;
          case MSG.noData:
            on.describe([]);
            return;
          case MSG.bindComplete:
            binds++;
            return;
          case MSG.dataRow:
            if (binds < 2) return; // the setting's own row
            decode ??= on.decoder(parsers);
            rows.push(decode(body));
            return;
          case MSG.error:
            if (error) return;
            error = postgresError(body);
            // Set now, before the answers to flights pipelined behind this one are read.
            if (!parsed) on.parseFailed?.(error);
            return;
        }
      });
    } finally {
      slot.inflight--;
    }
    if (error) throw error;
    return rows as Rows;
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

  /** The statement for `key` on `slot`, and whether this flight must prepare it. */
  private statementFor(slot: Slot, key: string): { statement: Statement; prepared: boolean } {
    const generation = slot.conn.open();
    if (slot.generation !== generation) {
      // A new connection: none of the old statements exist there.
      slot.generation = generation;
      slot.statements.clear();
      slot.evicted = [];
    }
    const known = slot.statements.get(key);
    if (known) {
      slot.statements.delete(key);
      slot.statements.set(key, known);
      return { statement: known, prepared: false };
    }
    const statement: Statement = { name: `palisade_r${++names}`, columns: undefined };
    slot.statements.set(key, statement);
    if (slot.statements.size > this.capacity) {
      const [oldestKey, oldest] = slot.statements.entries().next().value!;
      slot.statements.delete(oldestKey);
      slot.evicted.push(oldest.name);
    }
    // Pipelined after us on this connection, later reads of `key` may execute it at once.
    return { statement, prepared: true };
  }

  /** `statement` does not exist on the slot's connection: the next read of `key` prepares it anew. */
  private forget(slot: Slot, key: string, statement: Statement): void {
    if (slot.statements.get(key) === statement) slot.statements.delete(key);
  }
}

function settingFor(tenantId: string, options: ReadOptions): Setting {
  assertTenantId(tenantId);
  const ms = options.statementTimeoutMs;
  return { tenantId, timeout: ms === undefined ? undefined : String(Math.max(1, Math.floor(ms))) };
}

function bindSetting(w: Writer, setting: Setting): void {
  if (setting.timeout === undefined) bind(w, SET_TENANT, [setting.tenantId]);
  else bind(w, SET_TENANT_TIMEOUT, [setting.tenantId, setting.timeout]);
  execute(w);
}

/** The type oid postgres.js binds a value as (its inferType); 0 lets Postgres infer it from context. */
function parameterType(value: unknown): number {
  if (value instanceof Date) return 1184; // timestamptz
  if (value === true || value === false) return 16; // boolean
  if (typeof value === 'bigint') return 20; // bigint
  return 0;
}

/** How one flight's answer is read: the statement's columns, and what to record of its Describe and Parse. */
interface Answer {
  /** How the statement's DataRows become rows (its columns are known by its first row). */
  decoder(parsers: Parsers): RowDecoder;
  describe(columns: WireColumn[]): void;
  /** Set when the flight prepares a statement: called if its Parse fails. */
  parseFailed?: (error: Error) => void;
}

type Parser = ((text: string) => unknown) & { array?: boolean };
type Parsers = Record<number, Parser | undefined>;

/** A DataRow's body → one row. */
type RowDecoder = (body: Buffer) => unknown;

/**
 * Rows as objects (by column name, as postgres.js) or as arrays, each value through its type's
 * parser, read straight from the DataRow (pg-wire.ts readDataRow, without the array in between).
 */
function rowDecoder(columns: WireColumn[], parsers: Parsers, mode: Mode): RowDecoder {
  // postgres.js hands its array parsers the text after the opening brace.
  const parse = columns.map((c): ((text: string) => unknown) | undefined => {
    const parser = parsers[c.type];
    return parser?.array ? (text) => parser(text.slice(1)) : parser;
  });
  const names = columns.map((c) => c.name);
  const read = (body: Buffer, into: (i: number, value: unknown) => void) => {
    const count = body.readInt16BE(0);
    let at = 2;
    for (let i = 0; i < count; i++) {
      const length = body.readInt32BE(at);
      at += 4;
      if (length < 0) {
        into(i, null);
        continue;
      }
      const text = body.toString('utf8', at, (at += length));
      const parser = parse[i];
      into(i, parser ? parser(text) : text);
    }
  };
  if (mode === 'values') {
    return (body) => {
      const row: unknown[] = [];
      read(body, (i, value) => (row[i] = value));
      return row;
    };
  }
  return (body) => {
    const row: Record<string, unknown> = {};
    read(body, (i, value) => (row[names[i]!] = value));
    return row;
  };
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

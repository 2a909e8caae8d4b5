/**
 * A minimal PostgreSQL wire-protocol connection, for the tenant reader alone (db/tenant-read.ts).
 *
 * Why it exists: in the extended query protocol, every Bind/Execute sent before one Sync runs in
 * one implicit transaction, so `set_config('app.tenant_id', $1, true)` and the read itself can go
 * as bound, prepared statements in one flight, and the setting is gone at the Sync. postgres.js
 * ends every query with its own Sync (which ends that transaction), so the reader used to send
 * one simple-protocol message instead: `SET LOCAL …; EXECUTE …(literals)`, which costs Postgres
 * about twice a Bind/Execute (README, performance). Everything else stays on postgres.js.
 *
 * What it does: connect (TCP or a Unix socket, TLS when the URL's sslmode asks for it), log in
 * (trust, password, MD5, SCRAM-SHA-256), run the caller's init messages, then carry requests:
 * each is whole frontend messages ending in one Sync, and its backend messages are handed to the
 * request's handler, synchronously and in order, until ReadyForQuery. Postgres answers requests
 * of one connection in the order they were sent, so any number may be in flight. A lost
 * connection fails every request on it; the next request opens a new one (a new `generation`,
 * with none of the old prepared statements).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import postgres from 'postgres';

/** Backend message types the reader reads (the byte before the length). */
export const MSG = {
  parseComplete: 0x31, // '1'
  bindComplete: 0x32, // '2'
  dataRow: 0x44, // 'D'
  error: 0x45, // 'E'
  noData: 0x6e, // 'n'
  rowDescription: 0x54, // 'T'
  readyForQuery: 0x5a, // 'Z'
} as const;

/** Called with each backend message of a request: its type and its body (after the length). */
export type MessageHandler = (type: number, body: Buffer) => void;

export interface WireOptions {
  applicationName: string;
  /** Frontend messages (ending in Sync) run on every new connection before any request. */
  init?: Buffer;
  connectTimeoutMs?: number;
}

interface Request {
  handler: MessageHandler;
  resolve: () => void;
  reject: (error: Error) => void;
  failure?: Error;
}

interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode: string;
}

const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;

export class WireConnection {
  private readonly target: Target;
  private socket: net.Socket | undefined;
  private connecting: Promise<void> | undefined;
  private ended = false;
  private inbox: Buffer = Buffer.alloc(0);
  /** Sent, waiting for their ReadyForQuery, oldest first. */
  private readonly inflight: Request[] = [];
  /** Written together at the end of this turn of the event loop: one syscall for many requests. */
  private outbox: Buffer[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private onMessage: (type: number, body: Buffer) => void = () => undefined;
  /** Bumped for each new connection; prepared statements belong to one generation. */
  generation = 0;

  constructor(
    url: string,
    private readonly options: WireOptions,
  ) {
    this.target = parseUrl(url);
  }

  /**
   * The generation the next request will run on, opening a connection if there is none. Callers
   * decide which prepared statements exist from it, before they build the request.
   */
  open(): number {
    if (this.ended) throw connectionError('has been ended');
    if (!this.socket && !this.connecting) {
      this.generation++;
      const generation = this.generation;
      this.connecting = this.connect().then(
        () => {
          if (this.generation === generation) this.connecting = undefined;
        },
        (error: unknown) => {
          if (this.generation === generation) this.connecting = undefined;
          throw error;
        },
      );
      // Observed by the requests waiting on it; unobserved otherwise, which must not crash.
      this.connecting.catch(() => undefined);
    }
    return this.generation;
  }

  /** Sends `messages` (ending in Sync) and feeds the answers to `handler` until ReadyForQuery. */
  async request(messages: Buffer, handler: MessageHandler): Promise<void> {
    this.open();
    if (this.connecting) await this.connecting;
    const socket = this.socket;
    if (!socket) throw connectionError('closed');
    return new Promise<void>((resolve, reject) => {
      this.inflight.push({ handler, resolve, reject });
      this.outbox.push(messages);
      this.flushing ??= setImmediate(() => this.flush());
    });
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.connecting?.catch(() => undefined);
    const socket = this.socket;
    if (!socket) return;
    this.flush();
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(message(0x58, () => undefined)); // Terminate
      setTimeout(() => socket.destroy(), 5000).unref();
    });
  }

  private flush(): void {
    this.flushing = undefined;
    if (this.outbox.length === 0 || !this.socket) return;
    const chunk = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox);
    this.outbox = [];
    this.socket.write(chunk);
  }

  private async connect(): Promise<void> {
    const socket = await openSocket(this.target, this.options.connectTimeoutMs ?? 30_000);
    this.inbox = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.lost(socket, error));
    socket.on('close', () => this.lost(socket, connectionError('closed')));
    try {
      await this.startup(socket);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    if (this.ended) {
      socket.destroy();
      throw connectionError('has been ended');
    }
    this.socket = socket;
  }

  /** Log in, then run the init messages; resolves at the ReadyForQuery that follows them. */
  private startup(socket: net.Socket): Promise<void> {
    const { user, database, password } = this.target;
    return new Promise<void>((resolve, reject) => {
      let scram: Scram | undefined;
      let initSent = false;
      let failure: Error | undefined;
      this.onMessage = (type, body) => {
        try {
          if (type === 0x52 /* R */) {
            const kind = body.readInt32BE(0);
            if (kind === 0) return;
            if (kind === 3) return socket.write(passwordMessage(password));
            if (kind === 5) return socket.write(passwordMessage(md5Password(user, password, body.subarray(4, 8))));
            if (kind === 10) {
              scram = new Scram(password);
              return socket.write(scram.first());
            }
            if (kind === 11) return socket.write(scram!.final(body.subarray(4).toString('utf8')));
            if (kind === 12) return scram!.verify(body.subarray(4).toString('utf8'));
            throw connectionError(`asks for an authentication method the tenant reader does not support (${kind})`);
          }
          if (type === MSG.error) failure ??= postgresError(body);
          if (type !== MSG.readyForQuery) return;
          if (failure) return reject(failure);
          if (!initSent && this.options.init) {
            initSent = true;
            return socket.write(this.options.init);
          }
          this.onMessage = (t, b) => this.dispatch(t, b);
          resolve();
        } catch (error) {
          reject(error as Error);
        }
      };
      socket.once('close', () => reject(failure ?? connectionError('closed while logging in')));
      socket.write(startupMessage({ user, database, application_name: this.options.applicationName, client_encoding: 'UTF8' }));
    });
  }

  private receive(chunk: Buffer): void {
    let data = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : chunk;
    let at = 0;
    while (data.length - at >= 5) {
      const length = data.readInt32BE(at + 1);
      if (data.length - at < length + 1) break;
      this.onMessage(data[at]!, data.subarray(at + 5, at + 1 + length));
      at += length + 1;
    }
    // Keep the tail only (a copy, so the big chunk it came from can be freed).
    data = data.subarray(at);
    this.inbox = data.length ? Buffer.from(data) : Buffer.alloc(0);
  }

  private dispatch(type: number, body: Buffer): void {
    const request = this.inflight[0];
    if (!request) return; // a notice, a parameter status, or a FATAL just before the close
    if (type === MSG.readyForQuery) {
      this.inflight.shift();
      // Every request ends its implicit transaction at its Sync. A statement that opened one of
      // its own (BEGIN) would carry this request's setting into the next: drop the connection.
      if (body[0] !== 0x49 /* I: idle */) {
        const error = connectionError('was left inside a transaction by a read; closed it');
        request.reject(error);
        if (this.socket) this.lost(this.socket, error);
        return;
      }
      if (request.failure) request.reject(request.failure);
      else request.resolve();
      return;
    }
    // Notices, parameter status and notifications are not answers to the request.
    if (type === 0x4e || type === 0x53 || type === 0x41 || request.failure) return;
    try {
      request.handler(type, body);
    } catch (error) {
      // A value the handler could not take: the request still ends at its own ReadyForQuery.
      request.failure = error as Error;
    }
  }

  private lost(socket: net.Socket, error: Error): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.outbox = [];
    const failed = connectionError(`lost: ${error.message}`, error);
    for (const request of this.inflight.splice(0)) request.reject(failed);
    socket.destroy();
  }
}

function parseUrl(url: string): Target {
  const u = new URL(url);
  const q = u.searchParams;
  const host = q.get('host') ?? u.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host: host || 'localhost',
    port: Number(q.get('port') ?? (u.port || 5432)),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username),
    sslmode: q.get('sslmode') ?? (q.get('ssl') === 'true' ? 'require' : 'disable'),
  };
}

async function openSocket(target: Target, timeoutMs: number): Promise<net.Socket> {
  // A host that is a directory is a Unix socket, as in libpq and postgres.js.
  const plain = target.host.startsWith('/') ? net.connect(`${target.host}/.s.PGSQL.${target.port}`) : net.connect(target.port, target.host);
  plain.setNoDelay(true);
  await connected(plain, 'connect', timeoutMs);
  if (target.sslmode === 'disable' || target.host.startsWith('/')) return plain;
  plain.write(int32Message(SSL_REQUEST));
  const [answer] = (await connected(plain, 'data', timeoutMs)) as [Buffer];
  if (answer[0] !== 0x53 /* S */) {
    if (target.sslmode === 'prefer' || target.sslmode === 'allow') return plain;
    plain.destroy();
    throw connectionError(`refused TLS (sslmode=${target.sslmode})`);
  }
  const verify = target.sslmode === 'verify-ca' || target.sslmode === 'verify-full';
  const secure = tls.connect({
    socket: plain,
    servername: net.isIP(target.host) ? undefined : target.host,
    rejectUnauthorized: verify,
    ...(target.sslmode === 'verify-ca' && { checkServerIdentity: () => undefined }),
  });
  await connected(secure, 'secureConnect', timeoutMs);
  return secure;
}

function connected(socket: net.Socket, event: string, timeoutMs: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(connectionError(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (error?: Error, args: unknown[] = []) => {
      clearTimeout(timer);
      socket.off('error', onError);
      if (error) reject(connectionError(`failed: ${error.message}`, error));
      else resolve(args);
    };
    const onError = (error: Error) => done(error);
    socket.once('error', onError);
    socket.once(event, (...args: unknown[]) => done(undefined, args));
  });
}

function connectionError(what: string, cause?: Error): Error {
  return Object.assign(new Error(`tenant reader: the connection to Postgres ${what}`, { cause }), { code: 'CONNECTION_CLOSED' });
}

/** ErrorResponse fields named as postgres.js names them, as its PostgresError (lib/pg-errors.ts reads those). */
const ERROR_FIELDS: Record<string, string> = {
  S: 'severity_local', V: 'severity', C: 'code', M: 'message', D: 'detail', H: 'hint', P: 'position', p: 'internal_position',
  q: 'internal_query', W: 'where', s: 'schema_name', t: 'table_name', c: 'column_name', d: 'data type_name', n: 'constraint_name',
  F: 'file', L: 'line', R: 'routine',
};

export function postgresError(body: Buffer): postgres.PostgresError {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    const name = ERROR_FIELDS[String.fromCharCode(body[at]!)];
    if (name) fields[name] = body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return new postgres.PostgresError(fields as unknown as string);
}

// ---- frontend messages -------------------------------------------------------------------------

/** Builds one message: `type`, then the length, then what `write` adds. */
export function message(type: number, write: (w: Writer) => void): Buffer {
  const w = new Writer().start(type);
  write(w);
  return w.end().bytes();
}

/** A growing buffer of frontend messages: `start(type)`, the fields, `end()`; then `bytes()`. */
export class Writer {
  private buf = Buffer.allocUnsafe(256);
  private at = 0;
  private lengthAt = -1;

  start(type: number): this {
    this.byte(type);
    this.lengthAt = this.at;
    return this.int32(0);
  }

  end(): this {
    this.buf.writeInt32BE(this.at - this.lengthAt, this.lengthAt);
    return this;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(n: number): this {
    this.room(1);
    this.buf[this.at++] = n;
    return this;
  }

  int16(n: number): this {
    this.room(2);
    this.at = this.buf.writeInt16BE(n, this.at);
    return this;
  }

  int32(n: number): this {
    this.room(4);
    this.at = this.buf.writeInt32BE(n, this.at);
    return this;
  }

  /** A NUL-terminated string. */
  cstr(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(n + 1);
    this.at += this.buf.write(s, this.at);
    this.buf[this.at++] = 0;
    return this;
  }

  /** The bytes of `s`, with no terminator or length. */
  raw(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(n);
    this.at += this.buf.write(s, this.at);
    return this;
  }

  /** A length-prefixed value (-1 for NULL). */
  value(s: string | null): this {
    if (s === null) return this.int32(-1);
    return this.int32(Buffer.byteLength(s)).raw(s);
  }

  /** The bytes written, with the int32 length at `lengthAt` filled in (messages without a type byte). */
  finish(lengthAt: number): Buffer {
    this.buf.writeInt32BE(this.at - lengthAt, lengthAt);
    return this.bytes();
  }
}

/** Parse: a named (or unnamed, '') statement with its parameters' type oids (0: let Postgres infer). */
export function parse(w: Writer, name: string, text: string, types: readonly number[]): Writer {
  w.start(0x50).cstr(name).cstr(text).int16(types.length);
  for (const oid of types) w.int32(oid);
  return w.end();
}

/** Bind the unnamed portal to `statement`, every parameter and result column in text format. */
export function bind(w: Writer, statement: string, values: readonly (string | null)[]): Writer {
  w.start(0x42).cstr('').cstr(statement).int16(0).int16(values.length);
  for (const v of values) w.value(v);
  return w.int16(0).end();
}

/** Describe a statement ('S') or the unnamed portal ('P'). */
export function describe(w: Writer, kind: 'S' | 'P', name: string): Writer {
  return w.start(0x44).byte(kind.charCodeAt(0)).cstr(name).end();
}

/** Execute the unnamed portal to completion. */
export function execute(w: Writer): Writer {
  return w.start(0x45).cstr('').int32(0).end();
}

/** Close (deallocate) a prepared statement; closing one that does not exist is not an error. */
export function closeStatement(w: Writer, name: string): Writer {
  return w.start(0x43).byte(0x53).cstr(name).end();
}

export function sync(w: Writer): Writer {
  return w.start(0x53).end();
}

/** A result column, from a RowDescription: its name and its type's oid. */
export interface WireColumn {
  name: string;
  type: number;
}

export function readRowDescription(body: Buffer): WireColumn[] {
  const count = body.readInt16BE(0);
  const columns: WireColumn[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, at);
    const name = body.toString('utf8', at, end);
    at = end + 1;
    columns.push({ name, type: body.readInt32BE(at + 6) });
    at += 18;
  }
  return columns;
}

/** A DataRow's values as text (null for NULL), in column order. */
export function readDataRow(body: Buffer): (string | null)[] {
  const count = body.readInt16BE(0);
  const values: (string | null)[] = new Array(count);
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(at);
    at += 4;
    if (length < 0) {
      values[i] = null;
    } else {
      values[i] = body.toString('utf8', at, at + length);
      at += length;
    }
  }
  return values;
}

function startupMessage(params: Record<string, string>): Buffer {
  const w = new Writer().int32(0).int32(PROTOCOL_3);
  for (const [k, v] of Object.entries(params)) w.cstr(k).cstr(v);
  return w.byte(0).finish(0);
}

function int32Message(code: number): Buffer {
  return new Writer().int32(8).int32(code).finish(0);
}

function passwordMessage(payload: string): Buffer {
  return message(0x70, (w) => w.cstr(payload));
}

function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = crypto.createHash('md5').update(password + user).digest('hex');
  return `md5${crypto.createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
}

/** SCRAM-SHA-256 (RFC 7677), as Postgres speaks it: no channel binding, the user name from the startup message. */
class Scram {
  private readonly nonce = crypto.randomBytes(18).toString('base64');
  private serverSignature = '';

  constructor(private readonly password: string) {}

  first(): Buffer {
    const body = `n,,n=*,r=${this.nonce}`;
    return message(0x70, (w) => w.cstr('SCRAM-SHA-256').int32(Buffer.byteLength(body)).raw(body));
  }

  final(serverFirst: string): Buffer {
    const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)])) as Record<string, string>;
    if (!attrs.r?.startsWith(this.nonce)) throw connectionError('answered SCRAM with a nonce that is not ours');
    const salted = crypto.pbkdf2Sync(this.password, Buffer.from(attrs.s ?? '', 'base64'), Number(attrs.i), 32, 'sha256');
    const hmac = (key: Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest();
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=biws,r=${attrs.r}`;
    const auth = `n=*,r=${this.nonce},${serverFirst},${withoutProof}`;
    const signature = hmac(crypto.createHash('sha256').update(clientKey).digest(), auth);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!)).toString('base64');
    this.serverSignature = hmac(hmac(salted, 'Server Key'), auth).toString('base64');
    return message(0x70, (w) => w.raw(`${withoutProof},p=${proof}`));
  }

  verify(serverFinal: string): void {
    if (serverFinal.split(',').find((kv) => kv.startsWith('v='))?.slice(2) !== this.serverSignature) {
      throw connectionError('sent a SCRAM server signature that does not match');
    }
  }
}

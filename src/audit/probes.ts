/**
 * Active probes: behaviour, not catalog. Everything happens in one transaction that is rolled
 * back: two scratch tenants get one synthesised row in every tenant table, then, as the app role,
 * tenant A's context tries to read, update, delete, insert into and move rows into B, and no
 * context tries to read and write. A last check confirms a reused connection carries no tenant.
 * On Citus the two tenants' shards are on workers, and the tenant rows themselves are committed
 * (and deleted after): see runProbes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { detectEngine, type Engine } from '../../db/citus.js';
import type { Sql } from '../../db/client.js';
import { quoteIdent } from '../lib/sql-text.js';
import { tenantIdsOnWorkers } from './citus-workers.js';
import type { Finding } from './findings.js';

type Conn = postgres.ReservedSql;

interface Column {
  name: string;
  type: string;
  notnull: boolean;
  hasdefault: boolean;
  generated: boolean;
  /** The first value a single-column CHECK (col IN (...)) allows, if there is one. */
  allowed: string | null;
}

interface TenantTable {
  oid: number;
  name: string;
  columns: Column[];
  /** Foreign keys to other tenant tables: local column → referenced table and column. */
  refs: { column: string; table: string; refColumn: string }[];
}

const lit = (value: string) => `'${value.replaceAll("'", "''")}'`;

function fail(ruleId: string, object: string, problem: string, fix: string): Finding {
  return { ruleId, severity: 'error', object, problem, fix };
}

async function tenantTables(conn: Conn): Promise<TenantTable[]> {
  const tables = await conn<{ oid: number; name: string }[]>`
    select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', 'drizzle')
      and n.nspname not like 'pg\\_%'
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
    order by 2`;
  const result: TenantTable[] = [];
  for (const t of tables) {
    const columns = await conn<Column[]>`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
        (a.atthasdef or a.attidentity <> '') as hasdefault, a.attgenerated <> '' as generated,
        (select substring(pg_get_constraintdef(k.oid) from 'ARRAY\\[''([^'']*)''') from pg_constraint k
          where k.conrelid = a.attrelid and k.contype = 'c' and k.conkey = array[a.attnum]
            and pg_get_constraintdef(k.oid) like '%ARRAY[%' limit 1) as allowed
      from pg_attribute a where a.attrelid = ${t.oid} and a.attnum > 0 and not a.attisdropped order by a.attnum`;
    const refs = await conn<{ column: string; table: string; refColumn: string }[]>`
      select la.attname as column, format('%I.%I', rn.nspname, rc.relname) as table, ra.attname as "refColumn"
      from pg_constraint k
      cross join lateral unnest(k.conkey, k.confkey) as u(l, r)
      join pg_attribute la on la.attrelid = k.conrelid and la.attnum = u.l
      join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = u.r
      join pg_class rc on rc.oid = k.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
      where k.contype = 'f' and k.conrelid = ${t.oid} and la.attname <> 'tenant_id'`;
    result.push({ ...t, columns: columns.map((c) => ({ ...c })), refs: refs.map((r) => ({ ...r })) });
  }
  // Referenced tables first, so a row can point at the same tenant's row in the parent.
  const ordered: TenantTable[] = [];
  const visit = (t: TenantTable, path: Set<string>) => {
    if (ordered.includes(t) || path.has(t.name)) return;
    path.add(t.name);
    for (const ref of t.refs) {
      const parent = result.find((p) => p.name === ref.table);
      if (parent && parent !== t) visit(parent, path);
    }
    ordered.push(t);
  };
  for (const t of result) visit(t, new Set());
  return ordered;
}

/** A SQL literal for a required column, or undefined when we cannot make one up. */
function valueFor(column: Column): string | undefined {
  const type = column.type;
  if (type === 'uuid') return 'gen_random_uuid()';
  if (column.allowed !== null) return lit(column.allowed);
  // Lowercase with an @, so it also passes the usual email checks.
  if (/^(text|character varying|varchar|character|citext)/.test(type)) return lit(`audit-probe-${randomBytes(4).toString('hex')}@probe.invalid`);
  if (/^(integer|bigint|smallint|numeric|real|double precision)/.test(type)) return '0';
  if (type === 'boolean') return 'false';
  if (/^(date|timestamp)/.test(type)) return 'now()';
  if (/^jsonb?$/.test(type)) return "'{}'";
  return undefined;
}

type Rows = Map<string, Record<string, unknown>>;

/** The insert statement for one synthesised row of `table` owned by `tenantId`. */
function insertStatement(table: TenantTable, tenantId: string, parents: Rows): string | undefined {
  const cols = ['tenant_id'];
  const values = [`${lit(tenantId)}::uuid`];
  for (const column of table.columns) {
    if (column.name === 'tenant_id' || column.generated) continue;
    const ref = table.refs.find((r) => r.column === column.name);
    if (ref) {
      const parent = parents.get(ref.table);
      if (!parent) return undefined;
      cols.push(column.name);
      values.push(`${lit(String(parent[ref.refColumn] as string))}::${column.type}`);
      continue;
    }
    if (!column.notnull || column.hasdefault) continue;
    const value = valueFor(column);
    if (value === undefined) return undefined;
    cols.push(column.name);
    values.push(value);
  }
  return `insert into ${table.name} (${cols.map(quoteIdent).join(', ')}) values (${values.join(', ')}) returning *`;
}

/** Runs `fn` in a savepoint that is always rolled back; returns its result or the error. */
async function attempt<T>(conn: Conn, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string; message: string }> {
  await conn`savepoint palisade_probe`;
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return { ok: false, code: e.code ?? '', message: e.message ?? String(error) };
  } finally {
    await conn`rollback to savepoint palisade_probe`;
  }
}

/**
 * Scopes the transaction to `tenantId` as the server does (set_tenant), or to no tenant when it is
 * ''. Otherwise SET LOCAL: any role may set a custom setting, the probes check what the policies
 * do whoever set it, and on Citus only SET LOCAL reaches the workers' shards (set_config is never
 * propagated, so a tenant set or cleared that way would leave the workers on the previous one).
 */
async function scope(conn: Conn, app: AppRole, tenantId: string): Promise<void> {
  if (tenantId && app.hasSetter) await conn`select public.set_tenant(${tenantId}::uuid)`;
  else await conn.unsafe(`set local app.tenant_id = ${lit(tenantId)}`);
}

/** As the app role in tenant `tenantId`'s context, or with no tenant when it is ''. */
async function asApp(conn: Conn, app: AppRole, tenantId: string): Promise<void> {
  await conn.unsafe(`set local role ${quoteIdent(app.name)}`);
  await scope(conn, app, tenantId);
}

/**
 * Two scratch tenant ids. On Citus, ones whose shards sit on workers (two different ones when
 * there are), so the probes cross the network as the server's queries do: a tenant whose shard
 * is on the coordinator would pass even when the tenant setting never reaches a worker.
 */
async function scratchTenantIds(conn: Conn, engine: Engine): Promise<[string, string]> {
  const picked = engine === 'citus' ? await tenantIdsOnWorkers(conn, 2) : [];
  return [picked[0]?.id ?? randomUUID(), picked[1]?.id ?? randomUUID()];
}

interface AppRole {
  name: string;
  /** Whether public.set_tenant(uuid) exists (the static rule tenant-setter-missing reports it if not). */
  hasSetter: boolean;
}

export async function runProbes(pool: Sql, appRole: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const engine = await detectEngine(pool);
  /** Scratch tenants committed outside the probe transaction (Citus only), deleted at the end. */
  let committed: string[] = [];
  const conn = await pool.reserve();
  try {
    await conn`begin`;
    const [hasTenants] = await conn`select 1 from pg_class where oid = to_regclass('public.tenants')`;
    const [role] = await conn`select 1 from pg_roles where rolname = ${appRole}`;
    const app: AppRole = {
      name: appRole,
      hasSetter: (await conn`select 1 from pg_proc where oid = to_regprocedure('public.set_tenant(uuid)')`).length > 0,
    };
    if (!hasTenants || !role) {
      return [{
        ruleId: 'probe-skipped',
        severity: 'warning',
        object: hasTenants ? appRole : 'public.tenants',
        problem: hasTenants ? 'the app role does not exist, so it cannot be probed' : 'no tenants table: this is not a migrated Palisade database',
        fix: hasTenants ? 'pass --app-role <role the server connects as>' : 'run the migrations first',
      }];
    }
    // Being able to SET ROLE is all we need; a grant made here is rolled back with the rest.
    const canSet = await attempt(conn, () => conn.unsafe(`set local role ${quoteIdent(appRole)}`));
    if (!canSet.ok) {
      await conn`savepoint palisade_grant`;
      try {
        await conn.unsafe(`grant ${quoteIdent(appRole)} to current_user`);
      } catch (error) {
        return [{
          ruleId: 'probe-skipped',
          severity: 'warning',
          object: appRole,
          problem: `cannot act as the app role, so nothing was probed: ${(error as Error).message}`,
          fix: `run the audit as a superuser, or as a role that may SET ROLE ${appRole}`,
        }];
      }
    }

    const [a, b] = await scratchTenantIds(conn, engine);
    if (engine === 'citus') {
      // Citus opens a connection per user, and what one user wrote in a transaction is invisible
      // to another's: every probe statement, seeding included, runs as the app role. Only the
      // owner may create tenants, so the two scratch ones are committed first (suspended, so they
      // can never serve a request) and deleted at the end.
      committed = [a, b];
      for (const id of committed) {
        await pool`insert into public.tenants (id, slug, name, status) values (${id}, ${scratchSlug(id)}, 'audit probe', 'suspended')`;
      }
      await conn.unsafe(`set local role ${quoteIdent(appRole)}`);
      // One connection per worker: every savepoint below is replayed on each connection the
      // transaction holds, and a fan-out query would otherwise open up to 16 per worker.
      await conn`set local citus.max_adaptive_executor_pool_size = 1`;
    } else {
      for (const id of [a, b]) await conn`insert into public.tenants (id, slug, name) values (${id}, ${scratchSlug(id)}, 'audit probe')`;
    }
    const tables = await tenantTables(conn);
    const rowsA: Rows = new Map();
    const rowsB: Rows = new Map();
    for (const table of tables) {
      for (const [tenant, rows] of [[a, rowsA], [b, rowsB]] as const) {
        const statement = insertStatement(table, tenant, rows);
        const inserted = statement
          ? await attemptKeep(conn, app, tenant, () => conn.unsafe(statement))
          : { ok: false as const, message: 'a required column has a type the probe cannot fill' };
        if (inserted.ok && inserted.value[0]) rows.set(table.name, inserted.value[0] as Record<string, unknown>);
        else if (tenant === a) {
          findings.push({
            ruleId: 'probe-skipped',
            severity: 'warning',
            object: table.name,
            problem: `could not create a scratch row, so rows were not probed: ${inserted.ok ? 'no row returned' : inserted.message}`,
            fix: 'check this table by hand, or give its required columns defaults',
          });
        }
      }
    }

    for (const table of tables) findings.push(...(await probeTable(conn, app, table, { a, b, rowsA, rowsB })));
  } finally {
    await conn`rollback`.catch(() => undefined);
    conn.release();
    if (committed.length > 0) await pool`delete from public.tenants where id = any(${committed}::uuid[])`;
  }
  findings.push(...(await probeReuse(pool)));
  return findings;
}

const scratchSlug = (id: string) => `audit-probe-${id.slice(0, 8)}`;

/** Like attempt, but keeps the effect (the row is needed later); the outer rollback removes it. */
async function attemptKeep<T>(conn: Conn, app: AppRole, tenantId: string, fn: () => Promise<T>) {
  await conn`savepoint palisade_seed`;
  try {
    await scope(conn, app, tenantId);
    const value = await fn();
    await conn`release savepoint palisade_seed`;
    return { ok: true as const, value };
  } catch (error) {
    await conn`rollback to savepoint palisade_seed`;
    return { ok: false as const, message: (error as Error).message };
  }
}

async function probeTable(
  conn: Conn,
  app: AppRole,
  table: TenantTable,
  ctx: { a: string; b: string; rowsA: Rows; rowsB: Rows },
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const t = table.name;
  const policyFix = `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY, and give it the tenant_isolation policy`;
  const count = async (where: string) =>
    Number((await conn.unsafe<{ n: string }[]>(`select count(*) as n from ${t} where ${where}`))[0]?.n ?? 0);

  // A's context against B's rows.
  const read = await attempt(conn, async () => (await asApp(conn, app, ctx.a), count(`tenant_id = ${lit(ctx.b)}`)));
  if (read.ok && read.value > 0) findings.push(fail('probe-read-other-tenant', t, "tenant A's context reads tenant B's rows", policyFix));
  const update = await attempt(conn, async () => {
    await asApp(conn, app, ctx.a);
    return (await conn.unsafe(`update ${t} set tenant_id = tenant_id where tenant_id = ${lit(ctx.b)}`)).count;
  });
  if (update.ok && update.value > 0) findings.push(fail('probe-update-other-tenant', t, "tenant A's context updates tenant B's rows", policyFix));
  const del = await attempt(conn, async () => {
    await asApp(conn, app, ctx.a);
    return (await conn.unsafe(`delete from ${t} where tenant_id = ${lit(ctx.b)}`)).count;
  });
  if (del.ok && del.value > 0) findings.push(fail('probe-delete-other-tenant', t, "tenant A's context deletes tenant B's rows", policyFix));

  const rowA = ctx.rowsA.get(t);
  if (rowA) {
    const insertB = insertStatement(table, ctx.b, ctx.rowsB);
    if (insertB) {
      const inserted = await attempt(conn, async () => (await asApp(conn, app, ctx.a), conn.unsafe(insertB)));
      if (inserted.ok) findings.push(fail('probe-insert-other-tenant', t, "tenant A's context inserts rows owned by tenant B", 'give the policy WITH CHECK (tenant_id = nullif(current_setting(\'app.tenant_id\', true), \'\')::uuid)'));
    }
    const keys = table.columns.filter((c) => c.name !== 'tenant_id' && c.name in rowA && rowA[c.name] !== null);
    const match = keys.map((c) => `${quoteIdent(c.name)} = ${lit(String(rowA[c.name] as string))}::${c.type}`).join(' and ');
    const moved = await attempt(conn, async () => {
      await asApp(conn, app, ctx.a);
      return (await conn.unsafe(`update ${t} set tenant_id = ${lit(ctx.b)} where tenant_id = ${lit(ctx.a)}${match ? ` and ${match}` : ''}`)).count;
    });
    if (moved.ok && moved.value > 0) findings.push(fail('probe-move-to-other-tenant', t, "tenant A's context moves its row into tenant B", 'give the policy WITH CHECK on tenant_id'));
  }

  // No context at all.
  const noContextRead = await attempt(conn, async () => (await asApp(conn, app, ''), count('true')));
  if (noContextRead.ok && noContextRead.value > 0) {
    findings.push(fail('probe-no-context-read', t, 'with no tenant context the app role still sees rows', policyFix));
  }
  const insertA = insertStatement(table, ctx.a, ctx.rowsA);
  if (insertA && rowA) {
    const noContextWrite = await attempt(conn, async () => (await asApp(conn, app, ''), conn.unsafe(insertA)));
    if (noContextWrite.ok) findings.push(fail('probe-no-context-write', t, 'with no tenant context the app role can insert rows', policyFix));
  }
  return findings;
}

/**
 * After a scoped transaction commits, the same connection must carry no tenant. (A role or
 * database default for app.tenant_id, the way a fresh connection could start inside a tenant,
 * is the static rule tenant-setting-default.)
 */
async function probeReuse(pool: Sql): Promise<Finding[]> {
  const conn = await pool.reserve();
  try {
    await conn`begin`;
    await conn`select set_config('app.tenant_id', ${randomUUID()}, true)`;
    await conn`commit`;
    const [row] = await conn<{ v: string | null }[]>`select current_setting('app.tenant_id', true) as v`;
    if (!row?.v) return [];
    return [
      fail(
        'probe-setting-survives',
        'app.tenant_id',
        'after a scoped transaction ends, the connection still carries the tenant',
        'set the tenant only with set_config(…, true) / SET LOCAL inside the transaction',
      ),
    ];
  } finally {
    conn.release();
  }
}

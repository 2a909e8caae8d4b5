/**
 * Database roles. The owner (DATABASE_URL) owns every object and runs migrations; the app role
 * `palisade_app` (created by the migrations, NOLOGIN until given a password) is what the server
 * connects as. See the README's "Roles" section for what each needs.
 */
import type { Sql } from './client.js';
import { PINNED_ROLE, TENANT_ROLE_PREFIX } from './schema/tenancy.js';

export const APP_ROLE = 'palisade_app';
export const OWNER_ROLE = 'palisade_owner';
/** The platform-admin path's role (migration 0002): tenant lifecycle and named-tenant reads. */
export const PLATFORM_ROLE = 'palisade_platform';

/** Only [A-Za-z0-9] so it can be written into DDL, which takes no bind parameters. */
function assertPlainSecret(secret: string): void {
  if (!/^[A-Za-z0-9]{16,}$/.test(secret)) throw new Error('role passwords must be 16+ alphanumerics');
}

/**
 * As a superuser: make sure the owner login role and the database exist (embedded Postgres and the
 * test harness; operators bring their own). Returns nothing; connection URLs are built by callers.
 */
export async function ensureOwnerAndDatabase(superSql: Sql, database: string, ownerPassword: string): Promise<void> {
  assertPlainSecret(ownerPassword);
  const [role] = await superSql`select 1 from pg_roles where rolname = ${OWNER_ROLE}`;
  const verb = role ? 'alter' : 'create';
  await superSql.unsafe(
    `${verb} role ${OWNER_ROLE} login createrole nosuperuser nobypassrls password '${ownerPassword}'`,
  );
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`invalid database name: ${database}`);
  const [db] = await superSql`select 1 from pg_database where datname = ${database}`;
  if (!db) await superSql.unsafe(`create database ${database} owner ${OWNER_ROLE}`);
}

/** As the owner, after migrations: let palisade_app or palisade_platform log in with the given password. */
export async function enableLogin(ownerSql: Sql, role: typeof APP_ROLE | typeof PLATFORM_ROLE, password: string): Promise<void> {
  assertPlainSecret(password);
  await ownerSql.unsafe(`alter role ${role} login password '${password}'`);
}

/**
 * Why the server must not serve as the role it is connected as, or [] if it may.
 * Checked at startup for the app role and the platform role: any of these lets a request step
 * around row-level security.
 */
export async function findAppRoleProblems(appSql: Sql): Promise<string[]> {
  const [me] = await appSql<{ name: string; rolsuper: boolean; rolbypassrls: boolean }[]>`
    select current_user as name, rolsuper, rolbypassrls from pg_roles where rolname = current_user`;
  if (!me) return ['cannot read the current role from pg_roles'];
  const problems: string[] = [];
  if (me.rolsuper) problems.push(`role ${me.name} is SUPERUSER (superusers ignore every policy)`);
  if (me.rolbypassrls) problems.push(`role ${me.name} has BYPASSRLS (it ignores every policy)`);
  const owned = await appSql<{ relname: string }[]>`
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and pg_has_role(current_user, c.relowner, 'USAGE')`;
  if (owned.length > 0) {
    problems.push(`role ${me.name} owns (or inherits ownership of) ${owned.map((r) => r.relname).join(', ')}`);
  }
  const risky = await appSql<{ relname: string }[]>`
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p')
      and (has_table_privilege(current_user, c.oid, 'TRUNCATE') or has_table_privilege(current_user, c.oid, 'REFERENCES'))`;
  if (risky.length > 0) {
    problems.push(`role ${me.name} holds TRUNCATE or REFERENCES on ${risky.map((r) => r.relname).join(', ')}`);
  }
  const [schema] = await appSql<{ can: boolean }[]>`select has_schema_privilege(current_user, 'public', 'CREATE') as can`;
  if (schema?.can) problems.push(`role ${me.name} may CREATE in schema public (objects it creates would be its own)`);
  return problems;
}

/** The login role pinned to a tenant: its name carries the tenant (db/schema/tenancy.ts pinnedPolicy). */
export function tenantRoleName(tenantId: string): string {
  const hex = tenantId.toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a tenant id: ${tenantId}`);
  return TENANT_ROLE_PREFIX + hex;
}

/**
 * As the owner (CREATEROLE, and on PostgreSQL 16+ ADMIN OPTION on palisade_app and palisade_pinned,
 * which the role that ran the migrations has): create the tenant's login role, or give it a new
 * password. Member of palisade_app for its grants and of palisade_pinned for the restrictive policy.
 */
export async function createTenantRole(ownerSql: Sql, tenantId: string, password: string): Promise<{ role: string; created: boolean }> {
  assertPlainSecret(password);
  const role = tenantRoleName(tenantId);
  const [existing] = await ownerSql`select 1 from pg_roles where rolname = ${role}`;
  if (existing) {
    // Only the password: changing SUPERUSER or BYPASSRLS (even to NO) needs a superuser, and the
    // server refuses to connect as a role that has either (findAppRoleProblems).
    await ownerSql.unsafe(`alter role ${role} login password '${password}'`);
  } else {
    await ownerSql.unsafe(
      `create role ${role} login nosuperuser nobypassrls nocreatedb nocreaterole noreplication inherit password '${password}' in role ${APP_ROLE}, ${PINNED_ROLE}`,
    );
  }
  return { role, created: !existing };
}

/** As the owner: drop the tenant's login role; false when there was none. */
export async function dropTenantRole(ownerSql: Sql, tenantId: string): Promise<boolean> {
  const role = tenantRoleName(tenantId);
  const [existing] = await ownerSql`select 1 from pg_roles where rolname = ${role}`;
  if (!existing) return false;
  await ownerSql.unsafe(`drop role ${role}`);
  return true;
}

export interface RolePinning {
  role: string;
  /** The tenant the restrictive policy holds this role to; null when it is held to none (sees nothing). */
  tenantId: string | null;
}

/**
 * Whether the connected role is held by the pinned policy, and to which tenant; null when it is not
 * (a shared app role). Held means it has palisade_pinned's privileges (a membership with INHERIT):
 * only then does a policy `TO palisade_pinned` apply to it.
 */
export async function rolePinning(appSql: Sql): Promise<RolePinning | null> {
  const [row] = await appSql<{ role: string; held: boolean }[]>`
    select current_user::text as role,
      exists (select 1 from pg_roles where rolname = ${PINNED_ROLE}) and pg_has_role(current_user, ${PINNED_ROLE}, 'USAGE') as held`;
  if (!row) return null;
  const named = row.role.startsWith(TENANT_ROLE_PREFIX);
  if (!row.held && !named) return null;
  const hex = row.role.slice(TENANT_ROLE_PREFIX.length);
  const tenantId =
    row.held && /^[0-9a-f]{32}$/.test(hex)
      ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
      : null;
  return { role: row.role, tenantId };
}

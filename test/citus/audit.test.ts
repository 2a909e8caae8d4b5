/**
 * The isolation audit on a Citus coordinator: a distributed database has no finding, probes
 * included, and each Citus check fails when what it checks is broken (each breakage undone
 * after). Its own database, since the breakages would disturb the other Citus suites. Skipped,
 * saying so, unless CITUS_TEST_URL names the coordinator's superuser URL.
 */
import { PLATFORM_TABLES } from '../../db/citus.js';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../../db/client.js';
import { APP_ROLE, OWNER_ROLE } from '../../db/roles.js';
import type { Finding } from '../../src/audit/findings.js';
import { runAudit } from '../../src/audit/run-audit.js';
import { freshCitusDatabase, prepareCitusDatabase, type CitusDatabase } from '../citus-database.js';

const url = process.env['CITUS_TEST_URL'];
if (!url) process.stdout.write('\n[palisade tests] Citus audit suite skipped: set CITUS_TEST_URL to a coordinator superuser URL (citus-cluster.sh prints it)\n');

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const pairs = (findings: Finding[]) => findings.map((f) => `${f.ruleId} ${f.object}`);

describe.skipIf(!url)('the isolation audit on a Citus cluster', () => {
  let prepared: CitusDatabase;
  /** Superuser on this suite's database, on the coordinator. */
  let superuser: Sql;
  let superuserUrl: string;

  /** The audit as `npm run audit` runs it, on a new pool (database and role settings apply to new sessions). */
  async function audit(options: { probes?: boolean } = {}): Promise<Finding[]> {
    const owner = openPool(prepared.ownerUrl, { max: 2 });
    try {
      return await runAudit(owner, { appRole: APP_ROLE, probes: options.probes ?? false });
    } finally {
      await owner.end();
    }
  }

  beforeAll(async () => {
    superuserUrl = await freshCitusDatabase(url!, 'palisade_citus_audit');
    prepared = await prepareCitusDatabase(superuserUrl);
    superuser = openPool(superuserUrl, { max: 1 });
  }, 180_000);

  afterAll(async () => {
    await superuser?.end();
  });

  it('npm run audit finds nothing on a distributed database, probes included, and leaves nothing behind', async () => {
    const { stdout } = await run(path.join(root, 'node_modules', '.bin', 'tsx'), ['scripts/audit.ts', '--json'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: prepared.ownerUrl },
    });
    expect(JSON.parse(stdout)).toEqual({ findings: [] });
    // The probes' scratch tenants (committed on Citus) are gone, and so is the role grant they made.
    expect(await superuser`select slug from tenants`).toEqual([]);
    expect(await superuser`select 1 from pg_auth_members where roleid = ${APP_ROLE}::regrole and member = ${OWNER_ROLE}::regrole`).toEqual([]);
  }, 120_000);

  it('reports citus.propagate_set_commands reset on the database, or overridden for the app role', async () => {
    try {
      await superuser.unsafe(`alter database ${prepared.database} reset citus.propagate_set_commands`);
      const findings = await audit();
      expect(pairs(findings)).toEqual(['citus-set-commands-not-local citus.propagate_set_commands']);
      expect(findings[0]!.problem).toContain("is 'none'");
      expect(findings[0]!.fix).toContain('npm run palisade -- citus distribute');
    } finally {
      await superuser.unsafe(`alter database ${prepared.database} set citus.propagate_set_commands = 'local'`);
    }
    try {
      await superuser.unsafe(`alter role ${APP_ROLE} in database ${prepared.database} set citus.propagate_set_commands = 'none'`);
      const findings = await audit();
      expect(pairs(findings)).toEqual(['citus-set-commands-not-local citus.propagate_set_commands']);
      expect(findings[0]!.fix).toContain(`ALTER ROLE ${APP_ROLE} IN DATABASE "${prepared.database}" RESET citus.propagate_set_commands`);
    } finally {
      await superuser.unsafe(`alter role ${APP_ROLE} in database ${prepared.database} reset citus.propagate_set_commands`);
    }
    expect(await audit()).toEqual([]);
  });

  it('reports a set_tenant that Citus does not pass on to the workers (set_config instead of SET LOCAL)', async () => {
    const [{ def } = { def: '' }] = await superuser<{ def: string }[]>`select pg_get_functiondef('public.set_tenant(uuid)'::regprocedure) as def`;
    try {
      // Still transaction-local, so every catalog rule is content: only the workers can tell.
      await superuser.unsafe(def.replace(/BEGIN[\s\S]*END;/, "BEGIN PERFORM pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true); END;"));
      const findings = await audit();
      expect(pairs(findings)).toEqual(['citus-tenant-setter-not-propagated set_tenant(uuid)']);
      expect(findings[0]!.problem).toMatch(/saw none/);
    } finally {
      await superuser.unsafe(def);
    }
    expect(await audit()).toEqual([]);
  });

  it('reports FORCE RLS turned off on one shard on a worker, and nothing once the coordinator re-applies it', async () => {
    const [shard] = await superuser<{ name: string; port: number }[]>`
      select shard_name('orders'::regclass, s.shardid) as name, n.nodeport as port
      from pg_dist_shard s join pg_dist_placement p using (shardid) join pg_dist_node n using (groupid)
      where s.logicalrelid = 'orders'::regclass and p.groupid <> 0 order by s.shardid limit 1`;
    const worker = openPool(Object.assign(new URL(superuserUrl), { port: String(shard!.port) }).toString(), { max: 1 });
    try {
      await worker.unsafe(`alter table public.${shard!.name} no force row level security`);
      const findings = await audit();
      expect(pairs(findings)).toEqual(['citus-shard-rls-not-forced public.orders']);
      expect(findings[0]!.problem).toContain(`on 1 of`);
      expect(findings[0]!.problem).toContain(`${shard!.name} on 127.0.0.1:${shard!.port}`);
      // The fix it gives: run on the coordinator, Citus applies it to the shards again.
      const owner = openPool(prepared.ownerUrl, { max: 1 });
      await owner.unsafe(findings[0]!.fix.replace(/;.*$/, '')).finally(() => owner.end());
      expect(await audit()).toEqual([]);
    } finally {
      await worker.unsafe(`alter table public.${shard!.name} force row level security`);
      await worker.end();
    }
  });

  it('reports a shard whose policy was changed, and RLS disabled on the shards, which the probes confirm by reading another tenant', async () => {
    try {
      await superuser`select run_command_on_shards('customers', 'alter policy tenant_isolation on %s using (true)')`;
      const drift = await audit();
      expect(pairs(drift)).toEqual(['citus-shard-policy-drift public.customers']);
      expect(drift[0]!.problem).toMatch(/tenant_isolation: qual="true"/);
    } finally {
      await superuser`select run_command_on_shards('customers', ${"alter policy tenant_isolation on %s using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)"})`;
    }
    try {
      await superuser`select run_command_on_shards('customers', 'alter table %s disable row level security')`;
      const found = pairs(await audit({ probes: true }));
      expect(found).toContain('citus-shard-rls-disabled public.customers');
      // The coordinator's catalog is intact: only the Citus check and the probes (which run on the workers) see it.
      expect(found).toContain('probe-read-other-tenant public.customers');
      expect(found).toContain('probe-no-context-read public.customers');
      expect(found.filter((f) => !f.endsWith('public.customers'))).toEqual([]);
    } finally {
      await superuser`select run_command_on_shards('customers', 'alter table %s enable row level security')`;
    }
    expect(await audit()).toEqual([]);
  }, 60_000);

  it('reports a tenant table that is not distributed, one not colocated, and a platform table that is not a reference table', async () => {
    const ddl = (table: string) => `
      create table ${table} (tenant_id uuid not null, id uuid not null default gen_random_uuid(), primary key (tenant_id, id));
      alter table ${table} enable row level security, force row level security;
      create policy tenant_isolation on ${table} using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
        with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`;
    const owner = openPool(prepared.ownerUrl, { max: 1 });
    try {
      await owner.unsafe(`${ddl('audit_local')}; ${ddl('audit_apart')}; create table audit_platform (id uuid primary key)`);
      await owner`select create_distributed_table('audit_apart', 'tenant_id', colocate_with => 'none')`;
      const findings = await runAudit(owner, { appRole: APP_ROLE, platformTables: [...PLATFORM_TABLES, 'audit_platform'], probes: false, drift: false });
      expect(pairs(findings).sort()).toEqual([
        'citus-platform-table-not-reference public.audit_platform',
        'citus-tenant-table-not-distributed public.audit_local',
        'citus-tenant-tables-not-colocated public.audit_apart',
      ]);
      expect(findings.find((f) => f.object === 'public.audit_local')!.fix).toContain('npm run palisade -- citus distribute');
      expect(findings.find((f) => f.object === 'public.audit_apart')!.fix).toContain("colocate_with => 'public.api_keys'");
    } finally {
      await owner.unsafe('drop table if exists audit_local, audit_apart, audit_platform');
      await owner.end();
    }
  });
});

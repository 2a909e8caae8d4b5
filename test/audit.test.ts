/**
 * The isolation audit: the shipped schema has no finding, and a database seeded with one
 * deliberate mistake per rule gets each reported with the right rule id, by `npm run audit`'s
 * engine and by the plain-SQL script alike.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { OWNER_ROLE } from '../db/roles.js';
import type { Finding } from '../src/audit/findings.js';
import { runAudit } from '../src/audit/run-audit.js';
import { AUDIT_SQL, runStaticRules } from '../src/audit/static-rules.js';
import { pg } from './harness.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const STD = "tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid";
const badRole = `palisade_bad_app_${randomBytes(4).toString('hex')}`;
const mistakesDb = `${pg.database}_mistakes`;
const onDb = (url: string, db: string) => Object.assign(new URL(url), { pathname: `/${db}` }).toString();
const mistakesSuperUrl = onDb(pg.superuserUrl, mistakesDb);
const superuser = decodeURIComponent(new URL(pg.superuserUrl).username);
const hasPsql = (() => {
  try {
    execFileSync('psql', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

let maintenance: Sql;
let mistakes: Sql;

beforeAll(async () => {
  maintenance = openPool(pg.maintenanceUrl, { max: 1 });
  await maintenance.unsafe(`create database ${mistakesDb} owner ${OWNER_ROLE}`);
  await runMigrations(onDb(pg.ownerUrl, mistakesDb));
  mistakes = openPool(mistakesSuperUrl, { max: 2 });
  const fixture = fs
    .readFileSync(path.join(import.meta.dirname, 'fixtures', 'audit-mistakes.sql'), 'utf8')
    .replaceAll('__STD__', STD)
    .replaceAll('{{bad_role}}', badRole);
  await mistakes.unsafe(fixture);
});
afterAll(async () => {
  await mistakes?.end();
  await maintenance.unsafe(`drop database if exists ${mistakesDb} with (force)`);
  await maintenance.unsafe(`drop role if exists ${badRole}`);
  await maintenance.end();
});

const pairs = (findings: Finding[]) => findings.map((f) => `${f.ruleId} ${f.object}`);

describe('the shipped schema', () => {
  it('has no finding at all, probes included', async () => {
    const owner = openPool(pg.ownerUrl, { max: 2 });
    try {
      expect(await runAudit(owner, { appRole: 'palisade_app' })).toEqual([]);
    } finally {
      await owner.end();
    }
  });

  it('npm run audit exits 0 and prints JSON', async () => {
    const { stdout } = await run(path.join(root, 'node_modules', '.bin', 'tsx'), ['scripts/audit.ts', '--json'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: pg.ownerUrl },
    });
    expect(JSON.parse(stdout)).toEqual({ findings: [] });
  });
});

describe('a database with one mistake per rule', () => {
  const expected = [
    'rls-disabled public.m_no_rls',
    'policy-missing public.m_no_rls',
    'rls-not-forced public.m_no_force',
    'policy-commands-incomplete public.m_select_only',
    'policy-always-true let_everyone_in on public.m_always_true',
    'policy-no-tenant-setting tenant_isolation on public.m_other_setting',
    'policy-without-with-check tenant_isolation on public.m_no_check',
    'policy-not-indexable tenant_isolation on public.m_cast_column',
    'policy-not-indexable tenant_isolation on public.m_volatile',
    'policy-setting-without-nullif tenant_isolation on public.m_no_nullif',
    // Tables made by hand, not tenantTable(): no restrictive policy for per-tenant roles.
    'pinned-policy-missing public.m_no_force',
    'unique-without-tenant m_global_email_email_key on public.m_global_email',
    'unique-without-tenant m_pk_no_tenant_pkey on public.m_pk_no_tenant',
    'tenant-index-missing public.m_pk_no_tenant',
    'fk-without-tenant m_single_fk_parent_fk on public.m_single_fk',
    'serial-id public.m_serial.id',
    'view-not-security-invoker public.m_orders_view',
    'definer-search-path m_count_orders()',
    'definer-public-execute m_count_orders()',
    `app-role-bypassrls ${badRole}`,
    'app-role-owns-table public.m_owned',
    'app-role-truncate-references public.orders',
    `tenant-setting-default role ${badRole}`,
    'tenant-setter-unsafe set_tenant(uuid)',
    `tenant-setter-not-granted role ${badRole}`,
  ];

  it('reports each static rule on the object at fault', async () => {
    const found = pairs(await runStaticRules(mistakes, badRole));
    for (const finding of expected) expect(found).toContain(finding);
    // The shipped tables stay clean apart from what the fixture did to them.
    expect(found.filter((f) => /public\.(customers|api_keys)\b/.test(f))).toEqual([]);
  });

  it('reports a superuser app role and a missing one', async () => {
    expect(pairs(await runStaticRules(mistakes, superuser))).toContain(`app-role-superuser ${superuser}`);
    expect(pairs(await runStaticRules(mistakes, 'no_such_role'))).toContain('app-role-missing no_such_role');
  });

  it('reports drift and what the probes catch', async () => {
    const findings = await runAudit(mistakes, { appRole: 'palisade_app' });
    const found = pairs(findings);
    expect(found).toContain('policy-drift tenant_isolation on public.customers');
    for (const rule of ['probe-read-other-tenant', 'probe-update-other-tenant', 'probe-delete-other-tenant', 'probe-insert-other-tenant', 'probe-move-to-other-tenant', 'probe-no-context-read', 'probe-no-context-write']) {
      expect(found).toContain(`${rule} public.m_no_rls`);
      expect(found).toContain(`${rule} public.m_always_true`);
    }
    // RLS on and a correct policy: the probes find nothing, even though FORCE is missing.
    expect(found.filter((f) => f.startsWith('probe-') && f.includes('m_no_force'))).toEqual([]);
    expect(findings.every((f) => f.problem.length > 10 && f.fix.length > 5)).toBe(true);
  });

  it('npm run audit exits 1 on error-level findings', async () => {
    const result = await run(path.join(root, 'node_modules', '.bin', 'tsx'), ['scripts/audit.ts', '--no-probes'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: mistakesSuperUrl },
    }).catch((error: { code: number; stdout: string }) => error);
    expect('code' in result ? result.code : 0).toBe(1);
    expect(result.stdout).toContain('rls-not-forced');
  });

  it.skipIf(!hasPsql)('psql -f db/audit.sql prints the same findings', async () => {
    const { stdout } = await run('psql', [mistakesSuperUrl, '-X', '-A', '-t', '-F', '\t', '-v', `app_role=${badRole}`, '-f', AUDIT_SQL]);
    const rows = stdout.trim().split('\n').map((line) => line.split('\t'));
    const fromPsql = rows.map(([rule, , object]) => `${rule} ${object}`);
    expect(fromPsql).toEqual(pairs(await runStaticRules(mistakes, badRole)));
  });
});

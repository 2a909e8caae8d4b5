-- Palisade isolation audit: the static rules, in plain SQL, for DBAs who will not run our code.
--
--   psql "$DATABASE_URL" -v app_role=palisade_app -f db/audit.sql
--
-- Prints one row per finding: rule_id, severity (error | warning), object, problem, fix.
-- "(0 rows)" means the catalog breaks none of the rules. Read-only: it only queries the catalog.
-- `npm run audit` runs this same query, then adds policy drift and live probes (see README).
--
-- A tenant table is any ordinary or partitioned table outside the system schemas that has a
-- `tenant_id` column. The app role is the role the server connects as (default palisade_app).
\if :{?app_role}
\else
\set app_role palisade_app
\endif
\pset footer on
WITH
tenant_tables AS (
  SELECT * FROM (
    SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relrowsecurity AS rls,
           c.relforcerowsecurity AS forced, c.relowner,
           (SELECT a.attnum FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_attnum
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'drizzle') AND n.nspname NOT LIKE 'pg\_%'
  ) t WHERE tenant_attnum IS NOT NULL
),
app AS (
  SELECT r.oid, r.rolname, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = :'app_role'
),
policies AS (
  SELECT t.oid AS tbl, t.name, p.polname, p.polpermissive AS permissive, p.polcmd AS cmd,
         format('%s on %s', p.polname, t.name) AS object,
         coalesce(pg_get_expr(p.polqual, p.polrelid), '') AS qual,
         coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') AS check_expr,
         -- Whether the app role is held by this policy: PUBLIC, the role, or a role it belongs to.
         (0 = ANY (p.polroles) OR EXISTS (
            SELECT 1 FROM unnest(p.polroles) pr, app WHERE pg_has_role(app.oid, pr, 'MEMBER'))) AS applies_to_app
  FROM tenant_tables t JOIN pg_policy p ON p.polrelid = t.oid
),
policies_flagged AS (
  SELECT *, permissive AND (trim(qual) = 'true' OR trim(check_expr) = 'true' OR (qual = '' AND check_expr = '')) AS always_true
  FROM policies
),
findings (rule_id, severity, object, problem, fix) AS (
  -- Row-level security itself
  SELECT 'rls-disabled', 'error', name,
         'row-level security is not enabled: every tenant sees every row',
         format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY;', name)
  FROM tenant_tables WHERE NOT rls
  UNION ALL
  SELECT 'rls-not-forced', 'error', name,
         'RLS is not forced: the table owner, and SECURITY DEFINER functions it owns, skip every policy',
         format('ALTER TABLE %s FORCE ROW LEVEL SECURITY;', name)
  FROM tenant_tables WHERE rls AND NOT forced

  -- Policies
  UNION ALL
  SELECT 'policy-missing', 'error', t.name,
         'no policy: with RLS on nobody sees a row, with RLS off everybody does',
         format('CREATE POLICY tenant_isolation ON %s FOR ALL USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid);', t.name)
  FROM tenant_tables t WHERE NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
  UNION ALL
  SELECT 'policy-commands-incomplete', 'error', t.name,
         format('the app role''s permissive policies do not cover %s (those commands are refused or silently match nothing)',
                array_to_string(ARRAY(
                  SELECT c.name FROM (VALUES ('r', 'SELECT'), ('a', 'INSERT'), ('w', 'UPDATE'), ('d', 'DELETE')) c(code, name)
                  WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.tbl = t.oid AND p.applies_to_app AND p.permissive
                                      AND p.cmd IN ('*', c.code::"char"))), ', ')),
         'use one FOR ALL policy with USING and WITH CHECK (the tenant_isolation shape)'
  FROM tenant_tables t
  WHERE EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
    AND EXISTS (SELECT 1 FROM (VALUES ('r'), ('a'), ('w'), ('d')) c(code)
                WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.tbl = t.oid AND p.applies_to_app AND p.permissive
                                    AND p.cmd IN ('*', c.code::"char")))
  UNION ALL
  SELECT 'policy-always-true', 'error', object,
         'a permissive policy whose predicate is always true: it opens the table to every tenant',
         format('DROP POLICY %I ON %s;', polname, name)
  FROM policies_flagged WHERE always_true AND applies_to_app
  UNION ALL
  SELECT 'policy-no-tenant-setting', 'error', object,
         'the predicate does not read app.tenant_id, so it does not follow the request''s tenant',
         'compare tenant_id with nullif(current_setting(''app.tenant_id'', true), '''')::uuid'
  FROM policies_flagged
  -- Restrictive policies only narrow what a permissive one allows (per-tenant roles: pinned_tenant).
  WHERE applies_to_app AND permissive AND NOT always_true AND qual || check_expr NOT LIKE '%app.tenant_id%'
  UNION ALL
  SELECT 'policy-without-with-check', 'warning', object,
         'a policy that allows writes has no WITH CHECK (Postgres reuses USING, but the intent is not written down)',
         'add WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)'
  FROM policies WHERE cmd IN ('*', 'w') AND check_expr = '' AND qual <> ''
  UNION ALL
  SELECT 'policy-not-indexable', 'warning', object,
         'the predicate cannot be an index condition on tenant_id: it casts or wraps the column, or calls a volatile function per row',
         'cast the setting, never the column: tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid'
  FROM policies
  WHERE (qual || ' ' || check_expr) ~ '\(tenant_id\)::'
     OR (qual || ' ' || check_expr) ~ '[a-z_]+\(\(*tenant_id'
     OR EXISTS (SELECT 1 FROM regexp_matches(qual || ' ' || check_expr, '([a-z_][a-z0-9_]*)\(', 'g') m
                JOIN pg_proc pr ON pr.proname = m[1] WHERE pr.provolatile = 'v')
  UNION ALL
  SELECT 'policy-setting-without-nullif', 'warning', object,
         'the setting is read without nullif(…, ''''): on a reused connection it is '''' and the uuid cast fails instead of matching nothing',
         'wrap it: nullif(current_setting(''app.tenant_id'', true), '''')::uuid'
  FROM policies
  WHERE (qual || check_expr) LIKE '%current_setting(''app.tenant_id''%'
    AND (qual || check_expr) NOT LIKE '%NULLIF(current_setting(''app.tenant_id''%'

  -- Per-tenant database roles (migration 0014): every tenant table holds them to their tenant
  UNION ALL
  SELECT 'pinned-policy-missing', 'error', t.name,
         'no restrictive pinned_tenant policy for palisade_pinned: a per-tenant database role reaches every tenant here through the tenant setting',
         format('CREATE POLICY pinned_tenant ON %s AS RESTRICTIVE FOR ALL TO palisade_pinned USING (tenant_id = CASE WHEN current_user ~ ''^palisade_tenant_[0-9a-f]{32}$'' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ ''^palisade_tenant_[0-9a-f]{32}$'' THEN substr(current_user, 17)::uuid END);', t.name)
  FROM tenant_tables t
  WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palisade_pinned')
    -- Not on Citus: it cannot keep a policy restrictive on its shards, and the server refuses such roles there.
    AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')
    AND NOT EXISTS (SELECT 1 FROM pg_policy p JOIN pg_roles r ON r.oid = ANY (p.polroles)
                    WHERE p.polrelid = t.oid AND NOT p.polpermissive AND p.polcmd = '*' AND r.rolname = 'palisade_pinned'
                      AND pg_get_expr(p.polqual, p.polrelid) LIKE '%palisade_tenant_%'
                      AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%palisade_tenant_%')
  UNION ALL
  SELECT 'pinned-role-unheld', 'error', r.rolname,
         'named as a per-tenant role but without palisade_pinned''s privileges: the restrictive policy does not hold it, so it reaches every tenant',
         format('GRANT palisade_pinned TO %I;  -- or drop it: palisade tenant db-role <tenant> --drop', r.rolname)
  FROM pg_roles r
  WHERE r.rolname LIKE 'palisade\_tenant\_%' AND r.rolcanlogin
    AND NOT (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palisade_pinned') AND pg_has_role(r.oid, 'palisade_pinned', 'USAGE'))

  -- The app role
  UNION ALL
  SELECT 'app-role-missing', 'error', :'app_role', 'the app role does not exist, so nothing else about it could be checked',
         'pass the role the server connects as: -v app_role=<role> (or --app-role)'
  WHERE NOT EXISTS (SELECT 1 FROM app)
  UNION ALL
  SELECT 'app-role-superuser', 'error', rolname, 'the app role is SUPERUSER: superusers ignore every policy',
         format('ALTER ROLE %I NOSUPERUSER;', rolname)
  FROM app WHERE rolsuper
  UNION ALL
  SELECT 'app-role-bypassrls', 'error', rolname, 'the app role has BYPASSRLS: it ignores every policy',
         format('ALTER ROLE %I NOBYPASSRLS;', rolname)
  FROM app WHERE rolbypassrls
  UNION ALL
  SELECT 'app-role-owns-table', 'error', t.name,
         format('owned by %s, which the app role is or belongs to: owners can disable RLS', pg_get_userbyid(t.relowner)),
         format('ALTER TABLE %s OWNER TO <owner role>;', t.name)
  FROM tenant_tables t, app WHERE pg_has_role(app.oid, t.relowner, 'MEMBER')
  UNION ALL
  SELECT 'app-role-truncate-references', 'error', t.name,
         'the app role holds TRUNCATE or REFERENCES: both ignore row-level security',
         format('REVOKE TRUNCATE, REFERENCES ON %s FROM %I;', t.name, app.rolname)
  FROM tenant_tables t, app
  WHERE NOT app.rolsuper
    AND (has_table_privilege(app.oid, t.oid, 'TRUNCATE') OR has_table_privilege(app.oid, t.oid, 'REFERENCES'))
  UNION ALL
  SELECT 'tenant-setting-default', 'error',
         CASE WHEN s.setrole = 0 THEN 'database ' || current_database() ELSE 'role ' || pg_get_userbyid(s.setrole) END,
         'app.tenant_id has a role or database default: every new connection starts inside a tenant',
         CASE WHEN s.setrole = 0 THEN format('ALTER DATABASE %I RESET app.tenant_id;', current_database())
              ELSE format('ALTER ROLE %I RESET app.tenant_id;', pg_get_userbyid(s.setrole)) END
  FROM pg_db_role_setting s
  WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
    AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'app.tenant\_id=%')
    AND (s.setrole = 0 OR EXISTS (SELECT 1 FROM app WHERE pg_has_role(app.oid, s.setrole, 'MEMBER')))

  -- The one way the server sets the tenant (migrations 0007, 0010): present, granting nothing, local
  UNION ALL
  SELECT 'tenant-setter-missing', 'error', 'public.set_tenant(uuid)',
         'no set_tenant(uuid): the server sets the request''s tenant only through this function',
         'apply the migrations (npx drizzle-kit migrate)'
  WHERE to_regprocedure('public.set_tenant(uuid)') IS NULL
  UNION ALL
  SELECT 'tenant-setter-unsafe', 'error', p.oid::regprocedure::text,
         CASE WHEN p.prosecdef THEN 'set_tenant is SECURITY DEFINER: it should grant nothing its caller could not do'
              ELSE 'set_tenant does not set app.tenant_id transaction-locally: a tenant could survive on a pooled connection' END,
         'restore it from db/migrations/0010_set_tenant_set_local.sql'
  FROM pg_proc p
  WHERE p.oid = to_regprocedure('public.set_tenant(uuid)')
    AND (p.prosecdef OR NOT (p.prosrc ~* 'set_config\s*\(\s*''app\.tenant_id''\s*,[^;]*,\s*true\s*\)'
                             OR p.prosrc ~* 'set\s+local\s+app\.tenant_id'))
  UNION ALL
  SELECT 'tenant-setter-not-granted', 'error', 'role ' || app.rolname,
         'the app role cannot execute set_tenant(uuid): every tenant request would fail',
         format('GRANT EXECUTE ON FUNCTION public.set_tenant(uuid) TO %I;', app.rolname)
  FROM app
  WHERE to_regprocedure('public.set_tenant(uuid)') IS NOT NULL
    AND NOT has_function_privilege(app.oid, to_regprocedure('public.set_tenant(uuid)'), 'EXECUTE')

  -- Other paths around RLS
  UNION ALL
  SELECT 'view-not-security-invoker', 'error', format('%I.%I', n.nspname, v.relname),
         CASE v.relkind WHEN 'm' THEN 'a materialized view over a tenant table holds every tenant''s rows, readable without RLS'
              ELSE 'a view over a tenant table runs as its owner unless security_invoker is set' END,
         CASE v.relkind WHEN 'm' THEN 'replace it with a view WITH (security_invoker = true)'
              ELSE format('ALTER VIEW %I.%I SET (security_invoker = true);', n.nspname, v.relname) END
  FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
  WHERE v.relkind IN ('v', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
    AND (v.relkind = 'm' OR NOT coalesce('security_invoker=true' = ANY (v.reloptions)
                                          OR 'security_invoker=on' = ANY (v.reloptions), false))
    AND EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d
                  ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
                WHERE r.ev_class = v.oid AND d.refobjid IN (SELECT oid FROM tenant_tables))
  UNION ALL
  SELECT 'definer-search-path', 'error', p.oid::regprocedure::text,
         'SECURITY DEFINER without a fixed search_path: a caller can shadow the tables it reads',
         format('ALTER FUNCTION %s SET search_path = '''';', p.oid::regprocedure)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
    AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
  UNION ALL
  SELECT 'definer-public-execute', 'error', p.oid::regprocedure::text,
         'SECURITY DEFINER executable by PUBLIC: any role can run it with its owner''s rights',
         format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC;', p.oid::regprocedure)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
    AND has_function_privilege('public', p.oid, 'EXECUTE')

  -- Keys, ids and indexes
  UNION ALL
  SELECT 'unique-without-tenant', 'error', format('%s on %s', k.conname, t.name),
         'a primary key or unique constraint without tenant_id: its checks see every tenant''s rows, so a conflict reveals another tenant''s data',
         'include tenant_id: (tenant_id, …)'
  FROM tenant_tables t JOIN pg_constraint k ON k.conrelid = t.oid
  WHERE k.contype IN ('p', 'u') AND NOT t.tenant_attnum = ANY (k.conkey)
  UNION ALL
  SELECT 'unique-without-tenant', 'error', format('%s on %s', i.indexrelid::regclass, t.name),
         'a unique index without tenant_id: its checks see every tenant''s rows, so a conflict reveals another tenant''s data',
         'include tenant_id: (tenant_id, …)'
  FROM tenant_tables t JOIN pg_index i ON i.indrelid = t.oid
  WHERE i.indisunique AND NOT t.tenant_attnum = ANY (i.indkey::int2[])
    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u'))
  UNION ALL
  SELECT 'fk-without-tenant', 'error', format('%s on %s', k.conname, t.name),
         'a foreign key between tenant tables without tenant_id: it can point at (and so probe) another tenant''s row',
         'make it composite: (tenant_id, x_id) REFERENCES x (tenant_id, id)'
  FROM tenant_tables t JOIN pg_constraint k ON k.conrelid = t.oid
  WHERE k.contype = 'f' AND k.confrelid IN (SELECT oid FROM tenant_tables) AND NOT t.tenant_attnum = ANY (k.conkey)
  UNION ALL
  SELECT 'serial-id', 'error', format('%s.%I', t.name, a.attname),
         'a serial or identity column: sequences are global and leak every tenant''s volume and order',
         'use uuid DEFAULT gen_random_uuid()'
  FROM tenant_tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
  WHERE a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%'
  UNION ALL
  SELECT 'tenant-index-missing', 'warning', t.name,
         'no index leads with tenant_id: every tenant-scoped query scans the whole table',
         format('CREATE INDEX ON %s (tenant_id);', t.name)
  FROM tenant_tables t
  WHERE NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND i.indkey[0] = t.tenant_attnum)
)
SELECT rule_id, severity, object, problem, fix
FROM findings
ORDER BY severity = 'error' DESC, rule_id, object;

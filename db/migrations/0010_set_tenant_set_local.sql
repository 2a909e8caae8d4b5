-- set_tenant makes the setting with SET LOCAL instead of set_config(…, true). On plain Postgres the
-- two are the same (transaction-local; inside a function SET LOCAL needs no explicit block, so the
-- one-Sync read keeps working). On Citus only SET LOCAL inside a transaction block reaches the
-- workers (with citus.propagate_set_commands = 'local', set by `palisade citus distribute`);
-- set_config is never propagated, so shards on workers would see no tenant. format(%L) quotes
-- the uuid's text; the parameter stays bound in the caller's statement.
CREATE OR REPLACE FUNCTION public.set_tenant(p_tenant_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
STRICT
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', p_tenant_id::text);
END;
$$;

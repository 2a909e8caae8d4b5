-- The one way the server sets the request's tenant (README, Isolation model). Every TypeScript
-- path calls set_tenant(uuid); how the setting is made is decided here, so an engine that needs it
-- made differently (Citus propagates only SET LOCAL inside a transaction block) changes this body,
-- not the callers. Transaction-local, as before: gone at COMMIT, ROLLBACK or the Sync that ends an
-- implicit transaction. STRICT: set_tenant(NULL) sets nothing, so the request sees no rows.
-- SECURITY INVOKER with a fixed search_path: it grants nothing the caller could not do itself.
CREATE FUNCTION public.set_tenant(p_tenant_id uuid)
RETURNS void
LANGUAGE sql
VOLATILE
STRICT
SECURITY INVOKER
SET search_path = ''
AS $$
  SELECT pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true);
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.set_tenant(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.set_tenant(uuid) TO palisade_app;
--> statement-breakpoint
-- The platform-admin path scopes its named-tenant reads the same way (ctx.platform.withTenant).
GRANT EXECUTE ON FUNCTION public.set_tenant(uuid) TO palisade_platform;

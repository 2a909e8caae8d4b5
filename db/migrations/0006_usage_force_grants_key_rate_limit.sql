-- What drizzle-kit cannot express for migration 0005: FORCE and grants for usage_daily. Also
-- resolve_tenant_api_key now returns the key's rate limit, which every request needs.
ALTER TABLE "usage_daily" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
-- The server upserts usage rows; DELETE keeps the app role's grants uniform across tenant tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "usage_daily" TO palisade_app;
--> statement-breakpoint
-- The platform-admin path: usage.all reads it; tenant export, import, stats and purge cover every tenant table.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "usage_daily" TO palisade_platform;
--> statement-breakpoint
-- A function's result type cannot change in place: drop and re-create, identical but for rate_limit.
DROP FUNCTION public.resolve_tenant_api_key(text, text);
--> statement-breakpoint
CREATE FUNCTION public.resolve_tenant_api_key(p_tenant_slug text, p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, tenant_status text, role text, expires_at timestamptz, revoked_at timestamptz, rate_limit text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  v_previous text := pg_catalog.current_setting('app.tenant_id', true);
  v_tenant uuid;
  v_status text;
BEGIN
  SELECT t.id, t.status INTO v_tenant, v_status FROM public.tenants t WHERE t.slug = p_tenant_slug;
  IF v_tenant IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_catalog.set_config('app.tenant_id', v_tenant::text, true);
  RETURN QUERY
    SELECT k.id, k.tenant_id, v_status, k.role, k.expires_at, k.revoked_at, k.rate_limit
    FROM public.api_keys k
    WHERE k.tenant_id = v_tenant AND k.key_hash = p_key_hash;
  PERFORM pg_catalog.set_config('app.tenant_id', coalesce(v_previous, ''), true);
END
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.resolve_tenant_api_key(text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.resolve_tenant_api_key(text, text) TO palisade_app;

-- What drizzle-kit cannot express: the app role, FORCE ROW LEVEL SECURITY, grants, and the
-- narrow SECURITY DEFINER functions that resolve an API key before any tenant is known.
-- Runs as the owner role (DATABASE_URL); creating palisade_app needs CREATEROLE once.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_app') THEN
    CREATE ROLE palisade_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO palisade_app;
--> statement-breakpoint
-- Owners skip RLS unless it is forced; FORCE keeps owner-run scripts and definer functions inside
-- the same policy as the app.
ALTER TABLE "api_keys" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "customers" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "orders" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
-- Never TRUNCATE or REFERENCES: both ignore policies.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "api_keys", "customers", "orders" TO palisade_app;
--> statement-breakpoint
REVOKE ALL ON TABLE "tenants", "platform_admin_keys" FROM PUBLIC;
--> statement-breakpoint
-- Resolves a tenant key: the slug comes from the key's readable prefix, and the hash is then
-- looked up under the tenant policy, so even the owner never reads api_keys across tenants.
-- The caller's setting is restored before returning (a SET clause would need superuser for a
-- custom parameter). Returns nothing for an unknown slug/hash.
CREATE FUNCTION public.resolve_tenant_api_key(p_tenant_slug text, p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, tenant_status text, role text, expires_at timestamptz, revoked_at timestamptz)
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
    SELECT k.id, k.tenant_id, v_status, k.role, k.expires_at, k.revoked_at
    FROM public.api_keys k
    WHERE k.tenant_id = v_tenant AND k.key_hash = p_key_hash;
  PERFORM pg_catalog.set_config('app.tenant_id', coalesce(v_previous, ''), true);
END
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.resolve_tenant_api_key(text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.resolve_tenant_api_key(text, text) TO palisade_app;
--> statement-breakpoint
-- Resolves a platform-admin key (bound to no tenant). platform_admin_keys has RLS enabled, no
-- policy and no grant: only this function, running as the owner, can read it.
CREATE FUNCTION public.resolve_platform_admin_key(p_key_hash text)
RETURNS TABLE (key_id uuid, expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT k.id, k.expires_at, k.revoked_at FROM public.platform_admin_keys k WHERE k.key_hash = p_key_hash
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.resolve_platform_admin_key(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.resolve_platform_admin_key(text) TO palisade_app;

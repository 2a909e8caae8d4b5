-- What drizzle-kit cannot express for migration 0003: FORCE, grants, and the definer functions
-- that resolve a session token or a tenant slug before any tenant is known.
ALTER TABLE "users" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "sessions" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "audit_events" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "users", "sessions" TO palisade_app;
--> statement-breakpoint
-- The audit log is append-only for the server: no UPDATE or DELETE, so history cannot be rewritten.
GRANT SELECT, INSERT ON TABLE "audit_events" TO palisade_app;
--> statement-breakpoint
-- The platform path works on one named tenant at a time, under the tenant policy (no BYPASSRLS).
-- It may delete audit events only because purging a tenant removes every row it owns.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "api_keys", "customers", "orders", "users", "sessions" TO palisade_platform;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON TABLE "audit_events" TO palisade_platform;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "tenants" TO palisade_platform;
--> statement-breakpoint
REVOKE ALL ON TABLE "platform_audit_events" FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON TABLE "platform_audit_events" TO palisade_platform;
--> statement-breakpoint
-- Resolves a session token like resolve_tenant_api_key resolves a key: the slug in the token's
-- prefix names the tenant, and the hash is looked up under the tenant policy.
CREATE FUNCTION public.resolve_session(p_tenant_slug text, p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, tenant_id uuid, tenant_status text, role text,
  user_disabled boolean, must_change_password boolean, expires_at timestamptz, revoked_at timestamptz)
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
    SELECT s.id, s.user_id, s.tenant_id, v_status, u.role, u.disabled_at IS NOT NULL, u.must_change_password,
      s.expires_at, s.revoked_at
    FROM public.sessions s JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
    WHERE s.tenant_id = v_tenant AND s.token_hash = p_token_hash;
  PERFORM pg_catalog.set_config('app.tenant_id', coalesce(v_previous, ''), true);
END
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.resolve_session(text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.resolve_session(text, text) TO palisade_app;
--> statement-breakpoint
-- Sign-in names a tenant by slug; this is the only slug lookup the app role has. The user and
-- password are then read inside that tenant's own transaction.
CREATE FUNCTION public.resolve_tenant_slug(p_tenant_slug text)
RETURNS TABLE (tenant_id uuid, tenant_status text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT t.id, t.status FROM public.tenants t WHERE t.slug = p_tenant_slug
$$;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION public.resolve_tenant_slug(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION public.resolve_tenant_slug(text) TO palisade_app;

-- The credential lookups set the tenant the way set_tenant does since 0010: SET LOCAL, which Citus
-- propagates to the workers when the caller runs the lookup inside a transaction block (the
-- server does on Citus: db/tenant-read.ts inTransactionFlight). On plain Postgres nothing changes.
-- Same signatures and results; grants are kept by CREATE OR REPLACE.
CREATE OR REPLACE FUNCTION public.resolve_tenant_api_key(p_tenant_slug text, p_key_hash text)
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
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', v_tenant::text);
  RETURN QUERY
    SELECT k.id, k.tenant_id, v_status, k.role, k.expires_at, k.revoked_at, k.rate_limit
    FROM public.api_keys k
    WHERE k.tenant_id = v_tenant AND k.key_hash = p_key_hash;
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', coalesce(v_previous, ''));
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION public.resolve_session(p_tenant_slug text, p_token_hash text)
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
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', v_tenant::text);
  RETURN QUERY
    SELECT s.id, s.user_id, s.tenant_id, v_status, u.role, u.disabled_at IS NOT NULL, u.must_change_password,
      s.expires_at, s.revoked_at
    FROM public.sessions s JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
    WHERE s.tenant_id = v_tenant AND s.token_hash = p_token_hash;
  EXECUTE pg_catalog.format('SET LOCAL app.tenant_id = %L', coalesce(v_previous, ''));
END
$$;

-- Every server instance LISTENs on palisade_changes (src/platform/change-feed.ts): these triggers
-- tell it, at commit, when a credential stops being what it was (revoked, expired early, role or
-- password changed, tenant suspended, deleted) and when a tenant's data changed, whoever made the
-- change: an instance, the CLI or psql. Payloads are JSON:
--   {"kind":"credentials","change":{"keyId"|"sessionId"|"userId"|"tenantId": "<uuid>"},"origin":"<application_name>"}
--   {"kind":"data","tenantId":"<uuid>"|null,"origin":"<application_name>"}   (null: every tenant, after TRUNCATE)
-- Postgres delivers a transaction's notifications only if it commits, and folds identical ones,
-- so a bulk write sends one per tenant. `origin` lets an instance skip what it already did itself.
-- The data triggers are statement-level over transition tables: one notification per tenant per
-- statement, exact even for a superuser's write with no tenant set. On Citus, triggers cannot stay
-- on distributed tables: `palisade citus distribute` drops these (see README, Scaling out on Citus).
CREATE FUNCTION public.palisade_notify_credentials() RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_id uuid;
  v_field text;
BEGIN
  IF TG_OP = 'DELETE' THEN v_id := OLD.id; ELSE v_id := NEW.id; END IF;
  v_field := CASE TG_TABLE_NAME
    WHEN 'tenants' THEN 'tenantId'
    WHEN 'api_keys' THEN 'keyId'
    WHEN 'platform_admin_keys' THEN 'keyId'
    WHEN 'sessions' THEN 'sessionId'
    WHEN 'users' THEN 'userId'
  END;
  PERFORM pg_catalog.pg_notify('palisade_changes', pg_catalog.json_build_object(
    'kind', 'credentials',
    'change', pg_catalog.json_build_object(v_field, v_id),
    'origin', pg_catalog.current_setting('application_name'))::text);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE FUNCTION public.palisade_notify_data() RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
  v_tenant uuid;
  v_origin text := pg_catalog.current_setting('application_name');
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_catalog.pg_notify('palisade_changes', pg_catalog.json_build_object('kind', 'data', 'tenantId', NULL, 'origin', v_origin)::text);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    FOR v_tenant IN SELECT DISTINCT n.tenant_id FROM new_rows n LOOP
      PERFORM pg_catalog.pg_notify('palisade_changes', pg_catalog.json_build_object('kind', 'data', 'tenantId', v_tenant, 'origin', v_origin)::text);
    END LOOP;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    FOR v_tenant IN SELECT DISTINCT o.tenant_id FROM old_rows o LOOP
      PERFORM pg_catalog.pg_notify('palisade_changes', pg_catalog.json_build_object('kind', 'data', 'tenantId', v_tenant, 'origin', v_origin)::text);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- For a tenant table that datasets read: the four triggers above, by name, so a custom migration
-- adding a table needs one line (README, Adding a tenant table). Run as the table's owner.
CREATE FUNCTION public.palisade_watch_table(p_table regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  EXECUTE pg_catalog.format('CREATE TRIGGER palisade_notify_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.palisade_notify_data()', p_table);
  EXECUTE pg_catalog.format('CREATE TRIGGER palisade_notify_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.palisade_notify_data()', p_table);
  EXECUTE pg_catalog.format('CREATE TRIGGER palisade_notify_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.palisade_notify_data()', p_table);
  EXECUTE pg_catalog.format('CREATE TRIGGER palisade_notify_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.palisade_notify_data()', p_table);
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION public.palisade_watch_table(regclass) FROM PUBLIC;
--> statement-breakpoint
SELECT public.palisade_watch_table('public.customers');
--> statement-breakpoint
SELECT public.palisade_watch_table('public.orders');
--> statement-breakpoint
-- Credentials: only the columns that change what a credential may do; last use and last login
-- (written every few seconds by every instance) fire nothing.
CREATE TRIGGER palisade_notify_credentials AFTER UPDATE OF status, slug OR DELETE ON public.tenants
  FOR EACH ROW EXECUTE FUNCTION public.palisade_notify_credentials();
--> statement-breakpoint
CREATE TRIGGER palisade_notify_credentials AFTER UPDATE OF revoked_at, expires_at, key_hash OR DELETE ON public.platform_admin_keys
  FOR EACH ROW EXECUTE FUNCTION public.palisade_notify_credentials();
--> statement-breakpoint
CREATE TRIGGER palisade_notify_credentials AFTER UPDATE OF revoked_at, expires_at, key_hash, role, rate_limit OR DELETE ON public.api_keys
  FOR EACH ROW EXECUTE FUNCTION public.palisade_notify_credentials();
--> statement-breakpoint
CREATE TRIGGER palisade_notify_credentials AFTER UPDATE OF role, disabled_at, password_hash, must_change_password OR DELETE ON public.users
  FOR EACH ROW EXECUTE FUNCTION public.palisade_notify_credentials();
--> statement-breakpoint
CREATE TRIGGER palisade_notify_credentials AFTER UPDATE OF revoked_at, expires_at OR DELETE ON public.sessions
  FOR EACH ROW EXECUTE FUNCTION public.palisade_notify_credentials();

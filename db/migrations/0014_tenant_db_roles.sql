-- Per-tenant database roles: a login role palisade_tenant_<tenant id as 32 hex> that is a member of
-- palisade_app (its grants) and palisade_pinned (this restrictive policy) sees and writes only
-- that tenant's rows, whatever app.tenant_id says (db/schema/tenancy.ts pinnedPolicy;
-- `palisade tenant db-role` creates one). Restrictive policies only narrow what the permissive
-- tenant_isolation policy allows; roles not in palisade_pinned are not held by it at all.
-- Creating palisade_pinned needs CREATEROLE once, like palisade_app.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_pinned') THEN
    CREATE ROLE palisade_pinned NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
END
$$;
--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "api_keys" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "customers" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "orders" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "sessions" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "users" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "audit_events" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "usage_daily" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);--> statement-breakpoint
CREATE POLICY "pinned_tenant" ON "idempotency_keys" AS RESTRICTIVE FOR ALL TO "palisade_pinned" USING (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END) WITH CHECK (tenant_id = CASE WHEN current_user ~ '^palisade_tenant_[0-9a-f]{32}$' THEN substr(current_user, 17)::uuid END);
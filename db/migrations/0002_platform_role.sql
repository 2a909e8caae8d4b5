-- The platform-admin path's role: what the server uses for platform-admin procedures (tenant
-- lifecycle, cross-tenant reads). NOSUPERUSER NOBYPASSRLS: it reads a tenant's rows only by
-- naming that tenant in its own transaction, under the same policy as the app. palisade_app is
-- never made a member, so no tenant request can reach it. Creating it needs CREATEROLE once.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'palisade_platform') THEN
    CREATE ROLE palisade_platform NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO palisade_platform;

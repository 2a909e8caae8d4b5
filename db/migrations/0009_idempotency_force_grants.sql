-- What drizzle-kit cannot express for migration 0008: FORCE and grants for idempotency_keys.
ALTER TABLE "idempotency_keys" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
-- The server stores answers and deletes expired ones; UPDATE keeps the grants uniform across tenant tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "idempotency_keys" TO palisade_app;
--> statement-breakpoint
-- The platform-admin path: tenant export, import, stats and purge cover every tenant table.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "idempotency_keys" TO palisade_platform;

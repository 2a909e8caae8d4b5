-- Column references in the CHECK are unqualified (drizzle-kit writes "usage_daily"."requests"): on
-- Citus the statement runs on every shard, whose table has another name.
ALTER TABLE "usage_daily" DROP CONSTRAINT "usage_daily_counts_check";--> statement-breakpoint
ALTER TABLE "usage_daily" ADD COLUMN "tenant_busy" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "usage_daily" ADD CONSTRAINT "usage_daily_counts_check" CHECK ("requests" >= 0 and "dataset_queries" >= 0 and "cache_hits" >= 0 and "errors" >= 0 and "rate_limited" >= 0 and "tenant_busy" >= 0);
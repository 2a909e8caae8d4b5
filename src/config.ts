/** Every environment variable the server reads, parsed once. Nothing else reads process.env. */
import path from 'node:path';
import { z } from 'zod';

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL');

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).optional(),
  PALISADE_DATA_DIR: z.string().min(1).default('.palisade'),
  DATABASE_URL: postgresUrl.optional(),
  APP_DATABASE_URL: postgresUrl.optional(),
  PLATFORM_DATABASE_URL: postgresUrl.optional(),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  SEED_DEMO: flag.optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  SESSION_TTL_MINUTES: z.coerce.number().int().min(1).max(60 * 24 * 30).default(12 * 60),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Owner/migrator credentials; undefined means: start embedded Postgres. */
  databaseUrl: string | undefined;
  /** The app role's credentials; undefined means: derive them (see README, Roles). */
  appDatabaseUrl: string | undefined;
  /** The platform role's credentials; undefined means: derive them like the app role's. */
  platformDatabaseUrl: string | undefined;
  poolMax: number;
  seedDemo: boolean;
  shutdownTimeoutMs: number;
  /** How long a sign-in session lasts. */
  sessionTtlMinutes: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  for (const name of ['APP_DATABASE_URL', 'PLATFORM_DATABASE_URL'] as const) {
    if (e[name] && !e.DATABASE_URL) {
      throw new ConfigError(`Invalid configuration:\n  ${name}: set DATABASE_URL (the owner role) as well`);
    }
  }
  const embedded = !e.DATABASE_URL;
  return {
    port: e.PORT,
    // The embedded demo prints working keys, so by default it only listens on this machine.
    host: e.HOST ?? (embedded ? '127.0.0.1' : '0.0.0.0'),
    dataDir: path.resolve(e.PALISADE_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    appDatabaseUrl: e.APP_DATABASE_URL,
    platformDatabaseUrl: e.PLATFORM_DATABASE_URL,
    poolMax: e.DB_POOL_MAX,
    seedDemo: e.SEED_DEMO ?? embedded,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    sessionTtlMinutes: e.SESSION_TTL_MINUTES,
  };
}

/**
 * The server's types this package hands to clients, and the only file of the package that reaches
 * into the server's source. In this repository they are the server's own (so the dashboard and
 * tests can use the package's source as it is); the build (build.ts) does not copy this file but
 * writes its exports out in full, as dist/server-types.d.ts, so that an installed package needs
 * neither our source tree nor the server's packages (drizzle-orm, hono, postgres, ioredis…).
 *
 * Only types go here, and every export is written out: a value export would have no JavaScript.
 */
export type { AppRouter } from '../../../src/trpc/app-router.js';
export type { Reason } from '../../../src/lib/errors.js';

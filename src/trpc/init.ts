/**
 * tRPC wiring: one initTRPC, the error shape, and the procedure tiers.
 *
 * - `publicProcedure`: no credential.
 * - `authedProcedure`: any verified credential (tenant key, session, platform-admin key).
 * - `tenantProcedure` / `tenantAnalystProcedure` / `tenantAdminProcedure`: a tenant credential with
 *   at least viewer / analyst / admin role; adds `ctx.tenantId`, `ctx.withTenant(tx => …)` and, for
 *   one-statement reads, `ctx.readTenant(db => …)` (one round trip, prepared, db/tenant-read.ts) and
 *   `ctx.readCompiled(statement, values)` (the same for a select compiled once,
 *   db/compiled-select.ts): the only ways a resolver reaches tenant data. The tenant comes from
 *   the credential, never from input.
 * - `sessionProcedure`: a signed-in user's session.
 * - `platformAdminProcedure`: a platform-admin key; adds `ctx.platform` (the admin path).
 *
 * The checks themselves (authentication, rate-limit spending, tier and role) are the access
 * layer's (access/tiers.ts), shared with REST and the CLI; here they become middlewares.
 *
 * No transformer: plain JSON in and out, so curl and non-TypeScript clients can call /trpc.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import type { TenantRole } from '../../db/schema/index.js';
import { authenticate, platformAccess, sessionAccess, tenantAccess, type TenantAccess } from '../access/tiers.js';
import { describeZodError, toAppError } from '../lib/error-mapping.js';
import type { TenantChangeReports } from '../modules/tenants/tenant-admin.service.js';
import { AppError } from '../lib/errors.js';
import type { Context } from './context.js';
import { reasonOfTRPCCode, toTRPCError } from './errors.js';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf, idempotentRequest, idempotentWithTenant, REPLAYED_HEADER } from './idempotency.js';

/** What a procedure declares about itself, read by the tiers. */
export interface ProcedureMeta {
  /** The answer holds a secret shown once (a new key, a temporary password): never stored, so no Idempotency-Key. */
  secretResult?: boolean;
}

const t = initTRPC.context<Context>().meta<ProcedureMeta>().create({
  isDev: false,
  errorFormatter({ shape, error, ctx }) {
    const app = error.cause instanceof AppError ? error.cause : undefined;
    const invalid = error.cause instanceof ZodError ? error.cause : undefined;
    // Both /trpc paths (trpc/trpc-route.ts) format every error here, with this request's context,
    // before they write the response: the one place a tRPC error's Retry-After can be set.
    if (app?.retryAfterSeconds !== undefined) ctx?.resHeaders.set('retry-after', String(app.retryAfterSeconds));
    const internal = error.code === 'INTERNAL_SERVER_ERROR';
    return {
      ...shape,
      message: internal
        ? 'Internal server error; quote the request id when reporting it.'
        : invalid
          ? describeZodError(invalid)
          : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        reason: app?.reason ?? (invalid ? ('INVALID_INPUT' as const) : reasonOfTRPCCode(shape.data.code)),
        requestId: ctx?.requestId,
        ...(invalid ? { issues: invalid.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } : {}),
      },
    };
  },
});

export const router = t.router;

/** An AppError or a recognised database error as the typed tRPC error; anything else (a tRPC error already) as it is. */
function mapped(error: unknown): unknown {
  if (error instanceof TRPCError) return error;
  const app = toAppError(error);
  return app ? toTRPCError(app) : error;
}

/** Maps a failed result of the rest of the chain (a later middleware or the resolver). */
function mapFailure<R extends { ok: boolean; error?: { cause?: unknown } }>(result: R): R {
  if (!result.ok) {
    const app = toAppError(result.error?.cause);
    if (app) throw toTRPCError(app);
  }
  return result;
}

/**
 * Turns AppErrors and recognised database errors into typed tRPC errors, whether a resolver or a
 * later middleware (auth) threw them.
 */
const errorMapping = t.middleware(async ({ ctx, next, type, path }) => {
  // Only tenant-tier mutations store answers (idempotency.ts); a key elsewhere must not look honoured.
  if (type === 'mutation' && ctx.headers.get(IDEMPOTENCY_HEADER) !== null) {
    throw toTRPCError(new AppError('IDEMPOTENCY_NOT_SUPPORTED', `${path} does not take ${IDEMPOTENCY_HEADER}; tenant data and key or user changes do.`));
  }
  return mapFailure(await next());
});

export const publicProcedure = t.procedure.use(errorMapping);

/** Any verified credential. Adds the principal and the actor (access/tiers.ts). */
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => next({ ctx: await authenticate(ctx.deps, ctx) }));

/** A signed-in user's session (not an API key): changing one's password, signing out. */
export const sessionProcedure = authedProcedure.use(({ ctx, next }) => next({ ctx: sessionAccess(ctx.deps, ctx) }));

/**
 * A tenant credential with at least `minimum` role (access/tiers.ts). The tenant comes from the
 * credential; the resolver gets `ctx.withTenant` and nothing wider. A mutation that succeeded may
 * have changed what the tenant's datasets show, so it moves the tenant's cache version on.
 */
function tenantTier(minimum: TenantRole) {
  // One middleware for error mapping, authentication and the tier rather than three stacked ones:
  // tRPC copies the call options and context at every level, and this tier serves the hot path.
  return t.procedure.use(async ({ ctx, next, type, path, meta, getRawInput }) => {
    try {
      // The procedure runs inside: the tenant's permit (access/tiers.ts) is held until it settles.
      return await tenantAccess(ctx.deps, ctx, minimum, async (access) => {
        const added = type === 'mutation' ? await withIdempotency(ctx, access, path, meta, getRawInput) : access;
        const result = mapFailure(await next({ ctx: added }));
        if (type === 'mutation' && result.ok) await ctx.deps.analytics.cache.invalidateTenant(added.tenantId);
        return result;
      });
    } catch (error) {
      throw mapped(error);
    }
  });
}

/** A mutation sent with an Idempotency-Key: its first transaction replays or stores the answer. */
async function withIdempotency(ctx: Context, added: TenantAccess, path: string, meta: ProcedureMeta | undefined, getRawInput: () => Promise<unknown>): Promise<TenantAccess> {
  const key = idempotencyKeyOf(ctx.headers);
  if (key === undefined) return added;
  if (meta?.secretResult) {
    throw new AppError('IDEMPOTENCY_NOT_SUPPORTED', `${path} answers with a secret shown only once, so its answer is never stored; send it without ${IDEMPOTENCY_HEADER}.`);
  }
  const request = idempotentRequest(added.principal, key, path, await getRawInput());
  const withTenant = idempotentWithTenant(ctx.deps.pool, added.tenantId, request, () => ctx.resHeaders.set(REPLAYED_HEADER, 'true'));
  return { ...added, withTenant };
}

/** Reads a tenant's data and runs dataset queries: any tenant role. */
export const tenantProcedure = tenantTier('viewer');
/** Writes a tenant's (demo) data: analyst or higher. */
export const tenantAnalystProcedure = tenantTier('analyst');
/** Manages a tenant's keys and users: admin or owner. */
export const tenantAdminProcedure = tenantTier('admin');

/**
 * A platform-admin key. The distinct admin path: its work runs on the platform role's pool
 * (palisade_platform, never reachable from tenant code), and it reaches one tenant's rows only by
 * naming that tenant in `ctx.platform.withTenant(tenantId, …)`, under the same policies. Changes
 * to a whole tenant report the caches they outdated through `ctx.reports`, after COMMIT.
 */
export const platformAdminProcedure = authedProcedure.use(({ ctx, next }) => {
  const { deps } = ctx;
  const reports: TenantChangeReports = {
    credentialsChanged: (change) => deps.credentialCache.evict(change),
    tenantDataChanged: (tenantId) => deps.analytics.cache.invalidateTenant(tenantId),
  };
  return next({ ctx: { ...platformAccess(deps, ctx), reports } });
});

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
 * No transformer: plain JSON in and out, so curl and non-TypeScript clients can call /trpc.
 */
import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import type { CompiledRead } from '../../db/compiled-select.js';
import { roleAtLeast, type TenantRole } from '../../db/schema/index.js';
import type { TenantDb } from '../../db/tenant-tx.js';
import { withTenant } from '../../db/tenant-tx.js';
import { authenticateRequest } from '../access/authenticate.js';
import { enforceRateLimit } from '../access/rate-limit.js';
import { AppError } from '../lib/errors.js';
import type { Actor } from '../modules/audit-log/audit.service.js';
import type { CredentialChange } from '../modules/credentials/credential-cache.js';
import type { Principal, TenantPrincipal } from '../modules/credentials/credentials.service.js';
import type { Context, ServerDeps } from './context.js';
import { describeZodError, toAppError } from '../lib/error-mapping.js';
import { toTRPCError } from './errors.js';
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
        reason: app?.reason ?? (invalid ? 'INVALID_INPUT' : shape.data.code),
        requestId: ctx?.requestId,
        ...(invalid ? { issues: invalid.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } : {}),
      },
    };
  },
});

export const router = t.router;

/** An AppError or a recognised database error as the typed tRPC error; anything else as it is. */
function mapped(error: unknown): unknown {
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
    throw toTRPCError(new AppError('BAD_REQUEST', 'IDEMPOTENCY_NOT_SUPPORTED', `${path} does not take ${IDEMPOTENCY_HEADER}; tenant data and key or user changes do.`));
  }
  return mapFailure(await next());
});

export const publicProcedure = t.procedure.use(errorMapping);

/**
 * The request's verified credential and the actor that audit events record. Tenant credentials
 * spend one request from their rate-limit budgets here, before any other work.
 */
async function authenticate(ctx: Context): Promise<{ principal: Principal; actor: Actor }> {
  const { deps } = ctx;
  const now = deps.clock();
  const principal = await authenticateRequest(deps.pool, ctx.headers, now, deps.credentialCache);
  if (principal.kind === 'tenant') {
    deps.lastUsed.note(principal, now);
    ctx.stats.tenantId = principal.tenantId;
    ctx.stats.tenantSlug = principal.tenantSlug;
    await enforceRateLimit(deps.rateLimiter, principal, deps.tenantRateLimit, now.getTime(), (name, value) => ctx.resHeaders.set(name, value), () => {
      ctx.stats.rateLimited = true;
    });
  }
  const actor: Actor = {
    type: principal.kind === 'platform' ? 'platform_admin' : principal.via === 'api_key' ? 'api_key' : 'user',
    id: principal.kind === 'tenant' && principal.via === 'session' ? principal.userId : principal.keyId,
    requestId: ctx.requestId,
    sourceIp: ctx.sourceIp,
  };
  return { principal, actor };
}

/** Any verified credential. Adds the principal and the actor. */
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => next({ ctx: await authenticate(ctx) }));

function tenantOnly(principal: Principal): TenantPrincipal {
  if (principal.kind !== 'tenant') {
    throw new AppError('FORBIDDEN', 'TENANT_KEY_REQUIRED', 'This procedure works on one tenant’s data; use a tenant API key or sign in.');
  }
  return principal;
}

/** A signed-in user's session (not an API key): changing one's password, signing out. */
export const sessionProcedure = authedProcedure.use(({ ctx, next }) => {
  const principal = tenantOnly(ctx.principal);
  if (principal.via !== 'session') {
    throw new AppError('FORBIDDEN', 'SESSION_REQUIRED', 'This procedure is for signed-in users; an API key cannot use it.');
  }
  return next({ ctx: { principal, tenantId: principal.tenantId, withTenant: scopedTo(ctx.deps.pool, principal.tenantId), credentialsChanged: evictFrom(ctx.deps) } });
});

/**
 * What modules are handed to report credentials their change outdated; they call it through
 * `afterCommit` (db/tenant-tx.ts), so the eviction happens only once the change is visible.
 */
function evictFrom(deps: ServerDeps) {
  return (change: CredentialChange) => deps.credentialCache.evict(change);
}

function scopedTo(pool: ServerDeps['pool'], tenantId: string) {
  return <T>(fn: (tx: TenantDb) => Promise<T>) => withTenant(pool, tenantId, fn);
}

/**
 * A tenant credential with at least `minimum` role. The tenant comes from the credential; the
 * resolver gets `ctx.withTenant` and nothing wider. A mutation that succeeded may have changed
 * what the tenant's datasets show, so it moves the tenant's cache version on.
 */
function tenantTier(minimum: TenantRole) {
  // One middleware for error mapping, authentication and the tier rather than three stacked ones:
  // tRPC copies the call options and context at every level, and this tier serves the hot path.
  return t.procedure.use(async ({ ctx, next, type, path, meta, getRawInput }) => {
    let added;
    try {
      added = await tenantContext(ctx, minimum);
      if (type === 'mutation') added = await withIdempotency(ctx, added, path, meta, getRawInput);
    } catch (error) {
      throw mapped(error);
    }
    const result = mapFailure(await next({ ctx: added }));
    if (type === 'mutation' && result.ok) {
      try {
        await ctx.deps.analytics.cache.invalidateTenant(added.tenantId);
      } catch (error) {
        throw mapped(error);
      }
    }
    return result;
  });
}

/** The tenant tier's additions to the context, or the error that refuses the request. */
async function tenantContext(ctx: Context, minimum: TenantRole) {
  const { principal: any, actor } = await authenticate(ctx);
  const principal = tenantOnly(any);
  if (principal.via === 'session' && principal.mustChangePassword) {
    throw new AppError('FORBIDDEN', 'PASSWORD_CHANGE_REQUIRED', 'Set a new password first (auth.changePassword); the temporary one only allows that.');
  }
  if (!roleAtLeast(principal.role, minimum)) {
    throw new AppError('FORBIDDEN', 'INSUFFICIENT_ROLE', `This needs the ${minimum} role or higher; this credential has ${principal.role}.`);
  }
  const { tenantId } = principal;
  const { reader, pool } = ctx.deps;
  const readTenant = <T>(fn: (db: TenantDb) => Promise<T>) => reader.read(tenantId, fn);
  const readCompiled: CompiledRead = (statement, values) => statement.run(reader, tenantId, values);
  return { principal, actor, tenantId, withTenant: scopedTo(pool, tenantId), readTenant, readCompiled, credentialsChanged: evictFrom(ctx.deps) };
}

type TenantAdditions = Awaited<ReturnType<typeof tenantContext>>;

/** A mutation sent with an Idempotency-Key: its first transaction replays or stores the answer. */
async function withIdempotency(ctx: Context, added: TenantAdditions, path: string, meta: ProcedureMeta | undefined, getRawInput: () => Promise<unknown>): Promise<TenantAdditions> {
  const key = idempotencyKeyOf(ctx.headers);
  if (key === undefined) return added;
  if (meta?.secretResult) {
    throw new AppError('BAD_REQUEST', 'IDEMPOTENCY_NOT_SUPPORTED', `${path} answers with a secret shown only once, so its answer is never stored; send it without ${IDEMPOTENCY_HEADER}.`);
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
 * naming that tenant in `ctx.platform.withTenant(tenantId, …)`, under the same policies.
 */
export const platformAdminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.principal.kind !== 'platform') {
    throw new AppError('FORBIDDEN', 'PLATFORM_ADMIN_REQUIRED', 'This procedure needs a platform-admin key (pa_…).');
  }
  const { platformPool } = ctx.deps;
  return next({
    ctx: {
      principal: ctx.principal,
      platform: {
        pool: platformPool,
        withTenant: <T>(tenantId: string, fn: (tx: TenantDb) => Promise<T>) => withTenant(platformPool, tenantId, fn),
      },
    },
  });
});

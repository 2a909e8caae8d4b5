/**
 * tRPC wiring: one initTRPC, the error shape, and the procedure tiers.
 *
 * - `publicProcedure`: no credential.
 * - `authedProcedure`: any verified key (tenant or platform admin).
 * - `tenantProcedure`: a tenant key; adds `ctx.tenantId` and `ctx.withTenant(tx => …)`, the only
 *   way a resolver reaches tenant data. The tenant comes from the key, never from input.
 * (Platform-admin procedures get their own tier with the admin path.)
 *
 * No transformer: plain JSON in and out, so curl and non-TypeScript clients can call /trpc.
 */
import { initTRPC } from '@trpc/server';
import { ZodError } from 'zod';
import type { TenantDb } from '../../db/tenant-tx.js';
import { withTenant } from '../../db/tenant-tx.js';
import { authenticateRequest } from '../http/auth.js';
import { AppError } from '../lib/errors.js';
import type { Context } from './context.js';
import { describeZodError, toAppError, toTRPCError } from './errors.js';

const t = initTRPC.context<Context>().create({
  isDev: false,
  errorFormatter({ shape, error, ctx }) {
    const app = error.cause instanceof AppError ? error.cause : undefined;
    const invalid = error.cause instanceof ZodError ? error.cause : undefined;
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

/**
 * Turns AppErrors and recognised database errors into typed tRPC errors, whether a resolver or a
 * later middleware (auth) threw them.
 */
const errorMapping = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toAppError(result.error.cause);
    if (mapped) throw toTRPCError(mapped);
  }
  return result;
});

export const publicProcedure = t.procedure.use(errorMapping);

export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const principal = await authenticateRequest(ctx.pool, ctx.headers);
  return next({ ctx: { principal } });
});

export const tenantProcedure = authedProcedure.use(({ ctx, next }) => {
  const { principal, pool } = ctx;
  if (principal.kind !== 'tenant') {
    throw new AppError('FORBIDDEN', 'TENANT_KEY_REQUIRED', 'This procedure works on one tenant’s data; use a tenant API key.');
  }
  const tenantId = principal.tenantId;
  return next({
    ctx: {
      principal,
      tenantId,
      withTenant: <T>(fn: (tx: TenantDb) => Promise<T>) => withTenant(pool, tenantId, fn),
    },
  });
});

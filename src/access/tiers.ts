/**
 * The access layer: from a request's credential to what the caller may do, the same for every
 * transport (tRPC tiers in trpc/init.ts, REST in rest/v1-routes.ts). Each function authenticates,
 * checks the tier, and hands back a scope that reaches tenant data only for the credential's own
 * tenant: the tenant comes from the verified credential, never from input. Tenant credentials
 * spend one request of their rate-limit budgets as soon as they are verified, before any check
 * that could refuse them, so refused requests count too. A tenant request then holds one of its
 * tenant's permits (the bulkhead, platform/bulkhead/) for as long as its work runs: `tenantAccess`
 * takes that work as a callback and releases the permit when it settles, however it settles.
 */
import type { Sql } from '../../db/client.js';
import type { CompiledRead } from '../../db/compiled-select.js';
import { roleAtLeast, type TenantRole } from '../../db/schema/index.js';
import type { TenantReader } from '../../db/tenant-read.js';
import { afterCommit, withTenant, type TenantDb } from '../../db/tenant-tx.js';
import type { Clock } from '../lib/clock.js';
import { AppError } from '../lib/errors.js';
import type { Actor } from '../modules/audit-log/audit.service.js';
import type { CredentialCache, CredentialChange } from '../modules/credentials/credential-cache.js';
import type { LastUsedRecorder } from '../modules/credentials/last-used.js';
import type { Principal, TenantPrincipal } from '../modules/credentials/principal.js';
import type { TenantBulkhead } from '../platform/bulkhead/tenant-bulkhead.js';
import type { RateLimiter } from '../platform/rate-limit/rate-limiter.js';
import { assertServedHere, authenticateRequest, type ServedTenant } from './authenticate.js';
import { enforceRateLimit } from './rate-limit.js';
import type { AccessRequest } from './request.js';

/** The long-lived parts access decisions need; the server's deps carry them (src/deps.ts). */
export interface AccessDeps {
  /** The app-role pool: credential resolution and the tenant runner. */
  pool: Sql;
  /** One-statement tenant reads in one round trip (db/tenant-read.ts). */
  reader: TenantReader;
  /** The platform-role pool: only platform-admin access hands it out. */
  platformPool: Sql;
  clock: Clock;
  /** Verified credentials reused for a few seconds (modules/credentials/credential-cache.ts). */
  credentialCache: CredentialCache;
  lastUsed: LastUsedRecorder;
  rateLimiter: RateLimiter;
  /** Every tenant's budget, e.g. `600/minute`. */
  tenantRateLimit: string;
  /** PALISADE_TENANT: the one tenant a pinned instance serves; unset, every tenant. */
  servedTenant?: ServedTenant;
  /** Per-tenant permits: TENANT_MAX_CONCURRENCY requests in flight, TENANT_BUSY_WAIT_MS of waiting. */
  bulkhead: TenantBulkhead;
}

export interface Authenticated {
  principal: Principal;
  /** Who audit events name. */
  actor: Actor;
}

/**
 * One tenant, and nothing wider: transactions (`withTenant`) scoped to it, and the report that
 * modules call (through `afterCommit`, db/tenant-tx.ts) when a committed change outdated cached
 * credentials.
 */
export interface TenantScope {
  tenantId: string;
  withTenant<T>(fn: (tx: TenantDb) => Promise<T>): Promise<T>;
  credentialsChanged(change: CredentialChange): void | Promise<void>;
}

/** A tenant credential's access: its scope plus one-round-trip reads. */
export interface TenantAccess extends Authenticated, TenantScope {
  principal: TenantPrincipal;
  /** A one-statement read (db/tenant-read.ts). */
  readTenant<T>(fn: (db: TenantDb) => Promise<T>): Promise<T>;
  /** A select compiled once (db/compiled-select.ts), read in one round trip. */
  readCompiled: CompiledRead;
}

export interface PlatformAccess extends Authenticated {
  principal: Extract<Principal, { kind: 'platform' }>;
  platform: {
    /** The platform role's pool (palisade_platform), never reachable from tenant access. */
    pool: Sql;
    /** One tenant's rows, named explicitly, under the same policies. */
    withTenant<T>(tenantId: string, fn: (tx: TenantDb) => Promise<T>): Promise<T>;
  };
}

/**
 * A tenant scope on `pool`, for the server's tiers and the CLI alike. With `reader`, its
 * transactions tell the reader their tenant wrote (read-your-writes on a read replica).
 */
export function tenantScope(pool: Sql, tenantId: string, credentialsChanged: TenantScope['credentialsChanged'], reader?: Pick<TenantReader, 'wrote'>): TenantScope {
  return { tenantId, withTenant: (fn) => (reader ? withTenantNoted(pool, reader, tenantId, fn) : withTenant(pool, tenantId, fn)), credentialsChanged };
}

/**
 * withTenant, telling `reader` that `tenantId` wrote: when the transaction starts (its reads stay
 * on the primary meanwhile) and again once it committed, before any other commit hook (one that
 * moves the tenant's query-cache version on must not let a replica read fill the new version).
 * Every tenant transaction counts, read-only ones too: knowing whether one wrote would cost a
 * round trip, and counting one that did not only sends a few reads to the primary.
 */
function withTenantNoted<T>(pool: Sql, reader: Pick<TenantReader, 'wrote'>, tenantId: string, fn: (tx: TenantDb) => Promise<T>): Promise<T> {
  reader.wrote(tenantId);
  return withTenant(pool, tenantId, (tx) => {
    afterCommit(tx, () => reader.wrote(tenantId));
    return fn(tx);
  });
}

/** What an audit event records about who made a request. */
export function actorOf(principal: Principal, request: Pick<AccessRequest, 'requestId' | 'sourceIp'>): Actor {
  return {
    type: principal.kind === 'platform' ? 'platform_admin' : principal.via === 'api_key' ? 'api_key' : 'user',
    id: principal.kind === 'tenant' && principal.via === 'session' ? principal.userId : principal.keyId,
    requestId: request.requestId,
    sourceIp: request.sourceIp,
  };
}

/** The request's verified credential. A tenant credential spends one request of its budgets here. */
export async function authenticate(deps: AccessDeps, request: AccessRequest): Promise<Authenticated> {
  const now = deps.clock();
  const principal = await authenticateRequest(deps.pool, request.headers, now, deps.credentialCache);
  assertServedHere(deps.servedTenant, principal);
  if (principal.kind === 'tenant') {
    deps.lastUsed.note(principal, now);
    const { stats } = request;
    stats.tenantId = principal.tenantId;
    stats.tenantSlug = principal.tenantSlug;
    await enforceRateLimit(deps.rateLimiter, principal, deps.tenantRateLimit, now.getTime(), (name, value) => request.resHeaders.set(name, value), () => {
      stats.rateLimited = true;
    });
  }
  return { principal, actor: actorOf(principal, request) };
}

function tenantOnly(principal: Principal): TenantPrincipal {
  if (principal.kind !== 'tenant') {
    throw new AppError('TENANT_KEY_REQUIRED', 'This procedure works on one tenant’s data; use a tenant API key or sign in.');
  }
  return principal;
}

function evictFrom(deps: AccessDeps): TenantScope['credentialsChanged'] {
  return (change) => deps.credentialCache.evict(change);
}

/**
 * Retry-After of TENANT_BUSY: permits turn over within a query's time, so the soonest a client can
 * be told (whole seconds) is also about right.
 */
export const TENANT_BUSY_RETRY_AFTER_SECONDS = 1;

/**
 * Runs `work` with a tenant credential's access, at least `minimum` role, holding one of the
 * tenant's permits (TENANT_MAX_CONCURRENCY on this instance) from the checks to `work`'s end,
 * error or not. With every permit taken, the request waits up to TENANT_BUSY_WAIT_MS for one, and
 * past that (or once its client has gone away) answers 503 TENANT_BUSY with Retry-After, without
 * running `work`. The permit is taken after the credential and rate-limit checks: they need the
 * tenant, and a refused credential must not wait. A session whose password must be changed
 * reaches nothing here (only `sessionAccess`, which changes it).
 */
export async function tenantAccess<T>(deps: AccessDeps, request: AccessRequest, minimum: TenantRole, work: (access: TenantAccess) => Promise<T>): Promise<T> {
  const { actor, principal: any } = await authenticate(deps, request);
  const principal = tenantOnly(any);
  if (principal.via === 'session' && principal.mustChangePassword) {
    throw new AppError('PASSWORD_CHANGE_REQUIRED', 'Set a new password first (auth.changePassword); the temporary one only allows that.');
  }
  if (!roleAtLeast(principal.role, minimum)) {
    throw new AppError('INSUFFICIENT_ROLE', `This needs the ${minimum} role or higher; this credential has ${principal.role}.`);
  }
  const { tenantId } = principal;
  const { reader, bulkhead } = deps;
  const permit = bulkhead.tryAcquire(tenantId) ?? (await bulkhead.acquire(tenantId, () => request.abortSignal?.()));
  if (permit === undefined) {
    request.stats.tenantBusy = true;
    throw new AppError(
      'TENANT_BUSY',
      `This tenant already has ${bulkhead.maxConcurrent} requests in progress on this server and none finished within ${bulkhead.waitMs} ms; retry shortly.`,
      { retryAfterSeconds: TENANT_BUSY_RETRY_AFTER_SECONDS },
    );
  }
  try {
    return await work({
      principal,
      actor,
      ...tenantScope(deps.pool, tenantId, evictFrom(deps), reader),
      readTenant: (fn) => reader.read(tenantId, fn),
      readCompiled: (statement, values) => statement.run(reader, tenantId, values),
    });
  } finally {
    permit.release();
  }
}

/** A signed-in user's session (not an API key), whatever its role: changing one's password, signing out. */
export function sessionAccess(deps: AccessDeps, authenticated: Authenticated): Authenticated & TenantScope & { principal: Extract<TenantPrincipal, { via: 'session' }> } {
  const principal = tenantOnly(authenticated.principal);
  if (principal.via !== 'session') {
    throw new AppError('SESSION_REQUIRED', 'This procedure is for signed-in users; an API key cannot use it.');
  }
  return { principal, actor: authenticated.actor, ...tenantScope(deps.pool, principal.tenantId, evictFrom(deps), deps.reader) };
}

/** A platform-admin key: the admin path, on the platform role's pool. */
export function platformAccess(deps: AccessDeps, authenticated: Authenticated): PlatformAccess {
  const { principal } = authenticated;
  if (principal.kind !== 'platform') {
    throw new AppError('PLATFORM_ADMIN_REQUIRED', 'This procedure needs a platform-admin key (pa_…).');
  }
  const { platformPool, reader } = deps;
  return {
    principal,
    actor: authenticated.actor,
    // An admin's change to a tenant's rows is that tenant's write, for its reads on this instance.
    platform: { pool: platformPool, withTenant: (tenantId, fn) => withTenantNoted(platformPool, reader, tenantId, fn) },
  };
}

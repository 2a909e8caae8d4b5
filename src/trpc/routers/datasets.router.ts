/**
 * The tenant's analytics: the catalog's datasets, and `query` over them. The engine runs inside
 * the tenant's transaction (via the analytics service), so a dataset only ever aggregates the
 * caller's rows; the REST routes in rest/v1-routes.ts call the same functions.
 */
import { z } from 'zod';
import * as analytics from '../../modules/analytics/analytics.service.js';
import { describeDataset, listDatasets, queryInput } from '../../modules/analytics/query.service.js';
import { tenantProcedure, router } from '../init.js';

export const datasetsRouter = router({
  list: tenantProcedure.query(({ ctx }) => listDatasets(ctx.deps.analytics.catalog)),
  describe: tenantProcedure
    .input(z.object({ name: z.string().min(1) }))
    .query(({ ctx, input }) => describeDataset(ctx.deps.analytics.catalog, input.name)),
});

/** `query { dataset, dimensions, metrics, filters, timeGrain?, orderBy, limit, offset }`. */
export const queryProcedure = tenantProcedure.input(queryInput).query(async ({ ctx, input }) => {
  const result = await analytics.queryDataset(ctx.deps.reader, ctx.deps.analytics, { tenantId: ctx.tenantId, role: ctx.principal.role, actor: ctx.actor }, input, { via: 'trpc' });
  // Answered queries only: the cache hit rate is over queries that could have hit.
  ctx.stats.datasetQuery = true;
  ctx.stats.cacheHit = result.cached;
  return result;
});

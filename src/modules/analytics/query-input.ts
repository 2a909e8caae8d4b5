/**
 * What a query asks for: the request shape the engine accepts (zod), its limits, and the parsed
 * type that query-sql.ts plans from. Pure: no database.
 */
import { z } from 'zod';
import { AppError } from '../../lib/errors.js';

export const FILTER_OPS = [
  'eq', 'neq', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'between', 'contains', 'starts_with', 'is_null', 'is_not_null',
] as const;
export const TIME_GRAINS = ['day', 'week', 'month', 'quarter', 'year'] as const;

export const QUERY_LIMITS = { dimensions: 20, metrics: 50, filters: 100, defaultRows: 1_000, maxRows: 100_000, maxOffset: 1_000_000, values: 1_000 } as const;

const fieldName = z.string({ error: 'expected a name' }).min(1, 'must not be empty').max(63, 'at most 63 characters');
const filterValue = z.union([z.string().max(10_000, 'at most 10000 characters'), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean',
});

/** One filter value: a literal of the field's type (dates and timestamps as ISO strings). */
export type FilterValue = z.output<typeof filterValue>;
export type FilterOp = (typeof FILTER_OPS)[number];

/**
 * A filter: a leaf on a dimension (rows before aggregation, WHERE) or on a metric (aggregated
 * rows, HAVING), or `and` / `or` / `not` of filters. One object shape with optional keys rather
 * than a union, so a mistake in a leaf gets the field's own message (query-sql.ts checks which
 * keys go together), not "no union member matched".
 */
export interface FilterNode {
  dimension?: string;
  metric?: string;
  op?: FilterOp;
  value?: FilterValue | null;
  values?: (FilterValue | null)[];
  and?: FilterNode[];
  or?: FilterNode[];
  not?: FilterNode;
}

const filterInput: z.ZodType<FilterNode, FilterNode> = z.strictObject({
  dimension: fieldName.optional(),
  metric: fieldName.optional(),
  op: z.enum(FILTER_OPS, { error: `expected one of ${FILTER_OPS.join('|')}` }).optional(),
  value: filterValue.nullable().optional(),
  values: z.array(filterValue.nullable()).max(QUERY_LIMITS.values, `at most ${QUERY_LIMITS.values} values`).optional(),
  get and() {
    return z.array(filterInput).min(1, 'at least one filter').max(QUERY_LIMITS.filters, `at most ${QUERY_LIMITS.filters} filters`).optional();
  },
  get or() {
    return z.array(filterInput).min(1, 'at least one filter').max(QUERY_LIMITS.filters, `at most ${QUERY_LIMITS.filters} filters`).optional();
  },
  get not() {
    return filterInput.optional();
  },
});

export const queryInput = z
  .strictObject({
    dataset: fieldName,
    dimensions: z.array(fieldName).max(QUERY_LIMITS.dimensions, `at most ${QUERY_LIMITS.dimensions} dimensions`).default([]),
    metrics: z.array(fieldName).max(QUERY_LIMITS.metrics, `at most ${QUERY_LIMITS.metrics} metrics`).default([]),
    filters: z.array(filterInput).max(QUERY_LIMITS.filters, `at most ${QUERY_LIMITS.filters} filters`).default([]),
    timeGrain: z.enum(TIME_GRAINS, { error: `expected one of ${TIME_GRAINS.join('|')}` }).optional(),
    orderBy: z
      .array(
        z.strictObject({
          field: fieldName,
          direction: z.enum(['asc', 'desc'], { error: 'expected asc or desc' }).default('asc'),
        }),
      )
      .max(QUERY_LIMITS.dimensions + QUERY_LIMITS.metrics + 1)
      .default([]),
    limit: z
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(1, 'at least 1')
      .max(QUERY_LIMITS.maxRows, `at most ${QUERY_LIMITS.maxRows} rows`)
      .default(QUERY_LIMITS.defaultRows),
    offset: z
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(0, 'at least 0')
      .max(QUERY_LIMITS.maxOffset, `at most ${QUERY_LIMITS.maxOffset}`)
      .default(0),
  })
  .refine((q) => q.dimensions.length + q.metrics.length > 0, { message: 'ask for at least one dimension or metric', path: ['metrics'] });

/** A query as the engine receives it: validated, defaults applied. */
export type QueryInput = z.output<typeof queryInput>;

/** For transports that parse input themselves (REST): a 400 naming each bad field. */
export function parseQueryInput(raw: unknown): QueryInput {
  const parsed = queryInput.safeParse(raw);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues
    .map((issue) => {
      const at = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
      const reason = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.join(', ')}` : issue.message;
      return at ? `${at}: ${reason}` : reason;
    })
    .join('; ');
  throw new AppError('INVALID_QUERY', message);
}

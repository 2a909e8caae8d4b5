/**
 * What /v1 reads from URLs and what it answers, as zod schemas: v1-routes.ts parses URLs with the
 * parameter schemas (and its handlers' bodies must satisfy the response types), openapi.ts turns
 * the same schemas into the OpenAPI document, so the document cannot describe another API than
 * the one served. The POST body is the engine's own `queryInput`.
 */
import { z } from 'zod';
import { REASONS, type ErrorCode, type Reason } from '../lib/errors.js';
import { AGGREGATIONS, DIMENSION_TYPES, METRIC_FORMATS } from '../modules/analytics/catalog.js';
import { FILTER_OPS, QUERY_LIMITS, TIME_GRAINS, queryInput } from '../modules/analytics/query-input.js';

// --- URL parameters -----------------------------------------------------------------------------

/** Comma-separated and/or repeated: `dimensions=region,status` or `dimensions=region&dimensions=status`. */
function splitList(values: string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

const nameList = z.array(z.string()).transform(splitList);

/** A URL's whole number; the range is the engine's (QUERY_LIMITS), repeated here so the document shows it. */
const urlInteger = (min: number, max: number) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int('expected a whole number')
    .min(min, `at least ${min}`)
    .max(max, `at most ${max}`);

/** JSON unless asked for CSV; `format` wins over `Accept`. */
export const QUERY_FORMATS = ['json', 'csv'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

/** The URL parameters of POST /v1/query (its query is the body). */
export const queryFormatParams = z.object({
  format: z
    .enum(QUERY_FORMATS, { error: `expected ${QUERY_FORMATS.join(' or ')}` })
    .optional()
    .meta({ description: '`csv` answers CSV (header row, CRLF) for tools that cannot set `Accept: text/csv`; `json` answers JSON whatever `Accept` says.' }),
});

/**
 * GET /v1/query's URL parameters, for tools that can only fetch a URL. Unknown parameters are
 * ignored (cache busters). What the values mean (does the dataset exist, is the dimension a
 * number) is checked by the engine's `queryInput` after the route has assembled the query.
 */
export const queryUrlParams = z.object({
  dataset: z.string({ error: 'expected a name' }).meta({ description: 'The dataset (GET /v1/datasets lists them).' }),
  dimensions: nameList.optional().meta({ description: 'Dimensions to group by: comma-separated and/or repeated.' }),
  metrics: nameList.optional().meta({ description: 'Metrics to compute: comma-separated and/or repeated.' }),
  filter: z
    .array(z.string())
    .optional()
    .meta({
      description:
        '`<dimension>:<op>[:<value>[,<value>…]]`, repeatable (all must hold), e.g. `region:eq:north`, `region:in:north,south`, ' +
        '`amount:between:10,100`, `status:is_null`; a value is read as the dimension’s type. ' +
        `Ops: ${FILTER_OPS.join(', ')}.`,
    }),
  filters: z
    .string()
    .optional()
    .meta({
      description: 'Filters as a JSON array, exactly as `filters` in the POST body; combined with `filter`.',
      contentMediaType: 'application/json',
    }),
  timeGrain: z
    .enum(TIME_GRAINS, { error: `expected one of ${TIME_GRAINS.join('|')}` })
    .optional()
    .meta({ description: 'Truncates time dimensions to this grain.' }),
  orderBy: z
    .array(z.string())
    .transform((values) => splitList(values).map((f) => (f.startsWith('-') ? { field: f.slice(1), direction: 'desc' as const } : { field: f, direction: 'asc' as const })))
    .optional()
    .meta({ description: 'Sort fields, comma-separated and/or repeated; a leading `-` sorts descending, e.g. `-revenue,region`.' }),
  limit: urlInteger(1, QUERY_LIMITS.maxRows)
    .optional()
    .meta({ description: `Rows to return (default ${QUERY_LIMITS.defaultRows}); \`truncated\` says whether more matched.` }),
  offset: urlInteger(0, QUERY_LIMITS.maxOffset).optional().meta({ description: 'Rows to skip (default 0).' }),
  ...queryFormatParams.shape,
});

/** GET /v1/datasets/{name}. */
export const datasetPathParams = z.object({
  name: z.string().meta({ description: 'A dataset name, as GET /v1/datasets lists them.' }),
});

type JsonSchema = Record<string, unknown>;

export interface UrlParameter {
  name: string;
  required: boolean;
  /** Arrays may repeat in the URL (`a=1&a=2`); other parameters take one value. */
  repeated: boolean;
  /** What the URL carries (zod's input side), as JSON Schema. */
  schema: JsonSchema;
}

/**
 * The parameters a URL schema declares: the route reads exactly these (lists from every
 * occurrence) and the document lists exactly these.
 */
export function urlParameters(params: z.ZodObject): UrlParameter[] {
  const json = z.toJSONSchema(params, { target: 'draft-2020-12', io: 'input' });
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, schema]) => {
    if (typeof schema !== 'object' || '$ref' in schema) throw new Error(`urlParameters: ${name} must be a plain schema`);
    return { name, required: required.has(name), repeated: schema.type === 'array', schema: schema as JsonSchema };
  });
}

// --- Responses ----------------------------------------------------------------------------------

const datasetSummary = z.object({
  name: z.string(),
  description: z.string(),
  dimensions: z.array(z.string()),
  metrics: z.array(z.string()),
  defaultTimeDimension: z.string().nullable(),
});

/** GET /v1/datasets. */
export const datasetList = z.object({ datasets: z.array(datasetSummary) });

const limitKeys = Object.keys(QUERY_LIMITS) as (keyof typeof QUERY_LIMITS)[];

/** GET /v1/datasets/{name}: everything needed to write a query, with one ready to send. */
export const datasetDescription = z.object({
  name: z.string(),
  table: z.string(),
  description: z.string(),
  defaultTimeDimension: z.string().nullable(),
  cacheTtlSeconds: z.number().int().nullable(),
  dimensions: z.array(
    z.object({
      name: z.string(),
      label: z.string(),
      type: z.enum(DIMENSION_TYPES),
      description: z.string().nullable(),
      /** A dimension is a column or an expression, never both. */
      column: z.string().optional(),
      expression: z.string().nullable().optional(),
    }),
  ),
  metrics: z.array(
    z.object({
      name: z.string(),
      label: z.string(),
      type: z.literal('number'),
      aggregation: z.enum(AGGREGATIONS),
      format: z.enum(METRIC_FORMATS),
      description: z.string().nullable(),
      column: z.string().nullable(),
      expression: z.string().optional(),
      filter: z.string().nullable(),
    }),
  ),
  // The engine's constant lists (readonly in TypeScript too).
  filterOps: z.array(z.enum(FILTER_OPS)).readonly(),
  timeGrains: z.array(z.enum(TIME_GRAINS)).readonly(),
  limits: z.object(Object.fromEntries(limitKeys.map((k) => [k, z.number().int()])) as Record<keyof typeof QUERY_LIMITS, z.ZodNumber>),
  exampleQuery: queryInput,
});

const cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** GET and POST /v1/query as JSON. */
export const queryResult = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.enum(DIMENSION_TYPES), label: z.string() })),
  rows: z.array(z.record(z.string(), cell)).meta({ description: 'One object per row, keyed by column name.' }),
  rowCount: z.number().int().min(0),
  truncated: z.boolean().meta({ description: 'More rows matched than `limit` returned.' }),
  cached: z.boolean(),
  durationMs: z.number().min(0),
});

const reasons = Object.keys(REASONS) as [Reason, ...Reason[]];
const codes = [...new Set(Object.values(REASONS))] as [ErrorCode, ...ErrorCode[]];

/** Every REST error: http/errors.ts `renderError`. */
export const errorEnvelope = z.object({
  error: z.object({
    code: z.enum(codes).meta({ description: 'Decides the HTTP status.' }),
    reason: z.enum(reasons).meta({ description: 'Stable and machine-readable: match on this.' }),
    message: z.string().meta({ description: 'For people; may change.' }),
    requestId: z.string().meta({ description: 'Also in X-Request-Id; quote it when reporting a problem.' }),
  }),
});

export type DatasetList = z.output<typeof datasetList>;
export type DatasetDescription = z.output<typeof datasetDescription>;
export type QueryResultBody = z.output<typeof queryResult>;

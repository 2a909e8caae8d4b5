/**
 * The OpenAPI 3.1 document of /v1, served at GET /v1/openapi.json. Every schema in it is generated
 * by zod from the schemas the routes validate with (rest/schemas.ts, the engine's `queryInput`);
 * the examples come from the server's own catalog, so a request built from them runs here.
 * test/openapi.test.ts holds the paths to the routes Hono has registered, both ways, and sends a
 * request built from the document for each operation.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fromPackageRoot } from '../../db/package-root.js';
import { HTTP_STATUS, REASONS, isReason, type Reason } from '../lib/errors.js';
import type { Catalog } from '../modules/analytics/catalog.js';
import { queryInput } from '../modules/analytics/query-input.js';
import { describeDataset } from '../modules/analytics/query.service.js';
import {
  datasetDescription,
  datasetList,
  datasetPathParams,
  errorEnvelope,
  queryFormatParams,
  queryResult,
  queryUrlParams,
  urlParameters,
} from './schemas.js';

type Json = Record<string, unknown>;

const SCHEMAS = '#/components/schemas/';
const BEARER = [{ bearer: [] }];

/** JSON Pointer segment decoding (RFC 6901): zod encodes `~` and `/` in `$defs` keys. */
function unescapePointer(segment: string): string {
  return decodeURIComponent(segment).replaceAll('~1', '/').replaceAll('~0', '~');
}

/** zod bounds every `.int()` by JavaScript's safe range; to a client that is noise, not a limit. */
function isSafeIntegerBound(key: string, value: unknown): boolean {
  return (key === 'minimum' && value === Number.MIN_SAFE_INTEGER) || (key === 'maximum' && value === Number.MAX_SAFE_INTEGER);
}

/**
 * Adds zod's JSON Schema of `schema` as component `name`, with its `$defs` (recursive parts such as
 * the filter tree, and parts with a meta `id`) as components `<name>_<def>` beside it and every
 * `$ref` rewritten to match: inside the document, `#/$defs/…` would resolve against the document's
 * root, not the component's. Returns the reference to use.
 */
export function addSchema(schemas: Record<string, Json>, name: string, schema: z.ZodType, io: 'input' | 'output'): Json {
  const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as Json & { $defs?: Record<string, Json> };
  const { $defs = {}, ...root } = generated;
  // The document's own dialect (OpenAPI 3.1's) is 2020-12 already.
  delete root.$schema;
  const names = new Map(Object.keys($defs).map((def) => [def, `${name}_${def.replace(/^_+/, '').replace(/[^\w.-]/g, '_')}`]));
  const rewrite = (ref: string): string => {
    if (ref === '#') return SCHEMAS + name;
    const match = /^#\/\$defs\/([^/]+)(.*)$/.exec(ref);
    const target = match && names.get(unescapePointer(match[1]!));
    if (!target) throw new Error(`OpenAPI: ${name} has a $ref zod did not define: ${ref}`);
    return SCHEMAS + target + match[2]!;
  };
  const relink = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(relink);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k, v]) => !isSafeIntegerBound(k, v))
        .map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? rewrite(v) : relink(v)]),
    );
  };
  const entries: [string, Json][] = [[name, root], ...[...names].map(([def, component]): [string, Json] => [component, $defs[def]!])];
  for (const [key, value] of entries) {
    if (Object.hasOwn(schemas, key)) throw new Error(`OpenAPI: two component schemas named ${key}`);
    schemas[key] = relink(value) as Json;
  }
  return { $ref: SCHEMAS + name };
}

/** Parameter objects from a URL schema (rest/schemas.ts), with examples where given. */
function parameters(where: 'query' | 'path', params: z.ZodObject, examples: Record<string, unknown> = {}): Json[] {
  return urlParameters(params).map(({ name, required, schema: { description, ...schema } }) => ({
    name,
    in: where,
    required: where === 'path' || required,
    ...(description !== undefined && { description }),
    schema,
    ...(examples[name] !== undefined && { example: examples[name] }),
  }));
}

/** Requests built from these examples work on this server: they name its catalog's first dataset. */
function examplesFrom(catalog: Catalog) {
  const first = catalog.datasets[0];
  if (!first) return undefined;
  const query = describeDataset(catalog, first.name).exampleQuery;
  const filterOn = query.dimensions[0];
  return {
    dataset: first.name,
    body: query,
    url: {
      dataset: query.dataset,
      dimensions: query.dimensions,
      metrics: query.metrics,
      ...(filterOn && { filter: [`${filterOn}:is_not_null`] }),
      timeGrain: query.timeGrain,
      orderBy: query.orderBy.map((o: { field: string; direction: string }) => (o.direction === 'desc' ? `-${o.field}` : o.field)),
      limit: query.limit,
    },
  };
}

const intHeader = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });

const HEADERS = {
  'X-Request-Id': { description: 'This request’s id: yours if you sent a sane one, else a new one. Errors carry it too.', schema: { type: 'string' } },
  'RateLimit-Limit': intHeader('Requests allowed in the window (the tighter of the key’s and the tenant’s budget).'),
  'RateLimit-Remaining': intHeader('Requests left in the window.'),
  'RateLimit-Reset': intHeader('Seconds until the window resets.'),
  'RateLimit-Policy': { description: '`<limit>;w=<window seconds>`.', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 1 } },
  'X-Palisade-Cache': { description: 'Whether the result came from the cache.', schema: { type: 'string', enum: ['hit', 'miss'] } },
  'X-Palisade-Truncated': { description: 'As `truncated`: more rows matched than `limit` returned.', schema: { type: 'string', enum: ['true', 'false'] } },
};

const headerRefs = (...names: (keyof typeof HEADERS)[]) => Object.fromEntries(names.map((n) => [n, { $ref: `#/components/headers/${n}` }]));
const RATE_LIMIT = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy'] as const;

/** The error responses, by status: what the status means, and which headers come with it. */
const ERRORS = {
  400: { name: 'BadRequest', what: 'The request is invalid; the message names the field.', headers: [] },
  401: { name: 'Unauthorized', what: 'No usable credential: send `Authorization: Bearer <api key>`.', headers: [] },
  403: { name: 'Forbidden', what: 'The credential may not do this (not a tenant key, role below viewer, suspended tenant, X-Tenant-Id of another tenant).', headers: [] },
  404: { name: 'NotFound', what: 'No such dataset.', headers: [] },
  429: { name: 'TooManyRequests', what: 'A rate limit was reached; the message says which budget.', headers: ['Retry-After', ...RATE_LIMIT] },
  500: { name: 'InternalError', what: 'A failure on the server; details are only in its log, under the request id.', headers: [] },
  503: { name: 'Unavailable', what: 'The database is unavailable or busy, or the server is shutting down.', headers: ['Retry-After'] },
} as const satisfies Record<number, { name: string; what: string; headers: readonly (keyof typeof HEADERS)[] }>;

type ErrorStatus = keyof typeof ERRORS;

function reasonsWithStatus(status: number): Reason[] {
  return Object.keys(REASONS).filter((r): r is Reason => isReason(r) && HTTP_STATUS[REASONS[r]] === status);
}

function errorResponse(status: ErrorStatus, error: Json): Json {
  const { what, headers } = ERRORS[status];
  return {
    description: `${what} Reasons with this status (not each arises on each route): ${reasonsWithStatus(status).map((r) => `\`${r}\``).join(', ')}.`,
    headers: headerRefs('X-Request-Id', ...headers),
    content: { 'application/json': { schema: error } },
  };
}

const errors = (...statuses: ErrorStatus[]) => Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/${ERRORS[s].name}` }]));

const REQUEST_HEADERS = {
  TenantId: {
    name: 'X-Tenant-Id',
    in: 'header',
    required: false,
    description: 'Optional: the tenant id the key must belong to (403 TENANT_MISMATCH otherwise). The tenant always comes from the key.',
    schema: { type: 'string' },
  },
  RequestId: {
    name: 'X-Request-Id',
    in: 'header',
    required: false,
    description: 'Your id for this request (up to 128 of `A-Za-z0-9_.:-`), echoed in X-Request-Id, errors and the audit log.',
    schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
  },
};
const requestHeaders = [{ $ref: '#/components/parameters/TenantId' }, { $ref: '#/components/parameters/RequestId' }];

function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(fromPackageRoot('package.json'), 'utf8')) as { version?: string };
  return version ?? '0.0.0';
}

/** The document for a server with `catalog`. Built once per server (v1-routes.ts). */
export function openApiDocument(catalog: Catalog): Json {
  const schemas: Record<string, Json> = {};
  const body = addSchema(schemas, 'QueryInput', queryInput, 'input');
  const list = addSchema(schemas, 'DatasetList', datasetList, 'output');
  const description = addSchema(schemas, 'DatasetDescription', datasetDescription, 'output');
  const result = addSchema(schemas, 'QueryResult', queryResult, 'output');
  const error = addSchema(schemas, 'Error', errorEnvelope, 'output');
  const examples = examplesFrom(catalog);

  const ok = (what: string, content: Json, ...headers: (keyof typeof HEADERS)[]) => ({
    '200': { description: what, headers: headerRefs('X-Request-Id', ...RATE_LIMIT, ...headers), content },
  });
  const queryAnswer = ok(
    'The query’s result: JSON, or CSV (header row of column names, CRLF line ends) with `Accept: text/csv` or `format=csv`.',
    {
      'application/json': { schema: result },
      'text/csv': { schema: { type: 'string' } },
    },
    'X-Palisade-Cache',
    'X-Palisade-Truncated',
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'Palisade REST API',
      version: packageVersion(),
      description: [
        'Metrics by dimensions over the datasets of the catalog, for BI tools and scripts; the same engine, cache and limits as tRPC’s `datasets.*` and `query`.',
        'Send a tenant API key (`pk_<tenant slug>_…`, role viewer or above) as `Authorization: Bearer <key>`. Each request spends one of the key’s and the tenant’s rate-limit budgets (RateLimit-* headers); 429 and 503 carry Retry-After.',
        'Errors are `{ "error": { "code", "reason", "message", "requestId" } }`; match on `reason`.',
      ].join('\n\n'),
    },
    servers: [{ url: '/v1' }],
    tags: [
      { name: 'datasets', description: 'What can be queried.' },
      { name: 'query', description: 'Metrics by dimensions, JSON or CSV.' },
      { name: 'meta', description: 'This document.' },
    ],
    paths: {
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['meta'],
          summary: 'This document',
          description: 'Public: no key, and no rate-limit budget spent.',
          security: [],
          responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/datasets': {
        get: {
          operationId: 'listDatasets',
          tags: ['datasets'],
          summary: 'List the datasets',
          security: BEARER,
          parameters: requestHeaders,
          responses: { ...ok('The catalog’s datasets.', { 'application/json': { schema: list } }), ...errors(401, 403, 429, 500, 503) },
        },
      },
      '/datasets/{name}': {
        get: {
          operationId: 'describeDataset',
          tags: ['datasets'],
          summary: 'Describe a dataset',
          description: 'Its dimensions, metrics, filter operators, time grains and limits, with an example query ready to POST to /query.',
          security: BEARER,
          parameters: [...parameters('path', datasetPathParams, { name: examples?.dataset }), ...requestHeaders],
          responses: { ...ok('The dataset.', { 'application/json': { schema: description } }), ...errors(401, 403, 404, 429, 500, 503) },
        },
      },
      '/query': {
        get: {
          operationId: 'queryDatasetByUrl',
          tags: ['query'],
          summary: 'Run a query given as URL parameters',
          description: 'For tools that can only fetch a URL (spreadsheets, BI connectors). The same query as POST /query.',
          security: BEARER,
          parameters: [...parameters('query', queryUrlParams, examples?.url), ...requestHeaders],
          responses: { ...queryAnswer, ...errors(400, 401, 403, 404, 429, 500, 503) },
        },
        post: {
          operationId: 'queryDataset',
          tags: ['query'],
          summary: 'Run a query',
          security: BEARER,
          parameters: [...parameters('query', queryFormatParams), ...requestHeaders],
          requestBody: {
            required: true,
            description: 'As tRPC’s `query` input; ask for at least one dimension or metric.',
            content: { 'application/json': { schema: body, ...(examples && { example: examples.body }) } },
          },
          responses: { ...queryAnswer, ...errors(400, 401, 403, 404, 429, 500, 503) },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'pk_<tenant slug>_…',
          description: 'A tenant API key (`pk_<tenant slug>_…`) with role viewer or above; a dashboard session token (`ps_…`) works too.',
        },
      },
      schemas,
      parameters: REQUEST_HEADERS,
      headers: HEADERS,
      responses: Object.fromEntries(Object.entries(ERRORS).map(([status, { name }]) => [name, errorResponse(Number(status) as ErrorStatus, error)])),
    },
  };
}

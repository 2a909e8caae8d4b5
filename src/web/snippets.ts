/** The same dataset query as curl, TypeScript and a REST/CSV URL, and the server's other addresses (Explore, Datasets, Connect). */
import type { Inputs } from './api.js';

export type Query = Inputs['query'];
type Filter = NonNullable<Query['filters']>[number];

export const baseUrl = () => location.origin;

/** The OData v4 service root (`entitySet` omitted) or one dataset's entity set: what BI tools connect to. */
export const odataUrl = (entitySet = '') => `${baseUrl()}/odata/${entitySet}`;

/** The OpenAPI 3.1 document describing the REST API. */
export const openApiUrl = () => `${baseUrl()}/v1/openapi.json`;

export function curlSnippet(query: Query): string {
  return [
    `curl -X POST ${baseUrl()}/v1/query \\`,
    `  -H "Authorization: Bearer $PALISADE_KEY" -H 'content-type: application/json' \\`,
    `  -d '${JSON.stringify(query).replaceAll("'", "'\\''")}'`,
  ].join('\n');
}

/** The typed client's setup (the `@palisade/client` package), then `calls` (lines of code using `api`). */
export function clientSnippet(...calls: string[]): string {
  return [
    `import { createPalisadeClient } from '@palisade/client';`,
    ``,
    `const api = createPalisadeClient({ url: '${baseUrl()}', token: process.env.PALISADE_KEY! });`,
    ``,
    ...calls,
  ].join('\n');
}

export function typescriptSnippet(query: Query): string {
  return clientSnippet(`const result = await api.query.query(${objectLiteral(query)});`);
}

/** `{ key: value, … }` one key a line, values compact: readable for a query object. */
function objectLiteral(value: Record<string, unknown>): string {
  const lines = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)},`);
  return `{\n${lines.join('\n')}\n}`;
}

function filterParam(f: Filter): string {
  const values = f.values ?? (f.value === undefined || f.value === null ? [] : [f.value]);
  return values.length ? `${f.dimension}:${f.op}:${values.join(',')}` : `${f.dimension}:${f.op}`;
}

/** A GET URL for tools that can only fetch a URL and do not speak OData: CSV with `format=csv`. */
export function restUrl(query: Query, format: 'csv' | 'json' = 'csv'): string {
  const params = new URLSearchParams({ dataset: query.dataset });
  if (query.dimensions?.length) params.set('dimensions', query.dimensions.join(','));
  if (query.metrics?.length) params.set('metrics', query.metrics.join(','));
  for (const f of query.filters ?? []) params.append('filter', filterParam(f));
  if (query.timeGrain) params.set('timeGrain', query.timeGrain);
  if (query.orderBy?.length) params.set('orderBy', query.orderBy.map((o) => (o.direction === 'desc' ? `-${o.field}` : o.field)).join(','));
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (format === 'csv') params.set('format', 'csv');
  return `${baseUrl()}/v1/query?${params.toString().replaceAll('%2C', ',').replaceAll('%3A', ':')}`;
}

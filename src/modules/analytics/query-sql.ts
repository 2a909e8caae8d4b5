/**
 * From a validated query input to one SELECT, checked against the catalog. Pure: no database.
 *
 * What reaches SQL text (`sql.raw`): the dataset's table and output names quoted with quoteIdent,
 * the catalog's compiled expressions (catalog-expression.ts), and fixed fragments chosen from enums
 * here (casts, grains, operators). Every value from the request is a bound parameter.
 */
import { sql, type SQL } from 'drizzle-orm';
import { currentTenantId } from '../../../db/schema/tenancy.js';
import { AppError, type ReasonOf } from '../../lib/errors.js';
import { containsPattern, quoteIdent } from '../../lib/sql-text.js';
import { findDataset, type Catalog, type Dataset, type Dimension, type DimensionType, type Metric } from './catalog.js';
import { FILTER_OPS, QUERY_LIMITS, type FilterNode, type QueryInput } from './query-input.js';

/** The placeholder a plan's tenant predicate binds (TENANT_BOUND), filled with the tenant when the plan runs. */
export const TENANT_PLACEHOLDER = 'tenantId';
export const TENANT_BOUND = sql`${sql.placeholder(TENANT_PLACEHOLDER)}::uuid`;
export const TENANT_BY_SETTING = currentTenantId;

export interface QueryColumn {
  name: string;
  type: DimensionType;
  label: string;
}

export interface QueryPlan {
  dataset: Dataset;
  columns: QueryColumn[];
  /** Fetches up to limit + 1 rows: the extra one only says whether the result was truncated. */
  query: SQL;
  /** How many rows the query has in all, ignoring limit and offset (OData's `$count`). */
  count: SQL;
}

function badRequest(reason: ReasonOf<'BAD_REQUEST'>, message: string): AppError {
  return new AppError(reason, message);
}

function list(names: string[]): string {
  return names.length === 0 ? '(none)' : names.join(', ');
}

/** The dataset or a 404 naming `dataset` and listing what exists (as datasets.describe answers). */
export function requireDataset(catalog: Catalog, name: string): Dataset {
  const dataset = findDataset(catalog, name);
  if (!dataset) {
    throw new AppError('UNKNOWN_DATASET', `dataset: unknown dataset "${name}"; datasets: ${list(catalog.datasets.map((d) => d.name))}`);
  }
  return dataset;
}

const FILTER_OPS_TEXT = FILTER_OPS.join('|');

const isTime = (type: DimensionType) => type === 'date' || type === 'timestamp';

/** The dimension's value for WHERE: its declared type, so bound values compare like for like. */
function typedValue(dimension: Dimension): string {
  const cast = { string: 'text', number: 'numeric', boolean: 'boolean', date: 'date', timestamp: 'timestamptz' }[dimension.type];
  return `(${dimension.sql})::${cast}`;
}

/**
 * The dimension's value for SELECT, as the JSON type the API promises: dates as 'YYYY-MM-DD',
 * timestamps as UTC ISO strings. Time grains bucket in UTC; week starts on Monday (ISO).
 */
function outputValue(dimension: Dimension, grain: string | undefined): string {
  switch (dimension.type) {
    case 'string':
      return `(${dimension.sql})::text`;
    case 'number':
      return `(${dimension.sql})::float8`;
    case 'boolean':
      return `(${dimension.sql})::boolean`;
    case 'date': {
      const day = `(${dimension.sql})::date::timestamp`;
      return `to_char(${grain ? `date_trunc('${grain}', ${day})` : day}, 'YYYY-MM-DD')`;
    }
    case 'timestamp': {
      const utc = `((${dimension.sql})::timestamptz AT TIME ZONE 'UTC')`;
      return `to_char(${grain ? `date_trunc('${grain}', ${utc})` : utc}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    }
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

function validDate(text: string): boolean {
  const m = ISO_DATE.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

const EXPECTED: Record<DimensionType, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  date: "a date 'YYYY-MM-DD'",
  timestamp: "an ISO 8601 timestamp with a time zone, e.g. '2026-01-31T12:00:00Z', or a date 'YYYY-MM-DD' (midnight UTC)",
};

/** One filter value, checked against the field's type and bound with a cast to it. */
function boundValue(dimension: FilterField, value: unknown, field: string): SQL {
  const mismatch = () =>
    badRequest('INVALID_FILTER', `${field}: expected ${EXPECTED[dimension.type]} for ${describe(dimension)}, got ${JSON.stringify(value)}`);
  switch (dimension.type) {
    case 'string':
      if (typeof value !== 'string') throw mismatch();
      if (value.includes('\0')) throw badRequest('INVALID_FILTER', `${field}: text must not contain NUL characters`);
      return sql`${value}::text`;
    case 'number': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value.trim() : undefined;
      if (text === undefined || !NUMBER.test(text)) throw mismatch();
      return sql`${text}::${sql.raw(dimension.kind === 'metric' ? 'float8' : 'numeric')}`;
    }
    case 'boolean':
      // A JS boolean: postgres.js serializes a boolean parameter as `value === true`, so 'true' would bind false.
      if (value === true || value === 'true') return sql`${true}::boolean`;
      if (value === false || value === 'false') return sql`${false}::boolean`;
      throw mismatch();
    case 'date':
      if (typeof value !== 'string' || !validDate(value)) throw mismatch();
      return sql`${value}::date`;
    case 'timestamp': {
      if (typeof value !== 'string') throw mismatch();
      if (validDate(value)) return sql`${`${value}T00:00:00Z`}::timestamptz`;
      const m = ISO_TIMESTAMP.exec(value);
      if (!m || !validDate(m[1]!) || Number(m[2]) > 23 || Number(m[3]) > 59) throw mismatch();
      return sql`${value}::timestamptz`;
    }
  }
}

/** A LIKE pattern matching values that start with `prefix`; `%`, `_` and `\` in it are literal. */
function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * What a filter leaf compares: a dimension's typed value (WHERE, rows before aggregation) or a
 * metric's aggregate as float8, the type the result shows it in (HAVING).
 */
interface FilterField {
  kind: 'dimension' | 'metric';
  name: string;
  type: DimensionType;
  /** SQL of the compared value. */
  sql: string;
}

function describe(field: FilterField): string {
  return field.kind === 'metric' ? `metric "${field.name}"` : `${field.type} dimension "${field.name}"`;
}

function dimensionField(dimension: Dimension): FilterField {
  return { kind: 'dimension', name: dimension.name, type: dimension.type, sql: typedValue(dimension) };
}

function metricField(metric: Metric): FilterField {
  return { kind: 'metric', name: metric.name, type: 'number', sql: `(${metric.sql})::float8` };
}

/** The field a leaf names, or a 400 listing what the dataset has. */
function filteredField(dataset: Dataset, filter: FilterNode, at: string): FilterField {
  const dimensions = list(dataset.dimensions.map((d) => d.name));
  if (filter.metric !== undefined) {
    const metric = dataset.metrics.find((m) => m.name === filter.metric);
    if (metric) return metricField(metric);
    const hint = dataset.dimensions.some((d) => d.name === filter.metric) ? `"${filter.metric}" is a dimension; filter it with dimension` : `unknown metric "${filter.metric}" in dataset "${dataset.name}"`;
    throw badRequest('UNKNOWN_FIELD', `${at}.metric: ${hint}; metrics: ${list(dataset.metrics.map((m) => m.name))}`);
  }
  const dimension = dataset.dimensions.find((d) => d.name === filter.dimension);
  if (dimension) return dimensionField(dimension);
  if (dataset.metrics.some((m) => m.name === filter.dimension)) {
    throw badRequest(
      'INVALID_FILTER',
      `${at}.dimension: "${filter.dimension}" is a metric; filter it with { metric: "${filter.dimension}", … } (compared after aggregation). Dimensions: ${dimensions}`,
    );
  }
  throw badRequest('UNKNOWN_FIELD', `${at}.dimension: unknown dimension "${filter.dimension}" in dataset "${dataset.name}"; dimensions: ${dimensions}`);
}

/** One leaf with the field it names and its place in the input (`filters[2].or[0]`), for messages. */
interface FilterOperands {
  filter: FilterNode;
  dimension: FilterField;
  at: string;
}

/** The operand of a one-value operator (`eq`, `gt`, `contains`, ...), bound. */
function singleValue({ filter, dimension, at }: FilterOperands): SQL {
  const { op } = filter;
  if (filter.values !== undefined) throw badRequest('INVALID_FILTER', `${at}.values: "${op}" takes a single value; use value`);
  if (filter.value === undefined || filter.value === null) {
    throw badRequest('INVALID_FILTER', `${at}.value: "${op}" needs a value${op === 'eq' || op === 'neq' ? ` (to match missing values use is_null or is_not_null)` : ''}`);
  }
  return boundValue(dimension, filter.value, `${at}.value`);
}

/** The operands of a list operator (`in`, `not_in`, `between`), between `min` and `max` of them, bound. */
function valueList({ filter, dimension, at }: FilterOperands, min: number, max: number): SQL[] {
  const { op } = filter;
  if (filter.value !== undefined) throw badRequest('INVALID_FILTER', `${at}.value: "${op}" takes a list; use values`);
  const values = filter.values ?? [];
  if (values.length < min || values.length > max) {
    const expected = min === max ? `exactly ${min}` : `${min} to ${max}`;
    throw badRequest('INVALID_FILTER', `${at}.values: "${op}" needs ${expected} values, got ${values.length}`);
  }
  return values.map((v, i) => {
    if (v === null) throw badRequest('INVALID_FILTER', `${at}.values[${i}]: null never matches; use is_null`);
    return boundValue(dimension, v, `${at}.values[${i}]`);
  });
}

/** Order comparisons (`gt` ... `between`) need an ordered type: anything but boolean. */
function requireOrdered({ filter, dimension, at }: FilterOperands): void {
  if (dimension.type === 'boolean') {
    throw badRequest('INVALID_FILTER', `${at}.op: "${filter.op}" does not apply to boolean dimension "${dimension.name}"; use eq, neq, in or not_in`);
  }
}

/** Pattern operators (`contains`, `starts_with`) apply to text. */
function requireText({ filter, dimension, at }: FilterOperands): void {
  if (dimension.type !== 'string') {
    const is = dimension.kind === 'metric' ? 'a metric' : `a ${dimension.type} dimension`;
    throw badRequest('INVALID_FILTER', `${at}.op: "${filter.op}" applies to string dimensions only; "${dimension.name}" is ${is}`);
  }
}

/** `is_null` and `is_not_null` take neither value nor values. */
function requireNoValue({ filter, at }: FilterOperands): void {
  const noValue = (what: string) => badRequest('INVALID_FILTER', `${at}.${what}: "${filter.op}" takes no ${what}`);
  if (filter.value !== undefined) throw noValue('value');
  if (filter.values !== undefined) throw noValue('values');
}

/** One leaf as a condition on its field's value, its operands checked and bound. */
function leafCondition(operands: FilterOperands): SQL {
  const { filter } = operands;
  const column = sql.raw(operands.dimension.sql);
  const op = filter.op!;
  switch (op) {
    case 'eq':
      return sql`${column} = ${singleValue(operands)}`;
    case 'neq':
      return sql`${column} <> ${singleValue(operands)}`;
    case 'gt':
      requireOrdered(operands);
      return sql`${column} > ${singleValue(operands)}`;
    case 'gte':
      requireOrdered(operands);
      return sql`${column} >= ${singleValue(operands)}`;
    case 'lt':
      requireOrdered(operands);
      return sql`${column} < ${singleValue(operands)}`;
    case 'lte':
      requireOrdered(operands);
      return sql`${column} <= ${singleValue(operands)}`;
    case 'in':
      return sql`${column} IN (${sql.join(valueList(operands, 1, QUERY_LIMITS.values), sql`, `)})`;
    case 'not_in':
      return sql`${column} NOT IN (${sql.join(valueList(operands, 1, QUERY_LIMITS.values), sql`, `)})`;
    case 'between': {
      requireOrdered(operands);
      const [low, high] = valueList(operands, 2, 2);
      return sql`${column} BETWEEN ${low} AND ${high}`;
    }
    case 'contains':
      requireText(operands);
      singleValue(operands);
      return sql`${column} ILIKE ${containsPattern(filter.value as string)}`;
    case 'starts_with':
      requireText(operands);
      singleValue(operands);
      return sql`${column} ILIKE ${prefixPattern(filter.value as string)}`;
    case 'is_null':
    case 'is_not_null':
      requireNoValue(operands);
      return sql`${column} IS ${sql.raw(op === 'is_null' ? 'NULL' : 'NOT NULL')}`;
  }
}

const MAX_FILTER_DEPTH = 32;

/** A compiled filter and what it reads: dimensions go to WHERE, metrics to HAVING, never both at once. */
interface Condition {
  sql: SQL;
  on: 'dimension' | 'metric';
}

/** Counts leaves across one query's filters (the limit is on conditions, however nested). */
interface FilterBudget {
  leaves: number;
}

const LOGICAL = ['and', 'or', 'not'] as const;

/** A filter node (leaf, and, or, not) as one condition, checked for shape, fields and operands. */
function filterCondition(dataset: Dataset, node: FilterNode, at: string, depth: number, budget: FilterBudget): Condition {
  if (depth > MAX_FILTER_DEPTH) throw badRequest('INVALID_FILTER', `${at}: filters nest at most ${MAX_FILTER_DEPTH} levels deep`);
  const logical = LOGICAL.filter((key) => node[key] !== undefined);
  const leafKeys = (['dimension', 'metric', 'op', 'value', 'values'] as const).filter((key) => node[key] !== undefined);
  if (logical.length > 0) {
    if (logical.length > 1 || leafKeys.length > 0) {
      throw badRequest('INVALID_FILTER', `${at}: "${logical[0]}" cannot be combined with ${[...logical.slice(1), ...leafKeys].map((k) => `"${k}"`).join(', ')} in one filter; nest them`);
    }
    if (node.not !== undefined) {
      const inner = filterCondition(dataset, node.not, `${at}.not`, depth + 1, budget);
      return { sql: sql`NOT (${inner.sql})`, on: inner.on };
    }
    const key = logical[0] as 'and' | 'or';
    const parts = node[key]!.map((child, i) => filterCondition(dataset, child, `${at}.${key}[${i}]`, depth + 1, budget));
    const on = parts[0]!.on;
    if (parts.some((p) => p.on !== on)) {
      throw badRequest('INVALID_FILTER', `${at}.${key}: one "${key}" cannot mix dimensions (compared before aggregation) and metrics (after); give them separate filters`);
    }
    return { sql: sql.join(parts.map((p) => sql`(${p.sql})`), sql.raw(key === 'and' ? ' AND ' : ' OR ')), on };
  }
  if (node.op === undefined) throw badRequest('INVALID_FILTER', `${at}.op: expected one of ${FILTER_OPS_TEXT}`);
  if (node.dimension === undefined && node.metric === undefined) throw badRequest('INVALID_FILTER', `${at}: name the dimension or metric to filter`);
  if (node.dimension !== undefined && node.metric !== undefined) throw badRequest('INVALID_FILTER', `${at}: name a dimension or a metric, not both`);
  if (++budget.leaves > QUERY_LIMITS.filters) throw badRequest('INVALID_FILTER', `filters: at most ${QUERY_LIMITS.filters} conditions in all`);
  const field = filteredField(dataset, node, at);
  return { sql: leafCondition({ filter: node, dimension: field, at }), on: field.kind };
}

/** The input's filters as conditions; a top-level `and` is split so each part can go to WHERE or HAVING. */
function filterConditions(dataset: Dataset, filters: FilterNode[]): Condition[] {
  const budget: FilterBudget = { leaves: 0 };
  const out: Condition[] = [];
  const add = (node: FilterNode, at: string, depth: number) => {
    const onlyAnd = node.and !== undefined && Object.keys(node).every((k) => k === 'and' || node[k as keyof FilterNode] === undefined);
    if (onlyAnd && depth < MAX_FILTER_DEPTH) node.and!.forEach((child, i) => add(child, `${at}.and[${i}]`, depth + 1));
    else out.push(filterCondition(dataset, node, at, depth, budget));
  };
  filters.forEach((f, i) => add(f, `filters[${i}]`, 0));
  return out;
}

/**
 * Checks `input` against the catalog and builds its SELECT.
 * - Rows are grouped by every requested dimension; metrics are aggregates, returned as float8.
 * - `timeGrain` truncates every requested date/timestamp dimension; filters compare the
 *   untruncated values. A grain without a time dimension is refused (not silently added: the
 *   caller would get a column it did not ask for); the message names the default time dimension.
 * - Order: the requested `orderBy`, then every dimension not already named, ascending, so paging
 *   with offset is stable. With no orderBy that is simply the dimensions in the order requested.
 * - Besides the table's RLS policy, the WHERE clause names the tenant itself: if a table ever lost
 *   its policy after the startup guard ran, the query still reads one tenant only. `tenant` is
 *   that expression: by default the transaction's setting (TENANT_BY_SETTING); on Citus a bound
 *   `sql.placeholder(TENANT_PLACEHOLDER)` (TENANT_BOUND), filled when the query runs, because only
 *   a value routes the query to the tenant's shard (the policy's predicate never prunes). On plain
 *   Postgres a bound tenant made prepared aggregates re-plan on every execution (12–18% fewer
 *   per second in the bench, docs/citus.md), so there the setting stays.
 */
export function planQuery(catalog: Catalog, input: QueryInput, tenant: SQL = TENANT_BY_SETTING): QueryPlan {
  const dataset = requireDataset(catalog, input.dataset);
  const dimensionNames = dataset.dimensions.map((d) => d.name);
  const metricNames = dataset.metrics.map((m) => m.name);

  const seen = new Set<string>();
  const unique = (fieldName: string, at: string) => {
    if (seen.has(fieldName)) throw badRequest('INVALID_QUERY', `${at}: "${fieldName}" is requested twice`);
    seen.add(fieldName);
  };

  const dimensions = input.dimensions.map((fieldName, i) => {
    const at = `dimensions[${i}]`;
    const dimension = dataset.dimensions.find((d) => d.name === fieldName);
    if (!dimension) {
      const hint = metricNames.includes(fieldName) ? `"${fieldName}" is a metric; list it in metrics` : `unknown dimension "${fieldName}" in dataset "${dataset.name}"`;
      throw badRequest('UNKNOWN_FIELD', `${at}: ${hint}; dimensions: ${list(dimensionNames)}`);
    }
    unique(fieldName, at);
    return dimension;
  });
  const metrics = input.metrics.map((fieldName, i) => {
    const at = `metrics[${i}]`;
    const metric = dataset.metrics.find((m) => m.name === fieldName);
    if (!metric) {
      const hint = dimensionNames.includes(fieldName) ? `"${fieldName}" is a dimension; list it in dimensions` : `unknown metric "${fieldName}" in dataset "${dataset.name}"`;
      throw badRequest('UNKNOWN_FIELD', `${at}: ${hint}; metrics: ${list(metricNames)}`);
    }
    unique(fieldName, at);
    return metric;
  });
  if (dimensions.length === 0 && metrics.length === 0) {
    throw badRequest('INVALID_QUERY', 'metrics: ask for at least one dimension or metric');
  }

  if (input.timeGrain && !dimensions.some((d) => isTime(d.type))) {
    const timeDimensions = dataset.dimensions.filter((d) => isTime(d.type)).map((d) => d.name);
    const suggestion = dataset.defaultTimeDimension
      ? `add "${dataset.defaultTimeDimension}" (the default time dimension) to dimensions`
      : timeDimensions.length > 0
        ? `add one of ${timeDimensions.join(', ')} to dimensions`
        : `dataset "${dataset.name}" has no date or timestamp dimension`;
    throw badRequest('INVALID_QUERY', `timeGrain: "${input.timeGrain}" needs a date or timestamp dimension in the query; ${suggestion}`);
  }

  const conditions = filterConditions(dataset, input.filters);

  const orderNames = new Set<string>();
  const order = input.orderBy.map((o, i) => {
    if (!seen.has(o.field)) {
      throw badRequest('INVALID_QUERY', `orderBy[${i}].field: "${o.field}" is not among the requested dimensions and metrics (${list([...seen])})`);
    }
    if (orderNames.has(o.field)) throw badRequest('INVALID_QUERY', `orderBy[${i}].field: "${o.field}" is named twice`);
    orderNames.add(o.field);
    return `${quoteIdent(o.field)} ${o.direction === 'desc' ? 'DESC' : 'ASC'}`;
  });
  for (const d of dimensions) if (!orderNames.has(d.name)) order.push(`${quoteIdent(d.name)} ASC`);

  const select = [
    ...dimensions.map((d) => `${outputValue(d, isTime(d.type) ? input.timeGrain : undefined)} AS ${quoteIdent(d.name)}`),
    ...metrics.map((m) => `(${m.sql})::float8 AS ${quoteIdent(m.name)}`),
  ];
  const where = [sql`${sql.raw(quoteIdent('tenant_id'))} = ${tenant}`, ...conditions.filter((c) => c.on === 'dimension').map((c) => sql`(${c.sql})`)];
  const having = conditions.filter((c) => c.on === 'metric').map((c) => sql`(${c.sql})`);
  const groupBy = dimensions.length > 0 ? sql` GROUP BY ${sql.raw(dimensions.map((_, i) => String(i + 1)).join(', '))}` : sql``;
  const havingSql = having.length > 0 ? sql` HAVING ${sql.join(having, sql` AND `)}` : sql``;
  const orderBy = order.length > 0 ? sql` ORDER BY ${sql.raw(order.join(', '))}` : sql``;

  const rows = sql`SELECT ${sql.raw(select.join(', '))} FROM ${sql.raw(`${quoteIdent('public')}.${quoteIdent(dataset.table)}`)} WHERE ${sql.join(where, sql` AND `)}${groupBy}${havingSql}`;
  const query = sql`${rows}${orderBy} LIMIT ${input.limit + 1} OFFSET ${input.offset}`;
  const count = sql`SELECT count(*)::float8 AS "count" FROM (${rows}) AS "rows"`;

  const columns: QueryColumn[] = [
    ...dimensions.map((d) => ({ name: d.name, type: d.type, label: d.label })),
    ...metrics.map((m) => ({ name: m.name, type: 'number' as const, label: m.label })),
  ];
  return { dataset, columns, query, count };
}

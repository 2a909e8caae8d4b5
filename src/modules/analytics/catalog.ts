/**
 * The dataset catalog: catalog.yaml parsed, validated with zod and compiled once at startup.
 * Every identifier the query engine puts into SQL comes from here, and every expression here has
 * been re-rendered by the restricted parser (catalog-expression.ts), never passed through.
 * Whether each table really is an RLS-forced tenant table is checked against the live database
 * by catalog-guard.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { z } from 'zod';
import { quoteIdent } from '../../lib/sql-text.js';
import { compileExpression, ExpressionError } from './catalog-expression.js';

export const DIMENSION_TYPES = ['string', 'number', 'boolean', 'date', 'timestamp'] as const;
export const AGGREGATIONS = ['sum', 'count', 'count_distinct', 'avg', 'min', 'max'] as const;
export const METRIC_FORMATS = ['number', 'integer', 'currency', 'percent'] as const;
/** Added as a dimension by the platform all-tenants query, so no dataset may use it. */
export const RESERVED_NAMES = ['tenant'] as const;

export type DimensionType = (typeof DIMENSION_TYPES)[number];
export type Aggregation = (typeof AGGREGATIONS)[number];
export type MetricFormat = (typeof METRIC_FORMATS)[number];

export interface Dimension {
  name: string;
  label: string;
  description?: string;
  type: DimensionType;
  /** As written in the catalog: a column or an expression. */
  column?: string;
  expression?: string;
  /** Canonical SQL of the value (a quoted column or the compiled expression). */
  sql: string;
}

export interface Metric {
  name: string;
  label: string;
  description?: string;
  aggregation: Aggregation;
  column?: string;
  expression?: string;
  filter?: string;
  format: MetricFormat;
  /** Canonical SQL of the aggregate, e.g. `sum("amount") FILTER (WHERE ("status" = E'paid'))`. */
  sql: string;
}

export interface Dataset {
  name: string;
  /** A table in schema public. */
  table: string;
  description: string;
  dimensions: Dimension[];
  metrics: Metric[];
  defaultTimeDimension?: string;
  cacheTtlSeconds?: number;
  /** Every table column the dataset reads, sorted. */
  columns: string[];
}

export interface Catalog {
  /** The file name as given (shown in messages). */
  file: string;
  datasets: Dataset[];
}

/** A catalog that cannot be used: the message lists `<file>: <path>: <reason>`, one per line. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
  constructor(readonly issues: string[]) {
    super(issues.join('\n'));
  }
}

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const COLUMN = /^[a-z_][a-z0-9_]{0,62}$/;

const oneOf = (values: readonly string[]) => `expected one of ${values.join('|')}`;
const name = z.string({ error: 'expected a name' }).regex(NAME, 'expected a name matching ^[a-z][a-z0-9_]{0,62}$');
const column = z.string({ error: 'expected a column name' }).regex(COLUMN, 'expected a lowercase column name matching ^[a-z_][a-z0-9_]{0,62}$');
const text = z.string({ error: 'expected text' }).trim().min(1, 'must not be empty').max(2_000, 'at most 2000 characters');
const expression = z.string({ error: 'expected an expression (text)' }).min(1, 'must not be empty');

const dimensionSchema = z.strictObject({
  name,
  column: column.optional(),
  expression: expression.optional(),
  type: z.enum(DIMENSION_TYPES, { error: oneOf(DIMENSION_TYPES) }),
  label: text.max(200).optional(),
  description: text.optional(),
});

const metricSchema = z.strictObject({
  name,
  aggregation: z.enum(AGGREGATIONS, { error: oneOf(AGGREGATIONS) }),
  column: column.optional(),
  expression: expression.optional(),
  filter: expression.optional(),
  label: text.max(200).optional(),
  format: z.enum(METRIC_FORMATS, { error: oneOf(METRIC_FORMATS) }).default('number'),
  description: text.optional(),
});

const datasetSchema = z.strictObject({
  name,
  table: column,
  description: text,
  dimensions: z.array(dimensionSchema, { error: 'expected a list of dimensions' }).max(500).default([]),
  metrics: z.array(metricSchema, { error: 'expected a list of metrics' }).max(500).default([]),
  defaultTimeDimension: name.optional(),
  cacheTtlSeconds: z.number({ error: 'expected a number of seconds' }).int('expected whole seconds').min(0).max(86_400).optional(),
});

const catalogSchema = z.strictObject({
  datasets: z.array(datasetSchema, { error: 'expected a list of datasets' }).min(1, 'declare at least one dataset'),
});

type RawDataset = z.infer<typeof datasetSchema>;
type Issue = { path: PropertyKey[]; message: string };

/** `['datasets', 0, 'metrics', 2, 'aggregation']` → `datasets[0].metrics[2].aggregation`. */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

function humanize(fieldName: string): string {
  const words = fieldName.replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const AGGREGATE_SQL: Record<Aggregation, (value: string) => string> = {
  sum: (v) => `sum(${v})`,
  count: (v) => `count(${v})`,
  count_distinct: (v) => `count(DISTINCT ${v})`,
  avg: (v) => `avg(${v})`,
  min: (v) => `min(${v})`,
  max: (v) => `max(${v})`,
};

/** What compiling one dataset collects on the way: its problems and the table columns it reads. */
interface DatasetCompilation {
  issues: Issue[];
  columns: Set<string>;
}

/** A catalog expression as canonical SQL, its columns noted; undefined (and an issue) if it is refused. */
function compileSql(out: DatasetCompilation, source: string, at: PropertyKey[]): string | undefined {
  try {
    const compiled = compileExpression(source);
    for (const c of compiled.columns) out.columns.add(c);
    return compiled.sql;
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    out.issues.push({ path: at, message: error.message });
    return undefined;
  }
}

/** The SQL of a dimension's or metric's value: exactly one of `column` and `expression`. */
function valueSql(
  out: DatasetCompilation,
  item: { column?: string | undefined; expression?: string | undefined },
  at: PropertyKey[],
  required: boolean,
): string | undefined {
  if (item.column !== undefined && item.expression !== undefined) {
    out.issues.push({ path: at, message: 'give either column or expression, not both' });
    return undefined;
  }
  if (item.column !== undefined) {
    out.columns.add(item.column);
    return quoteIdent(item.column);
  }
  if (item.expression !== undefined) return compileSql(out, item.expression, [...at, 'expression']);
  if (required) out.issues.push({ path: at, message: 'give a column or an expression' });
  return undefined;
}

function compileDimension(out: DatasetCompilation, d: RawDataset['dimensions'][number], index: number): Dimension {
  return {
    name: d.name,
    label: d.label ?? humanize(d.name),
    ...(d.description !== undefined && { description: d.description }),
    type: d.type,
    ...(d.column !== undefined && { column: d.column }),
    ...(d.expression !== undefined && { expression: d.expression }),
    sql: valueSql(out, d, ['dimensions', index], true) ?? '',
  };
}

function compileMetric(out: DatasetCompilation, m: RawDataset['metrics'][number], index: number): Metric {
  const at = ['metrics', index];
  // count without a column is count(*); every other aggregation needs a value.
  const value = valueSql(out, m, at, m.aggregation !== 'count') ?? (m.aggregation === 'count' ? '*' : '');
  const filter = m.filter === undefined ? undefined : compileSql(out, m.filter, [...at, 'filter']);
  return {
    name: m.name,
    label: m.label ?? humanize(m.name),
    ...(m.description !== undefined && { description: m.description }),
    aggregation: m.aggregation,
    ...(m.column !== undefined && { column: m.column }),
    ...(m.expression !== undefined && { expression: m.expression }),
    ...(m.filter !== undefined && { filter: m.filter }),
    format: m.format,
    sql: AGGREGATE_SQL[m.aggregation](value) + (filter ? ` FILTER (WHERE ${filter})` : ''),
  };
}

/** Dimension and metric names are output columns: unique within the dataset, none reserved. */
function nameIssues(raw: RawDataset): Issue[] {
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  const checkName = (fieldName: string, at: PropertyKey[]) => {
    if ((RESERVED_NAMES as readonly string[]).includes(fieldName)) {
      issues.push({ path: [...at, 'name'], message: `"${fieldName}" is reserved (the all-tenants query adds it as a dimension)` });
    }
    const earlier = seen.get(fieldName);
    if (earlier) issues.push({ path: [...at, 'name'], message: `"${fieldName}" is already used by ${earlier}; names are output columns and must be unique` });
    else seen.set(fieldName, formatPath(at));
  };
  raw.dimensions.forEach((d, i) => checkName(d.name, ['dimensions', i]));
  raw.metrics.forEach((m, i) => checkName(m.name, ['metrics', i]));
  return issues;
}

/** `defaultTimeDimension`, when given, names a date or timestamp dimension of the dataset. */
function defaultTimeDimensionIssue(raw: RawDataset): Issue | undefined {
  if (raw.defaultTimeDimension === undefined) return undefined;
  const target = raw.dimensions.find((d) => d.name === raw.defaultTimeDimension);
  if (!target) return { path: ['defaultTimeDimension'], message: `no dimension named "${raw.defaultTimeDimension}" in this dataset` };
  if (target.type !== 'date' && target.type !== 'timestamp') {
    return { path: ['defaultTimeDimension'], message: `"${target.name}" is a ${target.type} dimension; expected a date or timestamp dimension` };
  }
  return undefined;
}

/** Compiles one dataset; returns it with the issues found (paths relative to the dataset). */
function compileDataset(raw: RawDataset): { dataset: Dataset; issues: Issue[] } {
  const out: DatasetCompilation = { issues: [], columns: new Set() };
  const dimensions = raw.dimensions.map((d, i) => compileDimension(out, d, i));
  const metrics = raw.metrics.map((m, i) => compileMetric(out, m, i));
  const issues = [...out.issues, ...nameIssues(raw)];
  if (raw.dimensions.length === 0 && raw.metrics.length === 0) {
    issues.push({ path: ['dimensions'], message: 'declare at least one dimension or metric' });
  }
  const timeIssue = defaultTimeDimensionIssue(raw);
  if (timeIssue) issues.push(timeIssue);

  const dataset: Dataset = {
    name: raw.name,
    table: raw.table,
    description: raw.description,
    dimensions,
    metrics,
    ...(raw.defaultTimeDimension !== undefined && { defaultTimeDimension: raw.defaultTimeDimension }),
    ...(raw.cacheTtlSeconds !== undefined && { cacheTtlSeconds: raw.cacheTtlSeconds }),
    columns: [...out.columns].sort(),
  };
  return { dataset, issues };
}

/**
 * Parses and compiles catalog text. `file` only labels messages.
 * Throws CatalogError listing every problem as `<file>: <path>: <reason>` (YAML syntax errors as
 * `<file>: line L, column C: <reason>`).
 */
export function parseCatalog(source: string, file: string): Catalog {
  const doc = parseDocument(source, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new CatalogError(
      doc.errors.map((e) => {
        const where = e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : 'syntax';
        const reason = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return `${file}: ${where}: ${reason}`;
      }),
    );
  }
  if (!isMap(doc.contents)) throw new CatalogError([`${file}: (root): expected a mapping with a "datasets" list`]);

  const parsed = catalogSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new CatalogError(parsed.error.issues.map((issue) => `${file}: ${formatPath(issue.path)}: ${describeIssue(issue)}`));
  }

  const issues: string[] = [];
  const datasets = parsed.data.datasets.map((raw, i) => {
    const compiled = compileDataset(raw);
    for (const issue of compiled.issues) issues.push(`${file}: ${formatPath(['datasets', i, ...issue.path])}: ${issue.message}`);
    return compiled.dataset;
  });
  const firstIndex = new Map<string, number>();
  datasets.forEach((d, i) => {
    const earlier = firstIndex.get(d.name);
    if (earlier !== undefined) issues.push(`${file}: datasets[${i}].name: "${d.name}" is already the name of datasets[${earlier}]`);
    else firstIndex.set(d.name, i);
  });
  if (issues.length > 0) throw new CatalogError(issues);
  return { file, datasets };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return issue.message;
}

/** Reads and parses a catalog file; messages name the file by its base name. */
export function loadCatalog(file: string): Catalog {
  const label = path.basename(file);
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new CatalogError([`${file}: ${reason}`]);
  }
  return parseCatalog(source, label);
}

export function findDataset(catalog: Catalog, datasetName: string): Dataset | undefined {
  return catalog.datasets.find((d) => d.name === datasetName);
}

/**
 * OData v4 system query options read into the terms the analytics engine plans from. Pure: no
 * database, and no value becomes SQL here ($filter becomes a tree whose values the engine binds).
 *
 * Accepted: $filter (filter-parser.ts), $select, $orderby, $top, $skip, $count, $apply (groupby
 * and aggregate of catalog fields), $format=json, $skiptoken (our own nextLink's offset). Every
 * other `$` option is refused with UNSUPPORTED_OPTION rather than ignored, so a client never
 * reads unfiltered or unshaped rows as if its option had been applied. Option names match
 * case-insensitively (OData 4.01); custom options (no `$`) and parameter aliases (`@`) are ignored.
 */
import { AppError } from '../lib/errors.js';
import type { Dataset } from '../modules/analytics/catalog.js';
import type { FilterNode } from '../modules/analytics/query-input.js';
import { findField, parseFilter, unknownField } from './filter-parser.js';
import { KEY_PROPERTY } from './metadata.js';

export interface ODataQuery {
  /** $select: names of dimensions and metrics, in order; undefined when absent or '*'. `_key` (our synthetic key property) is accepted and ignored. */
  select?: string[];
  /** $apply=groupby((d1,d2)[,aggregate(m1,m2)]) or $apply=aggregate(m1,m2): the grain. */
  apply?: { dimensions: string[]; metrics: string[] };
  /** $filter as the engine's filter tree. */
  filter?: FilterNode;
  orderBy: { field: string; direction: 'asc' | 'desc' }[];
  top?: number;
  skip: number;
  /** $count=true */
  count: boolean;
}

const ACCEPTED = new Set(['$filter', '$select', '$orderby', '$top', '$skip', '$count', '$apply', '$format', '$skiptoken']);

/** Options OData defines that this service does not implement, each with why. */
const REFUSED: Record<string, string> = {
  $expand: '$expand is not supported: entity sets are flat aggregated rows',
  $search: "$search is not supported: use $filter with contains(field,'text')",
  $compute: '$compute is not supported: metrics are predefined in the catalog; name them in $select',
  $levels: '$levels is not supported: entity sets are flat, with no hierarchies',
  $index: '$index is not supported: the service is read-only',
  $schemaversion: '$schemaversion is not supported: the service has one schema version',
  $deltatoken: '$deltatoken is not supported: the service does not track changes',
  $id: '$id is not supported: the service has no entity references',
  $inlinecount: '$inlinecount (OData v3) is not supported: use $count=true',
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function invalid(message: string): AppError {
  return new AppError('INVALID_QUERY', message);
}

/** The `$` options by lowercased name; refuses unsupported and repeated ones before anything is parsed. */
function systemOptions(params: URLSearchParams): Map<string, string> {
  const options = new Map<string, string>();
  for (const [key, value] of params) {
    if (!key.startsWith('$')) continue;
    const name = key.toLowerCase();
    if (Object.hasOwn(REFUSED, name)) throw new AppError('UNSUPPORTED_OPTION', REFUSED[name]!);
    if (!ACCEPTED.has(name)) {
      throw new AppError('UNSUPPORTED_OPTION', `${key.slice(0, 40)} is not a supported query option; supported: ${[...ACCEPTED].join(', ')}`);
    }
    if (options.has(name)) throw invalid(`${name} is given more than once`);
    options.set(name, value);
  }
  return options;
}

function nonNegativeInteger(option: string, raw: string, what = 'a non-negative integer'): number {
  const text = raw.trim();
  const n = Number(text);
  if (!/^\d+$/.test(text)) throw invalid(`${option} must be ${what}, got "${raw.slice(0, 40)}"`);
  if (!Number.isSafeInteger(n)) throw invalid(`${option} is too large`);
  return n;
}

function parseFormat(raw: string): void {
  const format = raw.trim().toLowerCase();
  if (format === 'json' || format === 'application/json' || format.startsWith('application/json;')) return;
  throw new AppError('UNSUPPORTED_OPTION', `$format=${raw.slice(0, 40)} is not supported: responses are JSON only ($format=json)`);
}

function parseCount(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (text === 'true' || text === 'false') return text === 'true';
  throw invalid(`$count must be true or false, got "${raw.slice(0, 40)}"`);
}

/**
 * Comma-separated names; `*` anywhere means every field (undefined). Repeats are dropped, and so is
 * `_key`; a $select of `_key` alone is like none (the key belongs to the full grain).
 */
function parseSelect(raw: string, dataset: Dataset): string[] | undefined {
  const items = raw.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw invalid(`$select: expected comma-separated field names, got "${raw.slice(0, 80)}"`);
  if (items.includes('*')) return undefined;
  const names: string[] = [];
  for (const item of items) {
    if (item === KEY_PROPERTY) continue;
    if (!NAME.test(item)) throw invalid(`$select: "${item.slice(0, 40)}" is not a field name (paths, actions and functions are not supported)`);
    if (!findField(dataset, item)) throw unknownField(dataset, item, '$select');
    if (!names.includes(item)) names.push(item);
  }
  return names.length ? names : undefined;
}

function parseOrderBy(raw: string, dataset: Dataset): ODataQuery['orderBy'] {
  const orderBy: ODataQuery['orderBy'] = [];
  for (const item of raw.split(',')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$/i.exec(item);
    if (!m) throw invalid(`$orderby: expected "field", "field asc" or "field desc", comma-separated; got "${item.trim().slice(0, 40)}"`);
    const field = m[1]!;
    if (!findField(dataset, field)) throw unknownField(dataset, field, '$orderby');
    if (orderBy.some((o) => o.field === field)) throw invalid(`$orderby: ${field} is listed more than once`);
    orderBy.push({ field, direction: m[2]?.toLowerCase() === 'desc' ? 'desc' : 'asc' });
  }
  return orderBy;
}

// ---- $apply -------------------------------------------------------------------------------------

const APPLY_FORMS = 'groupby((d1,d2)), groupby((d1,d2),aggregate(m1,m2)) or aggregate(m1,m2)';

/**
 * `$apply` limited to choosing the grain: groupby((dimensions)) with an optional aggregate(metrics),
 * or aggregate(metrics) alone. Metrics are the catalog's predefined aggregates, so `with`/`as`
 * and every other transformation are UNSUPPORTED_OPTION.
 */
function parseApply(raw: string, dataset: Dataset): NonNullable<ODataQuery['apply']> {
  const tokens: { text: string; pos: number }[] = [];
  const lexer = /\s*(?:([A-Za-z_$][A-Za-z0-9_.$]*)|(\S))/y;
  for (let m = lexer.exec(raw); m; m = lexer.exec(raw)) tokens.push({ text: m[0].trim(), pos: m.index + m[0].length - m[0].trimStart().length });
  tokens.push({ text: '', pos: raw.length });
  let index = 0;
  const peek = () => tokens[index]!;
  const next = () => tokens[Math.min(index++, tokens.length - 1)]!;
  const found = (t: { text: string }) => (t.text ? `"${t.text.slice(0, 40)}"` : 'the end');
  const syntax = (t: { text: string; pos: number }, expected: string) =>
    invalid(`$apply, character ${t.pos + 1}: expected ${expected}, found ${found(t)}; supported: ${APPLY_FORMS}`);
  const expect = (text: string) => {
    const t = next();
    if (t.text !== text) throw syntax(t, `"${text}"`);
  };
  const unsupported = (name: string) =>
    new AppError('UNSUPPORTED_OPTION', `$apply: the transformation ${name.slice(0, 40)}(…) is not supported; supported: ${APPLY_FORMS}`);

  /** `name (, name)*` up to the closing parenthesis, each checked as `kind`. */
  const names = (kind: 'dimension' | 'metric'): string[] => {
    const list: string[] = [];
    for (;;) {
      const t = next();
      if (kind === 'metric' && (t.text.startsWith('$') || (NAME.test(t.text) && peek().text !== ',' && peek().text !== ')'))) {
        const metrics = dataset.metrics.map((m) => m.name).join(',');
        throw new AppError(
          'UNSUPPORTED_OPTION',
          `$apply: aggregate expressions (with, as, $count) are not supported: metrics are predefined aggregates; name them, e.g. aggregate(${metrics || 'metric'})`,
        );
      }
      if (!NAME.test(t.text)) throw syntax(t, kind === 'dimension' ? 'a dimension' : 'a metric');
      const field = findField(dataset, t.text);
      if (!field) throw unknownField(dataset, t.text, '$apply');
      if (field.kind !== kind) {
        throw invalid(
          kind === 'metric'
            ? `$apply: ${t.text} is a dimension, not a metric; group by it: groupby((${t.text}),aggregate(…))`
            : `$apply: ${t.text} is a metric, not a dimension; aggregate it: groupby((…),aggregate(${t.text}))`,
        );
      }
      if (!list.includes(t.text)) list.push(t.text);
      const separator = next();
      if (separator.text === ')') return list;
      if (separator.text !== ',') throw syntax(separator, '"," or ")"');
    }
  };
  const aggregate = (): string[] => {
    expect('(');
    return names('metric');
  };

  const first = next();
  let apply: NonNullable<ODataQuery['apply']>;
  if (first.text === 'aggregate') {
    apply = { dimensions: [], metrics: aggregate() };
  } else if (first.text === 'groupby') {
    expect('(');
    const open = next();
    if (open.text !== '(') throw syntax(open, 'a parenthesised list of dimensions, as in groupby((region,country))');
    apply = { dimensions: names('dimension'), metrics: [] };
    const after = next();
    if (after.text === ',') {
      const inner = next();
      if (inner.text !== 'aggregate') {
        if (NAME.test(inner.text) || inner.text.startsWith('$')) throw unsupported(inner.text);
        throw syntax(inner, 'aggregate(…)');
      }
      apply.metrics = aggregate();
      expect(')');
    } else if (after.text !== ')') {
      throw syntax(after, '"," or ")"');
    }
  } else if ((NAME.test(first.text) || first.text.startsWith('$')) && peek().text === '(') {
    throw unsupported(first.text);
  } else {
    throw syntax(first, 'a transformation');
  }
  const rest = next();
  if (rest.text === '/') throw new AppError('UNSUPPORTED_OPTION', `$apply: chained transformations (…/…) are not supported; supported: ${APPLY_FORMS}`);
  if (rest.text !== '') throw syntax(rest, 'the end of $apply');
  return apply;
}

/**
 * The OData system query options of one request against `dataset`. Throws AppError:
 * UNSUPPORTED_OPTION for options and features not implemented, UNKNOWN_FIELD for names the dataset
 * lacks, INVALID_FILTER for $filter, INVALID_QUERY for anything else malformed or repeated.
 *
 * With $apply, $select and $orderby may name only fields the $apply returns (OData evaluates them
 * after it). $filter is not limited that way: a dimension condition filters rows before
 * aggregation, a metric condition the aggregated rows.
 */
export function parseODataQuery(params: URLSearchParams, dataset: Dataset): ODataQuery {
  const options = systemOptions(params);
  const option = (name: string) => options.get(name);

  const format = option('$format');
  if (format !== undefined) parseFormat(format);
  const count = option('$count');
  const top = option('$top');
  const skip = option('$skip');
  const skipToken = option('$skiptoken');
  const select = option('$select');
  const apply = option('$apply');
  const filter = option('$filter');
  const orderBy = option('$orderby');

  const query: ODataQuery = {
    orderBy: orderBy === undefined ? [] : parseOrderBy(orderBy, dataset),
    skip: skip === undefined ? 0 : nonNegativeInteger('$skip', skip),
    count: count === undefined ? false : parseCount(count),
  };
  if (top !== undefined) query.top = nonNegativeInteger('$top', top);
  if (skipToken !== undefined) {
    query.skip += nonNegativeInteger('$skiptoken', skipToken, 'the offset from @odata.nextLink');
    if (!Number.isSafeInteger(query.skip)) throw invalid('$skip plus $skiptoken is too large');
  }
  if (select !== undefined) {
    const fields = parseSelect(select, dataset);
    if (fields !== undefined) query.select = fields;
  }
  if (apply !== undefined) query.apply = parseApply(apply, dataset);
  if (filter !== undefined) query.filter = parseFilter(filter, dataset);

  if (query.apply) {
    const returned = [...query.apply.dimensions, ...query.apply.metrics];
    const outside = (fields: string[]) => fields.filter((f) => !returned.includes(f));
    const missing = outside(query.select ?? []);
    if (missing.length) throw invalid(`$select names ${missing.join(', ')}, which $apply does not return; $apply returns ${returned.join(', ')}`);
    const unordered = outside(query.orderBy.map((o) => o.field));
    if (unordered.length) throw invalid(`$orderby names ${unordered.join(', ')}, which $apply does not return; $apply returns ${returned.join(', ')}`);
  }
  return query;
}

import { describe, expect, it } from 'vitest';
import { AppError, type Reason } from '../lib/errors.js';
import type { Dataset, Dimension, DimensionType, Metric } from '../modules/analytics/catalog.js';
import type { FilterNode, FilterOp, FilterValue } from '../modules/analytics/query-input.js';
import { parseODataQuery, type ODataQuery } from './query-options.js';

const dimension = (name: string, type: DimensionType): Dimension => ({ name, type, label: name, column: name, sql: `"${name}"` });
const metric = (name: string, aggregation: Metric['aggregation']): Metric => ({ name, label: name, aggregation, column: name, format: 'number', sql: `${aggregation}("${name}")` });

const dataset: Dataset = {
  name: 'sales',
  table: 'sales',
  description: 'A fake dataset with a dimension of each type and two metrics',
  dimensions: [
    dimension('region', 'string'),
    dimension('status', 'string'),
    dimension('quantity', 'number'),
    dimension('active', 'boolean'),
    dimension('order_date', 'date'),
    dimension('created_at', 'timestamp'),
  ],
  metrics: [metric('revenue', 'sum'), metric('order_count', 'count')],
  columns: [],
};

/** A raw query string (as in a URL) or decoded name/value pairs. */
const parse = (query: string | [string, string][]) => parseODataQuery(new URLSearchParams(query), dataset);
const filterOf = (text: string) => parse([['$filter', text]]).filter;

function failure(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

const dim = (name: string, op: FilterOp, value?: FilterValue | null): FilterNode => ({ dimension: name, op, value });
const met = (name: string, op: FilterOp, value?: FilterValue | null): FilterNode => ({ metric: name, op, value });
const region = (value: string) => dim('region', 'eq', value);

describe('$filter', () => {
  it.each<[string, FilterNode]>([
    // comparisons, mapped to the engine's ops
    ["region eq 'north'", region('north')],
    ["region ne 'north'", dim('region', 'neq', 'north')],
    ['quantity gt 5', dim('quantity', 'gt', 5)],
    ['quantity ge 5', dim('quantity', 'gte', 5)],
    ['quantity lt 5', dim('quantity', 'lt', 5)],
    ['quantity le 5', dim('quantity', 'lte', 5)],
    ['revenue gt 1000', met('revenue', 'gt', 1000)],
    // a literal on the left: swapped, operator mirrored
    ["'north' eq region", region('north')],
    ['5 lt quantity', dim('quantity', 'gt', 5)],
    ['5 le quantity', dim('quantity', 'gte', 5)],
    ['5 gt quantity', dim('quantity', 'lt', 5)],
    ['5 ge quantity', dim('quantity', 'lte', 5)],
    ['5 ne quantity', dim('quantity', 'neq', 5)],
    ['2024-01-01 le order_date', dim('order_date', 'gte', '2024-01-01')],
    // null
    ['region eq null', dim('region', 'is_null')],
    ['region ne null', dim('region', 'is_not_null')],
    ['null eq region', dim('region', 'is_null')],
    ['revenue eq null', met('revenue', 'is_null')],
    // in
    ["region in ('north','south')", { dimension: 'region', op: 'in', values: ['north', 'south'] }],
    ["region in ( 'north' , 'south' )", { dimension: 'region', op: 'in', values: ['north', 'south'] }],
    ["region in ('north')", { dimension: 'region', op: 'in', values: ['north'] }],
    ['quantity in (1, 2.5, -3)', { dimension: 'quantity', op: 'in', values: [1, 2.5, -3] }],
    ['order_count in (1,2)', { metric: 'order_count', op: 'in', values: [1, 2] }],
    ["region in ('north', null)", { or: [{ dimension: 'region', op: 'in', values: ['north'] }, dim('region', 'is_null')] }],
    ['region in (null)', dim('region', 'is_null')],
    // functions
    ["contains(region,'or')", dim('region', 'contains', 'or')],
    ["startswith(region, 'no')", dim('region', 'starts_with', 'no')],
    ["contains(region,'x') eq true", dim('region', 'contains', 'x')],
    ["contains(region,'x') ne false", dim('region', 'contains', 'x')],
    ["contains(region,'x') eq false", { not: dim('region', 'contains', 'x') }],
    ["true ne startswith(region,'x')", { not: dim('region', 'starts_with', 'x') }],
    // not and boolean fields
    ["not (status eq 'x')", { not: dim('status', 'eq', 'x') }],
    ["not contains(region,'x')", { not: dim('region', 'contains', 'x') }],
    ['active', dim('active', 'eq', true)],
    ['not active', { not: dim('active', 'eq', true) }],
    ['not not active', { not: { not: dim('active', 'eq', true) } }],
    ['active eq false', dim('active', 'eq', false)],
    ['active ne TRUE', dim('active', 'neq', true)],
    // precedence: not > comparison > and > or
    ["region eq 'a' or region eq 'b' and region eq 'c'", { or: [region('a'), { and: [region('b'), region('c')] }] }],
    ["region eq 'a' and region eq 'b' or region eq 'c'", { or: [{ and: [region('a'), region('b')] }, region('c')] }],
    ["(region eq 'a' or region eq 'b') and region eq 'c'", { and: [{ or: [region('a'), region('b')] }, region('c')] }],
    ["not active and region eq 'a' or quantity eq 1", { or: [{ and: [{ not: dim('active', 'eq', true) }, region('a')] }, dim('quantity', 'eq', 1)] }],
    ["active and not (region eq 'a' or region eq 'b')", { and: [dim('active', 'eq', true), { not: { or: [region('a'), region('b')] } }] }],
    // chains of the same operator flatten, however parenthesised
    ["((region eq 'a' and region eq 'b') and region eq 'c') and region eq 'd'", { and: [region('a'), region('b'), region('c'), region('d')] }],
    ["region eq 'a' or (region eq 'b' or region eq 'c')", { or: [region('a'), region('b'), region('c')] }],
    // parenthesised operands
    ["(region) eq ('north')", region('north')],
    ['((5)) lt quantity', dim('quantity', 'gt', 5)],
    // what Power BI sends
    ['order_date ge 2024-01-01 and order_date lt 2024-02-01', { and: [dim('order_date', 'gte', '2024-01-01'), dim('order_date', 'lt', '2024-02-01')] }],
    ["(region eq 'north') and (revenue gt 5)", { and: [region('north'), met('revenue', 'gt', 5)] }],
    ["not (status eq 'x')", { not: dim('status', 'eq', 'x') }],
    // whitespace
    ["  region\teq   'north'  ", region('north')],
  ])('%s', (text, expected) => {
    expect(filterOf(text)).toEqual(expected);
  });

  it.each<[string, string, FilterValue]>([
    // strings
    ['region', "'it''s'", "it's"],
    ['region', "''", ''],
    ['region', "'Zürich, 50% off + more'", 'Zürich, 50% off + more'],
    ['region', "'x''); drop table orders; --'", "x'); drop table orders; --"],
    // numbers: a JS number when it reads back exactly, else the digits
    ['quantity', '-5', -5],
    ['quantity', '1.5', 1.5],
    ['quantity', '1.50', 1.5],
    ['quantity', '0.1', 0.1],
    ['quantity', '1e3', 1000],
    ['quantity', '2.5E-2', 0.025],
    ['quantity', '-0', 0],
    ['quantity', '5M', 5],
    ['quantity', '1.5m', 1.5],
    ['quantity', '5L', 5],
    ['quantity', '5d', 5],
    ['quantity', '2.5f', 2.5],
    ['quantity', '9007199254740993', '9007199254740993'],
    ['quantity', '12345678901234567890.5', '12345678901234567890.5'],
    ['quantity', '0.10000000000000000001', '0.10000000000000000001'],
    ['quantity', '1e400', '1e400'],
  ])('%s eq %s', (field, literal, value) => {
    expect(filterOf(`${field} eq ${literal}`)).toEqual(dim(field, 'eq', value));
  });

  it.each<[string, string, string]>([
    ['order_date', '2024-02-29', '2024-02-29'],
    ['created_at', '2024-01-01', '2024-01-01'],
    ['created_at', '2024-01-31T10:00:00Z', '2024-01-31T10:00:00Z'],
    ['created_at', '2024-01-31t10:00:00z', '2024-01-31T10:00:00Z'],
    ['created_at', '2024-01-31T10:00Z', '2024-01-31T10:00Z'],
    ['created_at', '2024-01-31T10:00:00+02:00', '2024-01-31T10:00:00+02:00'],
    ['created_at', '2024-01-31T10:00:00-05:30', '2024-01-31T10:00:00-05:30'],
    ['created_at', '2024-01-31T10:00:00.5Z', '2024-01-31T10:00:00.5Z'],
    ['created_at', '2024-01-31T10:00:00.1234567Z', '2024-01-31T10:00:00.123456Z'],
    ['created_at', '2024-01-31T10:00:00.123456789+01:00', '2024-01-31T10:00:00.123456+01:00'],
    // OData v3 forms (Excel)
    ['created_at', "datetime'2024-01-31T10:00:00'", '2024-01-31T10:00:00Z'],
    ['created_at', "datetime'2024-01-31T10:00:00.12345678'", '2024-01-31T10:00:00.123456Z'],
    ['created_at', "datetimeoffset'2024-01-31T10:00:00+01:00'", '2024-01-31T10:00:00+01:00'],
  ])('%s eq %s', (field, literal, value) => {
    expect(filterOf(`${field} eq ${literal}`)).toEqual(dim(field, 'eq', value));
  });

  it.each<[string, FilterNode]>([
    ["$filter=region%20eq%20'north'", region('north')],
    ["$filter=region+eq+'north'", region('north')],
    ["%24filter=region%20eq%20'a%2Bb'", region('a+b')],
    ['$filter=created_at%20ge%202024-01-31T10:00:00%2B02:00', dim('created_at', 'gte', '2024-01-31T10:00:00+02:00')],
    // `+` sent unencoded decodes to a space; where a space cannot mean anything else it is read back as `+`
    ['$filter=created_at ge 2024-01-31T10:00:00+02:00', dim('created_at', 'gte', '2024-01-31T10:00:00+02:00')],
    ['$filter=quantity gt 1e+3', dim('quantity', 'gt', 1000)],
    ['$filter=order_date%20ge%202024-01-01%20and%20order_date%20lt%202024-02-01', { and: [dim('order_date', 'gte', '2024-01-01'), dim('order_date', 'lt', '2024-02-01')] }],
  ])('from the URL %s', (query, expected) => {
    expect(parse(query).filter).toEqual(expected);
  });

  it.each<[string, Reason, string]>([
    ['', 'INVALID_FILTER', '$filter is empty'],
    ['   ', 'INVALID_FILTER', '$filter is empty'],
    // fields
    ["regoin eq 'x'", 'UNKNOWN_FIELD', 'character 1: unknown field "regoin" in sales; dimensions: region, status, quantity, active, order_date, created_at; metrics: revenue, order_count'],
    ["region eq 'north' and regoin eq 'x'", 'UNKNOWN_FIELD', '$filter, character 23: unknown field "regoin"'],
    ["_key eq 'x'", 'UNKNOWN_FIELD', 'unknown field "_key"'],
    // literal kinds against field types
    ['region eq 5', 'INVALID_FILTER', "character 11: region is Edm.String and 5 is a number; write a value like 'text'"],
    ["quantity eq 'five'", 'INVALID_FILTER', "quantity is Edm.Decimal and 'five' is a string"],
    ["revenue gt '5'", 'INVALID_FILTER', "revenue is a metric (Edm.Decimal) and '5' is a string; write a value like 42 or 1.5"],
    ['order_count eq true', 'INVALID_FILTER', 'order_count is a metric (Edm.Int64) and true is a boolean'],
    ['active eq 1', 'INVALID_FILTER', 'active is Edm.Boolean and 1 is a number'],
    ["order_date eq '2024-01-01'", 'INVALID_FILTER', 'order_date is Edm.Date'],
    ['order_date eq 2024-01-01T00:00:00Z', 'INVALID_FILTER', 'order_date is Edm.Date and 2024-01-01T00:00:00Z is an Edm.DateTimeOffset; write a value like 2024-01-31'],
    ["created_at ge '2024-01-01'", 'INVALID_FILTER', 'created_at is Edm.DateTimeOffset'],
    ["region in ('a', 5)", 'INVALID_FILTER', 'character 17: region is Edm.String'],
    ['5 eq region', 'INVALID_FILTER', 'character 1: region is Edm.String and 5 is a number'],
    ['active gt true', 'INVALID_FILTER', '"gt" does not apply to the boolean active'],
    ['region gt null', 'INVALID_FILTER', '"gt null" is not a condition; use eq null or ne null'],
    // functions
    ["endswith(region,'x')", 'INVALID_FILTER', "character 1: the function endswith() is not supported; supported: contains(field,'text'), startswith(field,'text')"],
    ["tolower(region) eq 'x'", 'INVALID_FILTER', 'the function tolower() is not supported'],
    ['year(order_date) eq 2024', 'INVALID_FILTER', 'the function year() is not supported'],
    ["substringof('x',region)", 'INVALID_FILTER', 'the function substringof() is not supported'],
    ["contains(quantity,'1')", 'INVALID_FILTER', 'contains applies to string dimensions only; quantity is Edm.Decimal'],
    ["startswith(revenue,'1')", 'INVALID_FILTER', 'startswith applies to string dimensions only; revenue is a metric'],
    ["contains('x',region)", 'INVALID_FILTER', 'the first argument of contains must be a string dimension'],
    ['contains(region,5)', 'INVALID_FILTER', 'the second argument of contains must be a string literal'],
    ['contains(region)', 'INVALID_FILTER', 'contains takes 2 arguments'],
    ["contains(region,'x') eq 5", 'INVALID_FILTER', 'a condition can only be compared with true or false'],
    // operators
    ['quantity add 1 eq 2', 'INVALID_FILTER', 'the operator "add" is not supported'],
    ["region has 'x'", 'INVALID_FILTER', 'the operator "has" is not supported'],
    ["region EQ 'north'", 'INVALID_FILTER', 'expected an operator (eq, ne, gt, ge, lt, le, in, and, or), found "EQ" (operators are lowercase)'],
    ["region 'north'", 'INVALID_FILTER', "character 8: expected an operator (eq, ne, gt, ge, lt, le, in, and, or), found 'north'"],
    ['region eq status', 'INVALID_FILTER', 'comparing two fields (region eq status) is not supported'],
    ['1 eq 1', 'INVALID_FILTER', 'compare a field with a literal, not two literals'],
    ['region', 'INVALID_FILTER', "character 1: expected a condition, found region alone; compare it, e.g. region eq 'text'"],
    ["active and region", 'INVALID_FILTER', 'character 12: expected a condition, found region alone'],
    ['true', 'INVALID_FILTER', 'expected a condition, found true alone'],
    ["not region eq 'x'", 'INVALID_FILTER', '"not" applies to the operand right after it (it binds tighter than "eq"); write not (… eq …)'],
    ['not region', 'INVALID_FILTER', 'expected a condition, found region alone'],
    // in
    ["region in 'a'", 'INVALID_FILTER', 'expected "(" after in'],
    ['region in ()', 'INVALID_FILTER', 'expected a literal in the list of "in", found ")"'],
    ["region in ('a' 'b')", 'INVALID_FILTER', 'character 16: expected "," or ")" in the list of "in"'],
    ["region in ('a', region)", 'INVALID_FILTER', 'expected a literal in the list of "in", found "region"'],
    ["'a' in region", 'INVALID_FILTER', 'the left side of "in" must be a field'],
    // syntax
    ["region eq 'north' and", 'INVALID_FILTER', 'character 22: expected a field, a literal or "(", found the end of $filter'],
    ["(region eq 'north'", 'INVALID_FILTER', 'character 19: expected ")" closing the "(" at character 1 or an operator, found the end of $filter'],
    ["region eq 'north')", 'INVALID_FILTER', 'character 18: unbalanced ")"'],
    ["region eq 'a' eq 'b'", 'INVALID_FILTER', 'expected "and", "or" or the end of $filter, found "eq"'],
    ["region eq 'a' and or region eq 'b'", 'INVALID_FILTER', 'expected a field, a literal or "(", found "or"'],
    ["region eq 'north", 'INVALID_FILTER', "character 11: unterminated string (a quote inside text is written twice: 'it''s')"],
    ['region eq "north"', 'INVALID_FILTER', "strings take single quotes: 'text'"],
    ["customer/name eq 'x'", 'INVALID_FILTER', 'property paths and lambda operators (/) are not supported'],
    ['region eq @p', 'INVALID_FILTER', 'parameter aliases (@name) are not supported'],
    ["region eq 'a' ; drop", 'INVALID_FILTER', 'unexpected character ";"'],
    // literals
    ['quantity eq 5x', 'INVALID_FILTER', 'malformed literal "5x"'],
    ['quantity eq 1.', 'INVALID_FILTER', 'malformed literal "1."'],
    ['quantity eq NaN', 'INVALID_FILTER', 'INF and NaN are not supported'],
    ['quantity eq -INF', 'INVALID_FILTER', 'INF and NaN are not supported'],
    ['order_date eq 2023-02-29', 'INVALID_FILTER', '2023-02-29 is not a date'],
    ['order_date eq 2024-13-01', 'INVALID_FILTER', '2024-13-01 is not a date'],
    ['created_at eq 2024-01-01T25:00:00Z', 'INVALID_FILTER', '2024-01-01T25:00:00 is not a time of day'],
    ['created_at eq 2024-01-01T10:00:00', 'INVALID_FILTER', 'needs a time zone: Z or +hh:mm/-hh:mm (e.g. 2024-01-01T10:00:00Z)'],
    ["created_at eq datetimeoffset'2024-01-01T10:00:00'", 'INVALID_FILTER', 'needs a time zone'],
    ["created_at eq datetime'yesterday'", 'INVALID_FILTER', "datetime'…' must hold a date and time"],
    ["created_at eq duration'P1D'", 'INVALID_FILTER', "typed literals (duration'…') are not supported"],
    // dimensions (WHERE) and metrics (HAVING) meet only in the top-level and
    ["region eq 'north' or revenue gt 5", 'INVALID_FILTER', 'character 19: this "or" combines dimensions (compared before aggregation) with metrics (compared after)'],
    ["not (region eq 'a' and revenue gt 1)", 'INVALID_FILTER', 'character 20: this "and" combines dimensions'],
  ])('%s → %s', (text, reason, message) => {
    const error = failure(() => filterOf(text));
    expect(error.reason).toBe(reason);
    expect(error.message).toContain(message);
  });

  it('allows up to 100 conditions', () => {
    const conditions = (n: number) => Array.from({ length: n }, (_, i) => `quantity eq ${i}`).join(' and ');
    expect(filterOf(conditions(100))?.and).toHaveLength(100);
    const error = failure(() => filterOf(conditions(101)));
    expect([error.reason, error.message]).toEqual(['INVALID_FILTER', expect.stringContaining('at most 100 conditions')]);
  });

  it('allows up to 1000 values in one in list', () => {
    const list = (n: number) => `quantity in (${Array.from({ length: n }, (_, i) => i).join(',')})`;
    expect(filterOf(list(1000))?.values).toHaveLength(1000);
    expect(failure(() => filterOf(list(1001))).message).toContain('"in" takes at most 1000 values');
  });

  it('allows conditions 32 levels deep, as the engine does', () => {
    let node: FilterNode = dim('active', 'eq', true);
    for (let i = 0; i < 32; i++) node = { not: node };
    expect(filterOf(`${'not '.repeat(32)}active`)).toEqual(node);
    const error = failure(() => filterOf(`${'not '.repeat(33)}active`));
    expect([error.reason, error.message]).toEqual(['INVALID_FILTER', expect.stringContaining('conditions nest more than 32 levels deep')]);
  });

  it('accepts many redundant parentheses (they flatten) but bounds the nesting of the text', () => {
    let text = "region eq 'r0'";
    for (let i = 1; i <= 60; i++) text = `(${text}) and region eq 'r${i}'`;
    expect(filterOf(text)?.and).toHaveLength(61);
    const error = failure(() => filterOf(`${'('.repeat(101)}active${')'.repeat(101)}`));
    expect([error.reason, error.message]).toEqual(['INVALID_FILTER', expect.stringContaining('nested more than 100 levels deep')]);
  });
});

describe('parseODataQuery', () => {
  const none: ODataQuery = { orderBy: [], skip: 0, count: false };

  it.each<[string, ODataQuery]>([
    ['', none],
    // custom options and parameter aliases are ignored
    ['api_key=secret&foo=bar&foo=baz&@p=1', none],
    ['$top=0', { ...none, top: 0 }],
    ['$top=10&$skip=20', { ...none, top: 10, skip: 20 }],
    ['$skiptoken=100', { ...none, skip: 100 }],
    ['$skip=5&$skiptoken=100', { ...none, skip: 105 }],
    ['$count=true', { ...none, count: true }],
    ['$count=false', { ...none, count: false }],
    ['$count=TRUE', { ...none, count: true }],
    // names match case-insensitively (OData 4.01)
    ['$TOP=5&$Count=true', { ...none, top: 5, count: true }],
    ['$format=json', none],
    ['$format=application/json', none],
    ['$format=application%2Fjson%3Bodata.metadata%3Dminimal', none],
    // $select
    ['$select=region,revenue', { ...none, select: ['region', 'revenue'] }],
    ['$select=revenue, region ,revenue', { ...none, select: ['revenue', 'region'] }],
    ['$select=_key,region', { ...none, select: ['region'] }],
    ['$select=_key', none],
    ['$select=*', none],
    ['$select=region,*', none],
    // $orderby
    [
      '$orderby=revenue desc,region',
      {
        ...none,
        orderBy: [
          { field: 'revenue', direction: 'desc' },
          { field: 'region', direction: 'asc' },
        ],
      },
    ],
    ['$orderby=region%20asc', { ...none, orderBy: [{ field: 'region', direction: 'asc' }] }],
    ['$orderby=region+DESC', { ...none, orderBy: [{ field: 'region', direction: 'desc' }] }],
    ['$orderby= region  desc , quantity ', { ...none, orderBy: [{ field: 'region', direction: 'desc' }, { field: 'quantity', direction: 'asc' }] }],
    // $apply
    ['$apply=groupby((region,order_date))', { ...none, apply: { dimensions: ['region', 'order_date'], metrics: [] } }],
    ['$apply=groupby((region),aggregate(revenue,order_count))', { ...none, apply: { dimensions: ['region'], metrics: ['revenue', 'order_count'] } }],
    ['$apply=aggregate(revenue)', { ...none, apply: { dimensions: [], metrics: ['revenue'] } }],
    ['$apply=groupby( ( region , status ) , aggregate( revenue ) )', { ...none, apply: { dimensions: ['region', 'status'], metrics: ['revenue'] } }],
    ['$apply=groupby((region,region))', { ...none, apply: { dimensions: ['region'], metrics: [] } }],
    // with $apply, $select and $orderby name fields it returns; $filter may name any field
    [
      '$apply=groupby((region),aggregate(revenue))&$select=revenue,_key&$orderby=revenue desc',
      { ...none, apply: { dimensions: ['region'], metrics: ['revenue'] }, select: ['revenue'], orderBy: [{ field: 'revenue', direction: 'desc' }] },
    ],
    ['$apply=aggregate(revenue)&$select=*', { ...none, apply: { dimensions: [], metrics: ['revenue'] } }],
    [
      "$apply=aggregate(revenue)&$filter=region eq 'north'",
      { ...none, apply: { dimensions: [], metrics: ['revenue'] }, filter: region('north') },
    ],
    // everything at once, as a client sends it
    [
      "$select=region,revenue&$filter=region%20in%20('north','south')&$orderby=revenue%20desc&$top=50&$skip=0&$count=true&$format=json",
      {
        select: ['region', 'revenue'],
        filter: { dimension: 'region', op: 'in', values: ['north', 'south'] },
        orderBy: [{ field: 'revenue', direction: 'desc' }],
        top: 50,
        skip: 0,
        count: true,
      },
    ],
  ])('%s', (query, expected) => {
    expect(parse(query)).toEqual(expected);
  });

  it.each<[string, Reason, string]>([
    // options not implemented
    ['$expand=customer', 'UNSUPPORTED_OPTION', '$expand is not supported: entity sets are flat aggregated rows'],
    ['$search=north', 'UNSUPPORTED_OPTION', '$search is not supported'],
    ['$compute=revenue mul 2 as double', 'UNSUPPORTED_OPTION', '$compute is not supported'],
    ['$levels=2', 'UNSUPPORTED_OPTION', '$levels is not supported'],
    ['$index=1', 'UNSUPPORTED_OPTION', '$index is not supported'],
    ['$schemaversion=1', 'UNSUPPORTED_OPTION', '$schemaversion is not supported'],
    ['$deltatoken=abc', 'UNSUPPORTED_OPTION', '$deltatoken is not supported'],
    ['$id=x', 'UNSUPPORTED_OPTION', '$id is not supported'],
    ['$EXPAND=customer', 'UNSUPPORTED_OPTION', '$expand is not supported'],
    ['$inlinecount=allpages', 'UNSUPPORTED_OPTION', 'use $count=true'],
    ['$foo=1', 'UNSUPPORTED_OPTION', '$foo is not a supported query option; supported: $filter, $select, $orderby, $top, $skip, $count, $apply, $format, $skiptoken'],
    ['$format=xml', 'UNSUPPORTED_OPTION', '$format=xml is not supported: responses are JSON only'],
    ['$format=atom', 'UNSUPPORTED_OPTION', '$format=atom is not supported'],
    ['$format=application/xml', 'UNSUPPORTED_OPTION', '$format=application/xml is not supported'],
    // refused before anything else is parsed
    ['$top=x&$expand=customer', 'UNSUPPORTED_OPTION', '$expand'],
    // repeated options
    ['$top=1&$top=1', 'INVALID_QUERY', '$top is given more than once'],
    ["$filter=region eq 'a'&$filter=region eq 'b'", 'INVALID_QUERY', '$filter is given more than once'],
    ['$top=1&$TOP=2', 'INVALID_QUERY', '$top is given more than once'],
    // $top, $skip, $skiptoken, $count
    ['$top=-1', 'INVALID_QUERY', '$top must be a non-negative integer, got "-1"'],
    ['$top=1.5', 'INVALID_QUERY', '$top must be a non-negative integer'],
    ['$top=1e3', 'INVALID_QUERY', '$top must be a non-negative integer'],
    ['$top=ten', 'INVALID_QUERY', '$top must be a non-negative integer'],
    ['$top=', 'INVALID_QUERY', '$top must be a non-negative integer'],
    ['$top=99999999999999999999', 'INVALID_QUERY', '$top is too large'],
    ['$skip=-1', 'INVALID_QUERY', '$skip must be a non-negative integer'],
    ['$skiptoken=abc', 'INVALID_QUERY', '$skiptoken must be the offset from @odata.nextLink'],
    ['$skip=9007199254740991&$skiptoken=1', 'INVALID_QUERY', '$skip plus $skiptoken is too large'],
    ['$count=yes', 'INVALID_QUERY', '$count must be true or false, got "yes"'],
    ['$count=1', 'INVALID_QUERY', '$count must be true or false'],
    // $select
    ['$select=regoin', 'UNKNOWN_FIELD', '$select: unknown field "regoin" in sales; dimensions: region, status'],
    ['$select=region,,revenue', 'INVALID_QUERY', '$select: expected comma-separated field names'],
    ['$select=', 'INVALID_QUERY', '$select: expected comma-separated field names'],
    ['$select=customer/name', 'INVALID_QUERY', '$select: "customer/name" is not a field name'],
    // $orderby
    ['$orderby=regoin', 'UNKNOWN_FIELD', '$orderby: unknown field "regoin"'],
    ['$orderby=region up', 'INVALID_QUERY', '$orderby: expected "field", "field asc" or "field desc", comma-separated; got "region up"'],
    ['$orderby=region desc desc', 'INVALID_QUERY', '$orderby: expected "field"'],
    ['$orderby=', 'INVALID_QUERY', '$orderby: expected "field"'],
    ['$orderby=region,region desc', 'INVALID_QUERY', '$orderby: region is listed more than once'],
    // $apply
    ['$apply=groupby((revenue))', 'INVALID_QUERY', '$apply: revenue is a metric, not a dimension; aggregate it'],
    ['$apply=aggregate(region)', 'INVALID_QUERY', '$apply: region is a dimension, not a metric; group by it'],
    ['$apply=groupby((region),aggregate(status))', 'INVALID_QUERY', 'status is a dimension, not a metric'],
    ['$apply=groupby((regoin))', 'UNKNOWN_FIELD', '$apply: unknown field "regoin"'],
    ['$apply=aggregate(amount with sum as total)', 'UNSUPPORTED_OPTION', 'metrics are predefined aggregates; name them, e.g. aggregate(revenue,order_count)'],
    ['$apply=aggregate(revenue as r)', 'UNSUPPORTED_OPTION', 'metrics are predefined aggregates'],
    ['$apply=aggregate($count as n)', 'UNSUPPORTED_OPTION', 'metrics are predefined aggregates'],
    ["$apply=filter(region eq 'x')", 'UNSUPPORTED_OPTION', '$apply: the transformation filter(…) is not supported; supported: groupby((d1,d2))'],
    ['$apply=topcount(5,revenue)', 'UNSUPPORTED_OPTION', 'the transformation topcount(…) is not supported'],
    ['$apply=compute(revenue mul 2 as x)', 'UNSUPPORTED_OPTION', 'the transformation compute(…) is not supported'],
    ['$apply=groupby((region),topcount(1,revenue))', 'UNSUPPORTED_OPTION', 'the transformation topcount(…) is not supported'],
    ['$apply=groupby((region))/aggregate(revenue)', 'UNSUPPORTED_OPTION', '$apply: chained transformations (…/…) are not supported'],
    ['$apply=groupby(region)', 'INVALID_QUERY', '$apply, character 9: expected a parenthesised list of dimensions, as in groupby((region,country)), found "region"'],
    ['$apply=groupby(())', 'INVALID_QUERY', 'expected a dimension, found ")"'],
    ['$apply=groupby((region)', 'INVALID_QUERY', 'expected "," or ")", found the end'],
    ['$apply=groupby((region);', 'INVALID_QUERY', 'expected "," or ")", found ";"'],
    ['$apply=aggregate(revenue) x', 'INVALID_QUERY', 'expected the end of $apply, found "x"'],
    ['$apply=', 'INVALID_QUERY', 'expected a transformation, found the end'],
    // with $apply, $select and $orderby are limited to what it returns
    ['$apply=groupby((region))&$select=region,revenue', 'INVALID_QUERY', '$select names revenue, which $apply does not return; $apply returns region'],
    ['$apply=aggregate(revenue)&$orderby=region', 'INVALID_QUERY', '$orderby names region, which $apply does not return; $apply returns revenue'],
    // $filter errors come through
    ["$filter=regoin eq 'x'", 'UNKNOWN_FIELD', 'unknown field "regoin"'],
    ['$filter=region eq', 'INVALID_FILTER', '$filter, character 10'],
  ])('%s → %s', (query, reason, message) => {
    const error = failure(() => parse(query));
    expect(error.reason).toBe(reason);
    expect(error.message).toContain(message);
  });
});

import { describe, expect, it } from 'vitest';
import { compileExpression, quoteLiteral } from './catalog-expression.js';

const compile = (text: string) => compileExpression(text).sql;

describe('catalog expressions', () => {
  it('quotes columns and reports the columns read', () => {
    const out = compileExpression("case when amount < 50 then 'small' when amount < 200 then 'medium' else 'large' end");
    expect(out.sql).toBe(`(CASE WHEN ("amount" < 50) THEN E'small' WHEN ("amount" < 200) THEN E'medium' ELSE E'large' END)`);
    expect([...out.columns]).toEqual(['amount']);
  });

  it('follows Postgres precedence and parenthesizes everything', () => {
    expect(compile('a + b * c')).toBe('("a" + ("b" * "c"))');
    expect(compile('a or b and not c')).toBe('("a" OR ("b" AND (NOT "c")))');
    expect(compile("first || ' ' || last")).toBe(`(("first" || E' ') || "last")`);
    expect(compile('-x::numeric')).toBe('(- ("x")::numeric)');
    expect(compile('a = b is not null')).toBe('(("a" = "b") IS NOT NULL)');
    expect(compile('(a + b) * c')).toBe('(("a" + "b") * "c")');
  });

  it('supports comparisons, in, is null, literals and casts', () => {
    expect(compile("status != 'paid'")).toBe(`("status" <> E'paid')`);
    expect(compile("status not in ('a', 'b')")).toBe(`("status" NOT IN (E'a', E'b'))`);
    expect(compile('x in (1, 2.5, 1e3)')).toBe('("x" IN (1, 2.5, 1e3))');
    expect(compile('flag is true and other is null')).toBe('(("flag" IS TRUE) AND ("other" IS NULL))');
    expect(compile('created_at::date >= order_date')).toBe('(("created_at")::date >= "order_date")');
    expect(compile('NULL')).toBe('NULL');
    expect(compile('TRUE AND false')).toBe('(TRUE AND FALSE)');
  });

  it('re-renders string literals safely', () => {
    expect(compile("'it''s'")).toBe(`E'it''s'`);
    expect(compile(String.raw`'back\slash'`)).toBe(String.raw`E'back\\slash'`);
    expect(quoteLiteral(`'; drop table orders; --`)).toBe(`E'''; drop table orders; --'`);
  });

  it('allows the whitelisted functions', () => {
    expect(compile("date_trunc('month', created_at)")).toBe(`date_trunc(E'month', "created_at")`);
    expect(compile('extract(year from order_date)')).toBe('EXTRACT(YEAR FROM "order_date")');
    expect(compile("date_part('dow', order_date)")).toBe(`date_part(E'dow', "order_date")`);
    expect(compile("coalesce(region, 'none')")).toBe(`coalesce("region", E'none')`);
    expect(compile('round(amount, 1)')).toBe('round("amount", 1)');
    expect(compile('UPPER(trim(name))')).toBe('upper(trim("name"))');
    expect(compile('greatest(a, b, c)')).toBe('greatest("a", "b", "c")');
  });

  it.each([
    ['select 1', /"1" at position 8/],
    ['amount; drop table orders', /";" at position 7 is not allowed/],
    ['amount -- comment', /comments are not allowed \(position 8\)/],
    ['pg_sleep(10)', /function "pg_sleep" at position 1 is not allowed/],
    ['public.orders', /"\." at position 7 is not allowed/],
    ['"Amount"', /quoted identifiers are not allowed \(position 1\)/],
    ['Amount > 1', /column "Amount" at position 1 must be lowercase/],
    ["date_trunc(unit, created_at)", /expected a literal unit/],
    ["date_trunc('fortnight', created_at)", /expected a literal unit/],
    ['amount::money', /expected a cast type/],
    ['lower(a, b)', /lower\(\) at position 1 takes 1 argument, got 2/],
    ["'open", /unterminated string starting at position 1/],
    ['a = b = c', /comparisons do not chain/],
    ['(a + b', /expected "\)", found end of expression/],
    ['case when a then b', /expected "end"/],
    ['a b', /expected an operator or the end of the expression, found "b" at position 3/],
    ['', /expression is empty/],
    ['x /* c */', /comments are not allowed \(position 3\)/],
    ['$1', /"\$" at position 1 is not allowed/],
  ])('refuses %j', (text, message) => {
    expect(() => compileExpression(text)).toThrow(message);
  });

  it('refuses deep nesting and very long text', () => {
    expect(() => compileExpression('('.repeat(100) + 'a' + ')'.repeat(100))).toThrow(/nests deeper/);
    expect(() => compileExpression('a + '.repeat(1000) + 'a')).toThrow(/longer than 2000/);
  });
});

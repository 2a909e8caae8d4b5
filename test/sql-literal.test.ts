/** Inlining parameters for the one-message tenant read (db/sql-literal.ts). Pure; no database. */
import { describe, expect, it } from 'vitest';
import { InvalidTextValueError, inlineParameters, sqlLiteral, UnsupportedParameterError } from '../db/sql-literal.js';

describe('sqlLiteral', () => {
  it('renders every value as an escape-string literal, NULL, true or false', () => {
    expect(sqlLiteral("it's")).toBe("E'it''s'");
    expect(sqlLiteral('back\\slash')).toBe("E'back\\\\slash'");
    expect(sqlLiteral("\\'; drop table orders; --")).toBe("E'\\\\''; drop table orders; --'");
    expect(sqlLiteral(12.5)).toBe("E'12.5'");
    expect(sqlLiteral(10n)).toBe("E'10'");
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral(undefined)).toBe('NULL');
    expect(sqlLiteral(true)).toBe('true');
    expect(sqlLiteral(new Date('2026-01-02T03:04:05.000Z'))).toBe("E'2026-01-02T03:04:05.000Z'");
  });

  it('refuses what it cannot render faithfully', () => {
    expect(() => sqlLiteral(['a'])).toThrow(UnsupportedParameterError);
    expect(() => sqlLiteral({ a: 1 })).toThrow(UnsupportedParameterError);
    expect(() => sqlLiteral(Buffer.from('x'))).toThrow(UnsupportedParameterError);
    expect(() => sqlLiteral('a\0b')).toThrow(InvalidTextValueError);
  });
});

describe('inlineParameters', () => {
  it('replaces placeholders, including $10 after $1', () => {
    const params = Array.from({ length: 10 }, (_, i) => `v${i + 1}`);
    expect(inlineParameters('select $1, $10, $2', params)).toBe("select E'v1', E'v10', E'v2'");
  });

  it('leaves $n alone inside literals, quoted identifiers and comments', () => {
    expect(inlineParameters(`select '$1', E'\\'$1', "$1", $1 -- $1\n/* $1 */ , $1`, ['x'])).toBe(
      `select '$1', E'\\'$1', "$1", E'x' -- $1\n/* $1 */ , E'x'`,
    );
  });

  it('refuses a placeholder without a parameter', () => {
    expect(() => inlineParameters('select $2', ['x'])).toThrow(UnsupportedParameterError);
  });
});

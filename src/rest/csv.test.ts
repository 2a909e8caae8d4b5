import { describe, expect, it } from 'vitest';
import { toCsv } from './csv.js';

describe('toCsv', () => {
  const columns = [{ name: 'region' }, { name: 'revenue' }, { name: 'paid' }];

  it('writes a header row, CRLF line ends, and empty fields for null', () => {
    expect(toCsv(columns, [{ region: 'north', revenue: 12.5, paid: true }, { region: null, revenue: 0, paid: false }])).toBe(
      'region,revenue,paid\r\nnorth,12.5,true\r\n,0,false\r\n',
    );
  });

  it('quotes fields with commas, quotes and line breaks', () => {
    expect(toCsv([{ name: 'name' }], [{ name: 'Acme, Inc' }, { name: 'say "hi"' }, { name: 'two\nlines' }])).toBe(
      'name\r\n"Acme, Inc"\r\n"say ""hi"""\r\n"two\nlines"\r\n',
    );
  });

  it('defuses text a spreadsheet would run as a formula, but not negative numbers', () => {
    expect(toCsv([{ name: 'v' }], [{ v: '=HYPERLINK("http://x")' }, { v: '@SUM(A1)' }, { v: -3 }])).toBe(
      'v\r\n"\'=HYPERLINK(""http://x"")"\r\n\'@SUM(A1)\r\n-3\r\n',
    );
  });
});

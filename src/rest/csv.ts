/**
 * Query results as CSV (RFC 4180) for spreadsheets and BI tools: a header row of column names,
 * CRLF line ends, fields quoted when they need it. Text that a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@` first) is prefixed with `'`: a tenant's own data must not become code in an
 * analyst's Excel (OWASP "CSV injection"). Numbers are written as numbers and never prefixed.
 */
type Cell = string | number | boolean | null;

function field(value: Cell): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(columns: readonly { name: string }[], rows: readonly Record<string, Cell>[]): string {
  const lines = [columns.map((c) => field(c.name)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => field(row[c.name] ?? null)).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Human-readable output: aligned tables, aligned label/value blocks, and once-shown secrets. */

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** One cell: missing values as `-`, objects as compact JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** An aligned table with a header row; `(none)` under the header when there are no rows. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const body = cells.length ? cells.map(line) : ['(none)'];
  return [line(columns.map((c) => c.header.toUpperCase())), ...body].join('\n') + '\n';
}

/** `label  value` lines with the values aligned. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}  ${cell(value)}`).join('\n') + '\n';
}

/** A secret printed once, labelled so it cannot be mistaken for an identifier. */
export function secret(label: string, value: string): string {
  return `\n${label} — shown once, store it now:\n  ${value}\n`;
}

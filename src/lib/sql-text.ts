/** Small pieces for SQL built as text (identifiers from the schema or catalog, never from input). */

/** A quoted identifier: `orders` → `"orders"`. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An ILIKE pattern matching `search` anywhere; `%`, `_` and `\` in it are literal characters. */
export function containsPattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

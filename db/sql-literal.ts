/**
 * Bound parameters rendered as SQL literals, for the one-message tenant read (tenant-read.ts): the
 * simple query protocol carries no parameters. Every value becomes an escape-string literal
 * (E'…', whose meaning does not depend on standard_conforming_strings) or NULL/true/false, so a
 * value can never end the literal; the statement text around it is ours (Drizzle), never input.
 * The literal is untyped, as postgres.js sends strings and numbers (type 0), so Postgres infers
 * the same types it would for `$n`.
 */

export class UnsupportedParameterError extends Error {}

/** A text value Postgres could not store either (NUL): the caller's input, so a 400 upstream. */
export class InvalidTextValueError extends Error {}

export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value instanceof Date) return quote(value.toISOString());
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
    case 'bigint':
      return quote(String(value));
    default:
      // Arrays, buffers, objects: postgres.js would serialize them with their own rules; refuse
      // rather than guess (use sql.join for lists, JSON.stringify for json).
      throw new UnsupportedParameterError(`a ${Array.isArray(value) ? 'array' : typeof value} parameter cannot be inlined; use withTenant for this statement`);
  }
}

/**
 * A bound parameter as the text the reader sends in Bind (db/tenant-read.ts), by the same rules as
 * `sqlLiteral`: the values it takes, the ones it refuses, the text a Date or a number becomes.
 */
export function parameterText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value === true) return 't';
  if (value === false) return 'f';
  if (value instanceof Date) return value.toISOString();
  switch (typeof value) {
    case 'string':
      if (value.includes('\0')) throw new InvalidTextValueError('a text value contains a NUL character');
      return value;
    case 'number':
    case 'bigint':
      return String(value);
    default:
      throw new UnsupportedParameterError(`a ${Array.isArray(value) ? 'array' : typeof value} parameter is not supported by the tenant reader; use withTenant for this statement`);
  }
}

function quote(text: string): string {
  // Postgres text cannot hold NUL; refusing here gives the same answer the server would.
  if (text.includes('\0')) throw new InvalidTextValueError('a text value contains a NUL character');
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * Replaces `$1…$n` in `text` with literals of `params`, skipping string literals, quoted
 * identifiers and comments, where a `$1` is just text.
 */
export function inlineParameters(text: string, params: readonly unknown[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const end =
      c === "'" ? closing(text, i, "'", text[i - 1] === 'E' || text[i - 1] === 'e') : c === '"' ? closing(text, i, '"', false) : c === '-' && text[i + 1] === '-' ? lineEnd(text, i) : c === '/' && text[i + 1] === '*' ? commentEnd(text, i) : -1;
    if (end !== -1) {
      out += text.slice(i, end);
      i = end;
      continue;
    }
    if (c === '$' && /[0-9]/.test(text[i + 1] ?? '') && !/[\w$]/.test(text[i - 1] ?? '')) {
      let j = i + 1;
      while (/[0-9]/.test(text[j] ?? '')) j++;
      const index = Number(text.slice(i + 1, j)) - 1;
      if (index < 0 || index >= params.length) throw new UnsupportedParameterError(`placeholder ${text.slice(i, j)} has no parameter`);
      out += sqlLiteral(params[index]);
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Index just past the quote closing the one at `start` (`''` and, in E'' strings, `\'` escape it). */
function closing(text: string, start: number, q: string, backslashes: boolean): number {
  let i = start + 1;
  while (i < text.length) {
    if (backslashes && text[i] === '\\') i += 2;
    else if (text[i] === q && text[i + 1] === q) i += 2;
    else if (text[i] === q) return i + 1;
    else i++;
  }
  return text.length;
}

function lineEnd(text: string, start: number): number {
  const end = text.indexOf('\n', start);
  return end === -1 ? text.length : end;
}

function commentEnd(text: string, start: number): number {
  const end = text.indexOf('*/', start + 2);
  return end === -1 ? text.length : end + 2;
}

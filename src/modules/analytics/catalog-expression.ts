/**
 * The restricted expression language of catalog.yaml (computed dimensions, metric filters).
 *
 * Catalog text never reaches Postgres as written: it is tokenized, parsed into a small grammar
 * (columns, literals, arithmetic, comparisons, boolean logic, CASE, a whitelist of functions and
 * casts) and re-rendered as canonical SQL with every identifier quoted and every literal rebuilt.
 * Anything outside the grammar (subqueries, semicolons, comments, unknown functions, schema-qualified
 * names) is refused, so a catalog author cannot read another table or call a side-effecting function.
 */

export class ExpressionError extends Error {}

export interface CompiledExpression {
  /** Canonical SQL, fully parenthesized, over the dataset table's columns. */
  sql: string;
  /** The table columns the expression reads (the startup guard checks they exist). */
  columns: Set<string>;
}

type Token =
  | { kind: 'ident'; value: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: string; pos: number }
  | { kind: 'op'; value: string; pos: number }
  | { kind: 'end'; value: ''; pos: number };

const KEYWORDS = new Set([
  'and', 'or', 'not', 'is', 'null', 'true', 'false', 'in', 'case', 'when', 'then', 'else', 'end', 'from',
]);

/** Function name → [min args, max args]. date_trunc, date_part and extract are handled separately. */
const FUNCTIONS: Record<string, [number, number]> = {
  lower: [1, 1],
  upper: [1, 1],
  trim: [1, 1],
  length: [1, 1],
  abs: [1, 1],
  floor: [1, 1],
  ceil: [1, 1],
  round: [1, 2],
  nullif: [2, 2],
  coalesce: [1, 20],
  concat: [1, 20],
  greatest: [1, 20],
  least: [1, 20],
};

const DATE_UNITS = new Set([
  'microseconds', 'milliseconds', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', 'decade',
  'century', 'millennium',
]);
const DATE_FIELDS = new Set([...DATE_UNITS, 'dow', 'isodow', 'doy', 'epoch', 'isoyear', 'timezone']);

const CAST_TYPES = new Set(['text', 'numeric', 'integer', 'bigint', 'date', 'timestamptz', 'boolean']);

const COMPARISONS = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);

const OPERATORS = ['::', '||', '<>', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '(', ')', ','];

const MAX_LENGTH = 2_000;
const MAX_DEPTH = 50;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (text.startsWith('--', i) || text.startsWith('/*', i)) throw new ExpressionError(`comments are not allowed (position ${start + 1})`);
    if (c === '"') throw new ExpressionError(`quoted identifiers are not allowed (position ${start + 1}); write columns bare and lowercase`);
    if (/[A-Za-z_]/.test(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      tokens.push({ kind: 'ident', value: text.slice(start, i), pos: start });
      continue;
    }
    const match = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i));
    if (match) {
      i += match[0].length;
      if (i < text.length && /[A-Za-z_]/.test(text[i]!)) throw new ExpressionError(`malformed number at position ${start + 1}`);
      tokens.push({ kind: 'number', value: match[0], pos: start });
      continue;
    }
    if (c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new ExpressionError(`unterminated string starting at position ${start + 1}`);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      if (value.includes('\0')) throw new ExpressionError(`string at position ${start + 1} contains a NUL character`);
      tokens.push({ kind: 'string', value, pos: start });
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new ExpressionError(`"${c}" at position ${start + 1} is not allowed in a catalog expression`);
    i += op.length;
    tokens.push({ kind: 'op', value: op, pos: start });
  }
  tokens.push({ kind: 'end', value: '', pos: text.length });
  return tokens;
}

/** A string literal Postgres reads the same whatever standard_conforming_strings says. */
export function quoteLiteral(value: string): string {
  return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

function quoteColumn(name: string): string {
  // Identifiers are lowercase [a-z_][a-z0-9_]*, so quoting never needs escaping.
  return `"${name}"`;
}

class Parser {
  private index = 0;
  private depth = 0;
  readonly columns = new Set<string>();

  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.tokens[this.index]!;
    if (token.kind !== 'end') this.index++;
    return token;
  }

  private describe(token: Token): string {
    if (token.kind === 'end') return 'end of expression';
    if (token.kind === 'string') return `string '${token.value}' at position ${token.pos + 1}`;
    return `"${token.value}" at position ${token.pos + 1}`;
  }

  private fail(message: string, token = this.peek()): never {
    throw new ExpressionError(`${message}, found ${this.describe(token)}`);
  }

  private isKeyword(word: string, token = this.peek()): boolean {
    return token.kind === 'ident' && token.value.toLowerCase() === word;
  }

  private acceptKeyword(word: string): boolean {
    if (!this.isKeyword(word)) return false;
    this.index++;
    return true;
  }

  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) this.fail(`expected "${word}"`);
  }

  private isOp(op: string): boolean {
    const token = this.peek();
    return token.kind === 'op' && token.value === op;
  }

  private acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.index++;
    return true;
  }

  private expectOp(op: string): void {
    if (!this.acceptOp(op)) this.fail(`expected "${op}"`);
  }

  parseAll(): string {
    const sql = this.expression();
    if (this.peek().kind !== 'end') this.fail('expected an operator or the end of the expression');
    return sql;
  }

  private expression(): string {
    if (++this.depth > MAX_DEPTH) throw new ExpressionError(`expression nests deeper than ${MAX_DEPTH} levels`);
    const sql = this.or();
    this.depth--;
    return sql;
  }

  // Precedence follows Postgres (OR < AND < NOT < IS < comparison < IN < || < + - < * / < unary < ::),
  // so the canonical, fully parenthesized output means what the author wrote.
  private or(): string {
    let left = this.and();
    while (this.acceptKeyword('or')) left = `(${left} OR ${this.and()})`;
    return left;
  }

  private and(): string {
    let left = this.not();
    while (this.acceptKeyword('and')) left = `(${left} AND ${this.not()})`;
    return left;
  }

  private not(): string {
    if (this.acceptKeyword('not')) return `(NOT ${this.not()})`;
    return this.is();
  }

  private is(): string {
    let left = this.comparison();
    while (this.acceptKeyword('is')) {
      const negated = this.acceptKeyword('not');
      const token = this.next();
      const word = token.kind === 'ident' ? token.value.toLowerCase() : '';
      if (word !== 'null' && word !== 'true' && word !== 'false') this.fail('expected null, true or false after "is"', token);
      left = `(${left} IS ${negated ? 'NOT ' : ''}${word.toUpperCase()})`;
    }
    return left;
  }

  private comparison(): string {
    const left = this.inList();
    const token = this.peek();
    if (token.kind === 'op' && COMPARISONS.has(token.value)) {
      this.index++;
      const right = this.inList();
      const op = token.value === '!=' ? '<>' : token.value;
      const after = this.peek();
      if (after.kind === 'op' && COMPARISONS.has(after.value)) this.fail('comparisons do not chain; use "and"', after);
      return `(${left} ${op} ${right})`;
    }
    return left;
  }

  private inList(): string {
    const left = this.concat();
    const negated = this.isKeyword('not') && this.isKeyword('in', this.tokens[this.index + 1]);
    if (negated) this.index++;
    if (!this.acceptKeyword('in')) return left;
    this.expectOp('(');
    const items = [this.expression()];
    while (this.acceptOp(',')) items.push(this.expression());
    this.expectOp(')');
    return `(${left} ${negated ? 'NOT IN' : 'IN'} (${items.join(', ')}))`;
  }

  private concat(): string {
    let left = this.additive();
    while (this.acceptOp('||')) left = `(${left} || ${this.additive()})`;
    return left;
  }

  private additive(): string {
    let left = this.multiplicative();
    for (;;) {
      if (this.acceptOp('+')) left = `(${left} + ${this.multiplicative()})`;
      else if (this.acceptOp('-')) left = `(${left} - ${this.multiplicative()})`;
      else return left;
    }
  }

  private multiplicative(): string {
    let left = this.unary();
    for (;;) {
      if (this.acceptOp('*')) left = `(${left} * ${this.unary()})`;
      else if (this.acceptOp('/')) left = `(${left} / ${this.unary()})`;
      else return left;
    }
  }

  private unary(): string {
    if (this.acceptOp('-')) return `(- ${this.unary()})`;
    if (this.acceptOp('+')) return this.unary();
    return this.cast();
  }

  private cast(): string {
    let value = this.primary();
    while (this.acceptOp('::')) {
      const token = this.next();
      const type = token.kind === 'ident' ? token.value.toLowerCase() : '';
      if (!CAST_TYPES.has(type)) this.fail(`expected a cast type (${[...CAST_TYPES].join(', ')})`, token);
      value = `(${value})::${type}`;
    }
    return value;
  }

  private primary(): string {
    const token = this.next();
    if (token.kind === 'number') return token.value;
    if (token.kind === 'string') return quoteLiteral(token.value);
    if (token.kind === 'op' && token.value === '(') {
      const inner = this.expression();
      this.expectOp(')');
      return inner;
    }
    if (token.kind !== 'ident') this.fail('expected a column, a literal, a function or "("', token);
    const word = token.value.toLowerCase();
    if (word === 'true' || word === 'false' || word === 'null') return word.toUpperCase();
    if (word === 'case') return this.caseExpression();
    if (this.isOp('(')) return this.call(token.value, token);
    if (KEYWORDS.has(word)) this.fail('expected a column, a literal, a function or "("', token);
    if (!/^[a-z_][a-z0-9_]*$/.test(token.value)) {
      throw new ExpressionError(`column "${token.value}" at position ${token.pos + 1} must be lowercase (a-z, 0-9, _)`);
    }
    if (token.value.length > 63) throw new ExpressionError(`column name at position ${token.pos + 1} is longer than 63 characters`);
    this.columns.add(token.value);
    return quoteColumn(token.value);
  }

  private caseExpression(): string {
    const branches: string[] = [];
    if (!this.isKeyword('when')) this.fail('expected "when" after "case" (only the searched form "case when … then …" is supported)');
    while (this.acceptKeyword('when')) {
      const condition = this.expression();
      this.expectKeyword('then');
      branches.push(`WHEN ${condition} THEN ${this.expression()}`);
    }
    const otherwise = this.acceptKeyword('else') ? ` ELSE ${this.expression()}` : '';
    this.expectKeyword('end');
    return `(CASE ${branches.join(' ')}${otherwise} END)`;
  }

  private literalWord(allowed: Set<string>, what: string): string {
    const token = this.next();
    const value = token.kind === 'string' || token.kind === 'ident' ? token.value.toLowerCase() : '';
    if (!allowed.has(value)) this.fail(`expected a literal ${what} (${[...allowed].join(', ')})`, token);
    return value;
  }

  private call(name: string, token: Token): string {
    const fn = name.toLowerCase();
    this.expectOp('(');
    if (fn === 'date_trunc' || fn === 'date_part') {
      const unit = this.literalWord(fn === 'date_trunc' ? DATE_UNITS : DATE_FIELDS, fn === 'date_trunc' ? 'unit' : 'field');
      this.expectOp(',');
      const value = this.expression();
      this.expectOp(')');
      return `${fn}(${quoteLiteral(unit)}, ${value})`;
    }
    if (fn === 'extract') {
      const field = this.literalWord(DATE_FIELDS, 'field');
      this.expectKeyword('from');
      const value = this.expression();
      this.expectOp(')');
      return `EXTRACT(${field.toUpperCase()} FROM ${value})`;
    }
    const arity = FUNCTIONS[fn];
    if (!arity) {
      const allowed = [...Object.keys(FUNCTIONS), 'date_trunc', 'date_part', 'extract'].sort().join(', ');
      throw new ExpressionError(`function "${name}" at position ${token.pos + 1} is not allowed; allowed: ${allowed}`);
    }
    const args: string[] = [];
    if (!this.isOp(')')) {
      args.push(this.expression());
      while (this.acceptOp(',')) args.push(this.expression());
    }
    this.expectOp(')');
    const [min, max] = arity;
    if (args.length < min || args.length > max) {
      const expected = min === max ? `${min}` : `${min} to ${max}`;
      throw new ExpressionError(`${fn}() at position ${token.pos + 1} takes ${expected} argument${max === 1 ? '' : 's'}, got ${args.length}`);
    }
    return `${fn}(${args.join(', ')})`;
  }
}

/**
 * Parses a catalog expression and renders it as canonical SQL.
 * Throws ExpressionError saying what was refused and where (1-based character position).
 */
export function compileExpression(text: string): CompiledExpression {
  if (text.length > MAX_LENGTH) throw new ExpressionError(`expression is longer than ${MAX_LENGTH} characters`);
  if (text.trim() === '') throw new ExpressionError('expression is empty');
  const parser = new Parser(tokenize(text));
  const sql = parser.parseAll();
  return { sql, columns: parser.columns };
}

/**
 * OData v4 `$filter`, the subset the analytics engine runs, parsed into the engine's filter tree
 * (FilterNode). Literal values only travel as data in the tree; the engine binds them.
 *
 * Why not @balena/odata-parser (4.3.5, measured): it rejects v4 date and DateTimeOffset literals
 * (`order_date ge 2024-01-01`, Power BI's incremental refresh) and parses `a eq 1 or b eq 2 and
 * c eq 3` as `(a or b) and c`. Its datetime'…' goes through Date.parse (milliseconds) and its
 * numbers through doubles. So: this tokenizer and recursive-descent parser for exactly our subset.
 *
 * Grammar, loosest first (OData's precedence: not > comparison > and > or):
 *   or         = and *( "or" and )
 *   and        = unary *( "and" unary )
 *   unary      = "not" ( unary / primary ) / comparison
 *   comparison = primary [ ( "eq" / "ne" / "gt" / "ge" / "lt" / "le" ) primary
 *                        / "in" "(" literal *( "," literal ) ")" ]
 *   primary    = "(" or ")" / ( "contains" / "startswith" ) "(" or "," or ")" / literal / field
 * Positions in messages are 1-based characters of the decoded $filter value.
 */
import { AppError } from '../lib/errors.js';
import type { Dataset, DimensionType } from '../modules/analytics/catalog.js';
import { QUERY_LIMITS, type FilterNode, type FilterOp, type FilterValue } from '../modules/analytics/query-input.js';
import { edmTypeOfDimension, edmTypeOfMetric } from './metadata.js';

/** A dataset field as OData sees it: a dimension with its type, or a metric (a number), with its Edm type as in $metadata. */
export interface ODataField {
  name: string;
  kind: 'dimension' | 'metric';
  type: DimensionType;
  edm: string;
}

export function findField(dataset: Dataset, name: string): ODataField | undefined {
  const dimension = dataset.dimensions.find((d) => d.name === name);
  if (dimension) return { name, kind: 'dimension', type: dimension.type, edm: edmTypeOfDimension(dimension) };
  const metric = dataset.metrics.find((m) => m.name === name);
  if (metric) return { name, kind: 'metric', type: 'number', edm: edmTypeOfMetric(metric) };
  return undefined;
}

/** UNKNOWN_FIELD for `name`, listing what the dataset has. `where` starts the message (`$select`). */
export function unknownField(dataset: Dataset, name: string, where: string): AppError {
  const names = (list: { name: string }[]) => (list.length ? list.map((f) => f.name).join(', ') : '(none)');
  return new AppError(
    'UNKNOWN_FIELD',
    `${where}: unknown field "${excerpt(name)}" in ${dataset.name}; dimensions: ${names(dataset.dimensions)}; metrics: ${names(dataset.metrics)}`,
  );
}

/** Tree depth the engine accepts (query-sql.ts): the root is level 0. */
const MAX_FILTER_DEPTH = 32;
/**
 * Parentheses and `not` nested in the text. Looser than the tree's depth because clients wrap each
 * added condition in another pair (`((a and b) and c)`), which flattens to one `and`; it bounds
 * the parser's recursion.
 */
const MAX_NESTING = 100;

type LiteralKind = 'string' | 'number' | 'boolean' | 'null' | 'date' | 'timestamp';
interface Literal {
  kind: LiteralKind;
  value: FilterValue | null;
}

type Token =
  | { type: '(' | ')' | ',' | 'end'; pos: number; text: string }
  | { type: 'name'; pos: number; text: string }
  | { type: 'literal'; pos: number; text: string; literal: Literal };

function fail(pos: number, message: string): never {
  throw new AppError('INVALID_FILTER', `$filter, character ${pos + 1}: ${message}`);
}

function excerpt(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function describe(token: Token): string {
  if (token.type === 'end') return 'the end of $filter';
  if (token.type === 'literal' && token.literal.kind === 'string') return excerpt(token.text);
  return `"${excerpt(token.text)}"`;
}

// ---- Tokens -------------------------------------------------------------------------------------

/** URLSearchParams has already turned `+` and `%20` into spaces. */
const SPACE = /[ \t\r\n]/;
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const NAME_AT = /[A-Za-z_][A-Za-z0-9_]*/y;
// A `+` sent unencoded arrives as a space: `1e 5` and `10:00:00 02:00` are read as `+`.
const NUMBER_AT = /-?\d+(?:\.\d+)?(?:[eE][+\- ]?\d+)?/y;
const NUMBER_SUFFIX = /[MmLlDdFf]/;
const DATE_AT = /(\d{4})-(\d{2})-(\d{2})/y;
const TIME_AT = /[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/y;
const OFFSET_AT = /([Zz])|([+\- ])(\d{2}):(\d{2})/y;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < source.length && SPACE.test(source[i]!)) i++;
    if (i >= source.length) break;
    const c = source[i]!;
    const start = i;
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ type: c, pos: i, text: c });
      i++;
    } else if (c === "'") {
      const { value, end } = readString(source, start);
      tokens.push({ type: 'literal', pos: start, text: source.slice(start, end), literal: { kind: 'string', value } });
      i = end;
    } else if (/\d/.test(c) || (c === '-' && /\d/.test(source[i + 1] ?? ''))) {
      const { literal, end } = scanDateTime(source, start, 'offset required') ?? readNumber(source, start);
      if (NAME_CHAR.test(source[end] ?? '') || source[end] === '.' || source[end] === ':') {
        fail(start, `malformed literal "${excerpt(/^[^\s(),]*/.exec(source.slice(start))![0])}"`);
      }
      tokens.push({ type: 'literal', pos: start, text: source.slice(start, end), literal });
      i = end;
    } else if (NAME_START.test(c)) {
      NAME_AT.lastIndex = start;
      NAME_AT.exec(source);
      const name = source.slice(start, NAME_AT.lastIndex);
      i = NAME_AT.lastIndex;
      if (source[i] === "'") {
        const { value, end } = readString(source, i);
        tokens.push({ type: 'literal', pos: start, text: source.slice(start, end), literal: typedLiteral(name, value, start, i + 1) });
        i = end;
      } else if (/^(true|false)$/i.test(name)) {
        tokens.push({ type: 'literal', pos: start, text: name, literal: { kind: 'boolean', value: name.toLowerCase() === 'true' } });
      } else if (/^null$/i.test(name)) {
        tokens.push({ type: 'literal', pos: start, text: name, literal: { kind: 'null', value: null } });
      } else {
        tokens.push({ type: 'name', pos: start, text: name });
      }
    } else if (c === '"') {
      fail(i, 'strings take single quotes: \'text\'');
    } else if (c === '/') {
      fail(i, 'property paths and lambda operators (/) are not supported: fields are flat');
    } else if (c === '@') {
      fail(i, 'parameter aliases (@name) are not supported');
    } else if (source.startsWith('-INF', i)) {
      fail(i, 'INF and NaN are not supported');
    } else {
      fail(i, `unexpected character "${c}"`);
    }
  }
  tokens.push({ type: 'end', pos: source.length, text: '' });
  return tokens;
}

/** A quoted string from the quote at `start`; `''` is one quote. */
function readString(source: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  for (;;) {
    const quote = source.indexOf("'", i);
    if (quote < 0) fail(start, "unterminated string (a quote inside text is written twice: 'it''s')");
    value += source.slice(i, quote);
    if (source[quote + 1] !== "'") return { value, end: quote + 1 };
    value += "'";
    i = quote + 2;
  }
}

/** A number: a JS number when that reads back as the same decimal value, else its digits (the engine binds numeric strings as numeric). */
function readNumber(source: string, start: number): { literal: Literal; end: number } {
  NUMBER_AT.lastIndex = start;
  NUMBER_AT.exec(source);
  let end = NUMBER_AT.lastIndex;
  const text = source.slice(start, end).replace(' ', '+');
  if (NUMBER_SUFFIX.test(source[end] ?? '') && !NAME_CHAR.test(source[end + 1] ?? '')) end++;
  const n = Number(text);
  const value = Number.isFinite(n) && decimalKey(text) === decimalKey(String(n)) ? n + 0 : text;
  return { literal: { kind: 'number', value }, end };
}

/** A decimal's value as digits and exponent, so `1.50`, `15e-1` and `1.5` compare equal. */
function decimalKey(text: string): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  if (!m) return text;
  const fraction = m[3] ?? '';
  let digits = (m[2]! + fraction).replace(/^0+/, '');
  let exponent = Number(m[4] ?? 0) - fraction.length;
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += trailing;
  return digits === '' ? '0' : `${m[1]}${digits}e${exponent}`;
}

function validDate(year: number, month: number, day: number): boolean {
  const days = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1]!;
}

/**
 * An Edm.Date (`2024-01-31`) or Edm.DateTimeOffset (`2024-01-31T10:00:00.5+02:00`) at `start`, or
 * undefined when there is no date there. Timestamps keep their offset; fractional seconds are cut
 * to 6 digits (what the engine accepts). `base` shifts error positions (for text inside quotes).
 */
function scanDateTime(source: string, start: number, zone: 'offset required' | 'UTC when absent', base = 0): { literal: Literal; end: number } | undefined {
  DATE_AT.lastIndex = start;
  const d = DATE_AT.exec(source);
  if (!d) return undefined;
  const date = d[0];
  if (!validDate(Number(d[1]), Number(d[2]), Number(d[3]))) fail(base + start, `${date} is not a date`);
  TIME_AT.lastIndex = DATE_AT.lastIndex;
  const t = TIME_AT.exec(source);
  if (!t) return { literal: { kind: 'date', value: date }, end: DATE_AT.lastIndex };
  const [, hour, minute, second, fraction] = t;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59) fail(base + start, `${source.slice(start, TIME_AT.lastIndex)} is not a time of day`);
  OFFSET_AT.lastIndex = TIME_AT.lastIndex;
  const o = OFFSET_AT.exec(source);
  let offset = 'Z';
  let end = TIME_AT.lastIndex;
  if (o) {
    end = OFFSET_AT.lastIndex;
    if (!o[1]) {
      if (Number(o[3]) > 23 || Number(o[4]) > 59) fail(base + start, `${source.slice(start, end)} has an invalid time zone offset`);
      offset = `${o[2] === ' ' ? '+' : o[2]}${o[3]}:${o[4]}`;
    }
  } else if (zone === 'offset required') {
    fail(base + start, `the DateTimeOffset ${source.slice(start, end)} needs a time zone: Z or +hh:mm/-hh:mm (e.g. ${date}T${hour}:${minute}:00Z)`);
  }
  const value = `${date}T${hour}:${minute}${second === undefined ? '' : `:${second}`}${fraction ? `.${fraction.slice(0, 6)}` : ''}${offset}`;
  return { literal: { kind: 'timestamp', value }, end };
}

/** The OData v3 forms some clients (Excel) still send: `datetime'…'` (no zone: UTC) and `datetimeoffset'…'`. */
function typedLiteral(prefix: string, text: string, pos: number, textPos: number): Literal {
  if (prefix !== 'datetime' && prefix !== 'datetimeoffset') {
    fail(pos, `typed literals (${excerpt(prefix)}'…') are not supported; write strings as 'text', dates as 2024-01-31, timestamps as 2024-01-31T10:00:00Z`);
  }
  const scanned = scanDateTime(text, 0, prefix === 'datetime' ? 'UTC when absent' : 'offset required', textPos);
  if (!scanned || scanned.end !== text.length) fail(pos, `${prefix}'…' must hold a date and time such as 2024-01-31T10:00:00Z`);
  return scanned.literal;
}

// ---- Parser -------------------------------------------------------------------------------------

const COMPARISONS = { eq: 'eq', ne: 'neq', gt: 'gt', ge: 'gte', lt: 'lt', le: 'lte' } as const;
type Comparison = keyof typeof COMPARISONS;
const MIRRORED: Record<Comparison, Comparison> = { eq: 'eq', ne: 'ne', gt: 'lt', ge: 'le', lt: 'gt', le: 'ge' };
const KEYWORDS = new Set(['and', 'or', 'not', 'in', ...Object.keys(COMPARISONS)]);
const ARITHMETIC = new Set(['add', 'sub', 'mul', 'div', 'divby', 'mod', 'has']);
const FUNCTIONS = { contains: 'contains', startswith: 'starts_with' } as const;
const SUPPORTED_FUNCTIONS = "contains(field,'text'), startswith(field,'text')";
const OPERATORS = 'eq, ne, gt, ge, lt, le, in, and, or';

/** Which literal kinds can compare with each type (a date against a timestamp means midnight UTC, as in the engine). */
const ACCEPTS: Record<DimensionType, LiteralKind[]> = {
  string: ['string'],
  number: ['number'],
  boolean: ['boolean'],
  date: ['date'],
  timestamp: ['timestamp', 'date'],
};
const EXAMPLES: Record<DimensionType, string> = {
  string: "'text'",
  number: '42 or 1.5',
  boolean: 'true or false',
  date: '2024-01-31',
  timestamp: '2024-01-31T10:00:00Z',
};
const KIND_NAMES: Record<LiteralKind, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
  date: 'an Edm.Date',
  timestamp: 'an Edm.DateTimeOffset',
};

/** What a primary or sub-expression is: a condition (a filter), or a field or literal still waiting for an operator. */
type Operand =
  | { kind: 'condition'; node: FilterNode; pos: number }
  | { kind: 'field'; field: ODataField; pos: number }
  | { kind: 'literal'; literal: Literal; text: string; pos: number };

class FilterParser {
  private index = 0;
  private leaves = 0;
  /** Where each and/or/not node's operator was, for messages found after parsing. */
  readonly positions = new Map<FilterNode, number>();

  constructor(
    private readonly tokens: Token[],
    private readonly dataset: Dataset,
  ) {}

  peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.tokens[this.index]!;
    if (token.type !== 'end') this.index++;
    return token;
  }

  private isKeyword(token: Token, word: string): boolean {
    return token.type === 'name' && token.text === word;
  }

  parseOr(nesting: number): Operand {
    return this.parseChain('or', () => this.parseAnd(nesting));
  }

  private parseAnd(nesting: number): Operand {
    return this.parseChain('and', () => this.parseUnary(nesting));
  }

  /** `part (word part)*` as one and/or node, flattening nested nodes of the same kind. */
  private parseChain(word: 'and' | 'or', part: () => Operand): Operand {
    const first = part();
    if (!this.isKeyword(this.peek(), word)) return first;
    const pos = this.peek().pos;
    const parts = [this.toCondition(first)];
    while (this.isKeyword(this.peek(), word)) {
      this.next();
      parts.push(this.toCondition(part()));
    }
    const node: FilterNode = { [word]: parts.flatMap((p) => p[word] ?? [p]) };
    this.positions.set(node, pos);
    return { kind: 'condition', node, pos: first.pos };
  }

  private parseUnary(nesting: number): Operand {
    const token = this.peek();
    if (!this.isKeyword(token, 'not')) return this.parseComparison(nesting);
    this.next();
    if (nesting + 1 > MAX_NESTING) fail(token.pos, `nested more than ${MAX_NESTING} levels deep`);
    const operand = this.isKeyword(this.peek(), 'not') ? this.parseUnary(nesting + 1) : this.parsePrimary(nesting + 1);
    const after = this.peek();
    if (after.type === 'name' && (after.text in COMPARISONS || after.text === 'in')) {
      fail(token.pos, `"not" applies to the operand right after it (it binds tighter than "${after.text}"); write not (… ${after.text} …)`);
    }
    const node: FilterNode = { not: this.toCondition(operand) };
    this.positions.set(node, token.pos);
    return { kind: 'condition', node, pos: token.pos };
  }

  private parseComparison(nesting: number): Operand {
    const left = this.parsePrimary(nesting);
    const token = this.peek();
    if (token.type === 'name') {
      if (Object.hasOwn(COMPARISONS, token.text)) {
        this.next();
        return this.compare(left, token.text as Comparison, token.pos, this.parsePrimary(nesting));
      }
      if (token.text === 'in') {
        this.next();
        return this.inList(left);
      }
      if (ARITHMETIC.has(token.text)) fail(token.pos, `the operator "${token.text}" is not supported; supported: ${OPERATORS}`);
      if (token.text !== 'and' && token.text !== 'or') {
        const hint = KEYWORDS.has(token.text.toLowerCase()) ? ' (operators are lowercase)' : '';
        fail(token.pos, `expected an operator (${OPERATORS}), found ${describe(token)}${hint}`);
      }
    } else if (token.type === 'literal' || token.type === '(') {
      fail(token.pos, `expected an operator (${OPERATORS}), found ${describe(token)}`);
    }
    return left;
  }

  private parsePrimary(nesting: number): Operand {
    const token = this.next();
    if (token.type === 'literal') return { kind: 'literal', literal: token.literal, text: token.text, pos: token.pos };
    if (token.type === '(') {
      if (nesting + 1 > MAX_NESTING) fail(token.pos, `nested more than ${MAX_NESTING} levels deep`);
      const inner = this.parseOr(nesting + 1);
      const close = this.next();
      if (close.type !== ')') fail(close.pos, `expected ")" closing the "(" at character ${token.pos + 1} or an operator, found ${describe(close)}`);
      return inner;
    }
    if (token.type !== 'name' || KEYWORDS.has(token.text)) fail(token.pos, `expected a field, a literal or "(", found ${describe(token)}`);
    const field = findField(this.dataset, token.text);
    if (!field && this.peek().type === '(') return this.parseCall(token, nesting);
    if (!field && (token.text === 'NaN' || token.text === 'INF')) fail(token.pos, 'INF and NaN are not supported');
    if (!field) throw unknownField(this.dataset, token.text, `$filter, character ${token.pos + 1}`);
    return { kind: 'field', field, pos: token.pos };
  }

  private parseCall(name: Token, nesting: number): Operand {
    if (!Object.hasOwn(FUNCTIONS, name.text)) fail(name.pos, `the function ${excerpt(name.text)}() is not supported; supported: ${SUPPORTED_FUNCTIONS}`);
    const op = FUNCTIONS[name.text as keyof typeof FUNCTIONS];
    if (nesting + 1 > MAX_NESTING) fail(name.pos, `nested more than ${MAX_NESTING} levels deep`);
    this.next();
    const args = [this.parseOr(nesting + 1)];
    while (this.peek().type === ',') {
      this.next();
      args.push(this.parseOr(nesting + 1));
    }
    const close = this.next();
    if (close.type !== ')') fail(close.pos, `expected "," or ")" in ${name.text}(…), found ${describe(close)}`);
    if (args.length !== 2) fail(name.pos, `${name.text} takes 2 arguments: ${name.text}(field,'text')`);
    const [target, text] = args as [Operand, Operand];
    if (target.kind !== 'field') fail(target.pos, `the first argument of ${name.text} must be a string dimension: ${name.text}(field,'text')`);
    if (target.field.kind === 'metric' || target.field.type !== 'string') {
      fail(target.pos, `${name.text} applies to string dimensions only; ${target.field.name} is ${this.typeOf(target.field)}`);
    }
    if (text.kind !== 'literal' || text.literal.kind !== 'string') fail(text.pos, `the second argument of ${name.text} must be a string literal: ${name.text}(field,'text')`);
    return { kind: 'condition', node: this.leaf(target.field, op, { value: text.literal.value }, target.pos), pos: name.pos };
  }

  private compare(left: Operand, op: Comparison, opPos: number, right: Operand): Operand {
    if (left.kind === 'condition' || right.kind === 'condition') return this.compareCondition(left, op, opPos, right);
    if (left.kind === 'literal' && right.kind === 'field') {
      [left, right] = [right, left];
      op = MIRRORED[op];
    }
    if (left.kind === 'field' && right.kind === 'field') {
      fail(right.pos, `comparing two fields (${left.field.name} ${op} ${right.field.name}) is not supported; compare a field with a literal`);
    }
    if (left.kind !== 'field' || right.kind !== 'literal') fail(left.pos, `compare a field with a literal, not two literals`);
    const { field } = left;
    const { literal } = right;
    if (literal.kind === 'null') {
      if (op !== 'eq' && op !== 'ne') fail(opPos, `"${op} null" is not a condition; use eq null or ne null`);
      return { kind: 'condition', node: this.leaf(field, op === 'eq' ? 'is_null' : 'is_not_null', {}, left.pos), pos: left.pos };
    }
    this.checkLiteral(field, literal, right);
    if (field.type === 'boolean' && op !== 'eq' && op !== 'ne') fail(opPos, `"${op}" does not apply to the boolean ${field.name}; use eq or ne`);
    return { kind: 'condition', node: this.leaf(field, COMPARISONS[op], { value: literal.value }, left.pos), pos: left.pos };
  }

  /** `contains(a,'x') eq true`, `(…) ne false`: a condition compared with a boolean. */
  private compareCondition(left: Operand, op: Comparison, opPos: number, right: Operand): Operand {
    const [condition, other] = left.kind === 'condition' ? [left, right] : [right, left];
    if (condition.kind !== 'condition' || other.kind !== 'literal' || other.literal.kind !== 'boolean' || (op !== 'eq' && op !== 'ne')) {
      fail(opPos, 'a condition can only be compared with true or false, using eq or ne');
    }
    if ((op === 'eq') === other.literal.value) return condition;
    const node: FilterNode = { not: condition.node };
    this.positions.set(node, opPos);
    return { kind: 'condition', node, pos: condition.pos };
  }

  /** `field in (v1, v2, …)`; a null in the list is `or field eq null`, as OData defines `in`. */
  private inList(left: Operand): Operand {
    if (left.kind !== 'field') fail(left.pos, 'the left side of "in" must be a field: field in (\'a\',\'b\')');
    const { field } = left;
    const open = this.next();
    if (open.type !== '(') fail(open.pos, `expected "(" after in, found ${describe(open)}: ${field.name} in (${EXAMPLES[field.type]})`);
    const values: (FilterValue | null)[] = [];
    for (;;) {
      const token = this.next();
      if (token.type !== 'literal') fail(token.pos, `expected a literal in the list of "in", found ${describe(token)}`);
      if (token.literal.kind !== 'null') this.checkLiteral(field, token.literal, token);
      values.push(token.literal.value);
      if (values.length > QUERY_LIMITS.values) fail(token.pos, `"in" takes at most ${QUERY_LIMITS.values} values`);
      const separator = this.next();
      if (separator.type === ')') break;
      if (separator.type !== ',') fail(separator.pos, `expected "," or ")" in the list of "in", found ${describe(separator)}`);
    }
    const present = values.filter((v) => v !== null);
    const parts: FilterNode[] = [];
    if (present.length) parts.push(this.leaf(field, 'in', { values: present }, left.pos));
    if (present.length < values.length) parts.push(this.leaf(field, 'is_null', {}, left.pos));
    const node = parts.length === 1 ? parts[0]! : { or: parts };
    if (parts.length > 1) this.positions.set(node, left.pos);
    return { kind: 'condition', node, pos: left.pos };
  }

  /** A field on its own is a condition only when it is a boolean dimension (`active` means `active eq true`). */
  toCondition(operand: Operand): FilterNode {
    if (operand.kind === 'condition') return operand.node;
    if (operand.kind === 'field' && operand.field.type === 'boolean' && operand.field.kind === 'dimension') {
      return this.leaf(operand.field, 'eq', { value: true }, operand.pos);
    }
    const what = operand.kind === 'field' ? operand.field.name : operand.text;
    fail(operand.pos, `expected a condition, found ${excerpt(what)} alone; compare it, e.g. ${operand.kind === 'field' ? `${what} eq ${EXAMPLES[operand.field.type].split(' ')[0]}` : `field eq ${excerpt(what)}`}`);
  }

  private leaf(field: ODataField, op: FilterOp, operands: Pick<FilterNode, 'value' | 'values'>, pos: number): FilterNode {
    if (++this.leaves > QUERY_LIMITS.filters) fail(pos, `at most ${QUERY_LIMITS.filters} conditions`);
    return field.kind === 'metric' ? { metric: field.name, op, ...operands } : { dimension: field.name, op, ...operands };
  }

  private typeOf(field: ODataField): string {
    return field.kind === 'metric' ? `a metric (${field.edm})` : field.edm;
  }

  /** An early, clear error when a literal's kind cannot match the field's type (the engine checks values again). */
  private checkLiteral(field: ODataField, literal: Literal, at: { pos: number; text: string }): void {
    if (ACCEPTS[field.type].includes(literal.kind)) return;
    fail(at.pos, `${field.name} is ${this.typeOf(field)} and ${excerpt(at.text)} is ${KIND_NAMES[literal.kind]}; write a value like ${EXAMPLES[field.type]}`);
  }
}

/** Dimensions (WHERE) and metrics (HAVING) may meet only in the top-level `and`, which the engine splits. */
function checkSides(node: FilterNode, positions: Map<FilterNode, number>): void {
  const side = (n: FilterNode): 'dimension' | 'metric' => {
    if (n.not) return side(n.not);
    const parts = n.and ?? n.or;
    if (!parts) return n.metric !== undefined ? 'metric' : 'dimension';
    const sides = parts.map(side);
    if (sides.some((s) => s !== sides[0])) {
      fail(
        positions.get(n) ?? 0,
        `this "${n.and ? 'and' : 'or'}" combines dimensions (compared before aggregation) with metrics (compared after); only the top-level "and" may combine them`,
      );
    }
    return sides[0]!;
  };
  if (node.and) node.and.forEach((child) => checkSides(child, positions));
  else side(node);
}

function checkDepth(node: FilterNode, positions: Map<FilterNode, number>, depth = 0): void {
  const children = node.and ?? node.or ?? (node.not ? [node.not] : []);
  if (children.length && depth + 1 > MAX_FILTER_DEPTH) {
    fail(positions.get(node) ?? 0, `conditions nest more than ${MAX_FILTER_DEPTH} levels deep`);
  }
  for (const child of children) checkDepth(child, positions, depth + 1);
}

/**
 * `$filter` as the engine's filter tree. Field names are checked against `dataset` (UNKNOWN_FIELD),
 * literal kinds against field types, and everything else (syntax, unsupported functions and
 * operators, limits) is INVALID_FILTER with the character position.
 */
export function parseFilter(source: string, dataset: Dataset): FilterNode {
  const tokens = tokenize(source);
  if (tokens[0]!.type === 'end') throw new AppError('INVALID_FILTER', '$filter is empty');
  const parser = new FilterParser(tokens, dataset);
  const result = parser.parseOr(0);
  const rest = parser.peek();
  if (rest.type !== 'end') {
    fail(rest.pos, rest.type === ')' ? 'unbalanced ")"' : `expected "and", "or" or the end of $filter, found ${describe(rest)}`);
  }
  const node = parser.toCondition(result);
  checkDepth(node, parser.positions);
  checkSides(node, parser.positions);
  return node;
}

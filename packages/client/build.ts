/**
 * Builds @palisade/client into dist/: index.js and index.d.ts from src/index.ts as tsc emits them,
 * and server-types.d.ts, the server's `AppRouter` and `Reason` written out in full.
 *
 * Why not tsc's declaration emit, or a declaration bundler (dts-bundle-generator,
 * rollup-plugin-dts), for the server's types: both work on declaration text, and that text names
 * where every type comes from. The router's type carries the procedure context in every router's
 * root config (`ctx: Context`, the server's deps: postgres pools, Redis, Hono), and the demo
 * procedures' outputs are drizzle row types (`Omit<typeof orders.$inferSelect, …>`). Bundled, that
 * was 180 kB importing drizzle-orm, postgres and zod, with our whole database schema inlined; no
 * rewrite of our modules' output types would remove `ctx`, which tRPC keeps in the router type.
 * So this asks the type checker for what a client sees (each procedure's kind, input, output and
 * error shape; the router's root config without its context) and writes those types out as data:
 * named types (interfaces and aliases, such as `Order` or the recursive `FilterNode`) once each
 * under their own names, anonymous ones in place. The result needs only @trpc/server's types.
 *
 * Run: `npm run build:client` (root), or `npm pack` here (prepack). Fails if the types cannot be
 * written as data (a function or class in an input or output) or if any emitted declaration would
 * import anything but @trpc/client, @trpc/server and the package's own files.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const PACKAGE_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(PACKAGE_DIR, '../..');
const SOURCE_DIR = join(PACKAGE_DIR, 'src');
/** Written out by the type checker instead of emitted (see the header). */
const SERVER_TYPES = join(SOURCE_DIR, 'server-types.ts');
/** What the declarations may import: the package's own files and its dependencies. */
const ALLOWED_IMPORTS = /^(\.\/[\w-]+\.js|@trpc\/client|@trpc\/server)$/;

export interface BuildResult {
  outDir: string;
  files: string[];
  ms: number;
}

export function buildClient(outDir = join(PACKAGE_DIR, 'dist')): BuildResult {
  const started = performance.now();
  const program = createProgram();
  const checker = program.getTypeChecker();
  const sources = readdirSync(SOURCE_DIR)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
    .map((name) => join(SOURCE_DIR, name));

  const diagnostics = sources.flatMap((file) => {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`${file} is not in the program`);
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
  });
  if (diagnostics.length > 0) throw new Error(formatDiagnostics(diagnostics));

  const output = new Map<string, string>();
  for (const file of sources.filter((f) => f !== SERVER_TYPES)) {
    const result = program.emit(program.getSourceFile(file), (name, text) => output.set(basename(name), text));
    if (result.emitSkipped || result.diagnostics.length > 0) throw new Error(`emit of ${file} failed\n${formatDiagnostics(result.diagnostics)}`);
  }
  output.set('server-types.d.ts', writeServerTypes(program, checker));

  for (const [name, text] of output) {
    if (!name.endsWith('.d.ts')) continue;
    if (/<reference\s+(types|path|lib)=/.test(text)) throw new Error(`dist/${name} has a reference directive: a client must get by with its own settings`);
    const imports = [...text.matchAll(/(?:from\s+|import\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const foreign = imports.filter((specifier) => !ALLOWED_IMPORTS.test(specifier));
    if (foreign.length > 0) throw new Error(`dist/${name} would import ${[...new Set(foreign)].join(', ')}: a client must not need the server's source or packages`);
  }

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of output) writeFileSync(join(outDir, name), text);
  return { outDir, files: [...output.keys()].sort(), ms: Math.round(performance.now() - started) };
}

/** The repository's compiler options (strict, NodeNext), emitting JavaScript and declarations. */
function createProgram(): ts.Program {
  const configPath = join(REPO_ROOT, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (config.error) throw new Error(formatDiagnostics([config.error]));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO_ROOT, undefined, configPath);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    sourceMap: false,
    declarationMap: false,
    incremental: false,
    removeComments: false,
    // The names are taken apart by build.ts; only the text is used.
    outDir: join(PACKAGE_DIR, '.emit'),
    rootDir: REPO_ROOT,
  };
  return ts.createProgram({ rootNames: [join(SOURCE_DIR, 'index.ts')], options });
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => REPO_ROOT,
    getNewLine: () => '\n',
  });
}

const HEADER = `/**
 * The Palisade server's router and reason types, written out by packages/client/build.ts from the
 * server's source: what a client sees of each procedure. Generated; do not edit.
 */
import type { TRPCBuiltRouter, TRPCMutationProcedure, TRPCQueryProcedure, TRPCSubscriptionProcedure } from '@trpc/server';
`;

const PROCEDURE_TYPES: Record<string, string> = {
  query: 'TRPCQueryProcedure',
  mutation: 'TRPCMutationProcedure',
  subscription: 'TRPCSubscriptionProcedure',
};

/** dist/server-types.d.ts: every export of src/server-types.ts as a self-contained declaration. */
function writeServerTypes(program: ts.Program, checker: ts.TypeChecker): string {
  const source = program.getSourceFile(SERVER_TYPES);
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`${SERVER_TYPES} is not a module`);
  const writer = new TypeWriter(checker, program);
  const exports = checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (!(target.flags & (ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Interface))) {
      throw new Error(`src/server-types.ts exports ${symbol.name}, which is not a type: only types are written out`);
    }
    return { name: symbol.name, type: checker.getDeclaredTypeOfSymbol(target), docs: docsOf(target, checker) };
  });
  // Names first, so that a type met inside another (the reasons in the error shape) is written by name.
  for (const { name, type } of exports) writer.reserve(type, name);
  const body = exports.map(({ name, type, docs }) => {
    const text = writer.exported(type);
    // A long union (the reasons) one member a line.
    const written = type.isUnion() && text.length > 100 && !text.includes('\n') ? `\n| ${text.split(' | ').join('\n| ')}` : ` ${text}`;
    return `${docs('')}export type ${name} =${written};\n`;
  });
  return reindent(`${HEADER}\n${writer.declarations().join('\n')}\n${body.join('\n')}`);
}

function docsOf(symbol: ts.Symbol, checker: ts.TypeChecker): (indent: string) => string {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  if (!text) return () => '';
  if (!text.includes('\n') && text.length < 100) return (indent) => `${indent}/** ${text} */\n`;
  return (indent) => `${indent}/**\n${text.split('\n').map((line) => `${indent} * ${line}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Writes types as TypeScript text that names nothing from the program: objects by their members,
 * named objects as declarations of their own (which also ends recursion), the standard library's
 * types (Date) by name, tRPC routers and procedures as @trpc/server's generic types.
 */
class TypeWriter {
  /** The name a type is written as, once it has one. */
  private readonly names = new Map<ts.Type, string>();
  /** The same, for unions: one set of members is one union whatever alias it came under. */
  private readonly unionNames = new Map<string, string>();
  private readonly taken = new Set<string>(['TRPCBuiltRouter', 'TRPCMutationProcedure', 'TRPCQueryProcedure', 'TRPCSubscriptionProcedure']);
  /** Declarations of named types, in the order they were finished. */
  private readonly written = new Map<string, string>();
  /** Object types being written: met again inside themselves, they get a name. */
  private readonly inProgress = new Set<ts.Type>();
  private readonly ids = new Map<ts.Type, number>();
  private readonly exportedNames = new Set<string>();
  private readonly path: string[] = [];

  constructor(
    private readonly checker: ts.TypeChecker,
    private readonly program: ts.Program,
  ) {}

  reserve(type: ts.Type, name: string): void {
    if (this.taken.has(name)) throw new Error(`two exported types named ${name}`);
    this.taken.add(name);
    this.exportedNames.add(name);
    this.names.set(type, name);
    if (type.isUnion()) this.unionNames.set(this.unionKey(type), name);
  }

  /** An exported type's right-hand side: written out, not referred to by its own name. */
  exported(type: ts.Type): string {
    return this.isRouter(type) ? this.router(type) : this.write(type, { byName: false });
  }

  declarations(): string[] {
    return [...this.written.values()];
  }

  private fail(what: string): never {
    throw new Error(`cannot write out ${this.path.join('.') || 'the type'}: ${what}`);
  }

  private property(type: ts.Type, name: string): ts.Type {
    const symbol = type.getProperty(name);
    if (!symbol) this.fail(`no property ${name}`);
    return this.checker.getTypeOfSymbol(symbol);
  }

  private isRouter(type: ts.Type): boolean {
    const def = type.getProperty('_def');
    return def !== undefined && this.checker.getTypeOfSymbol(def).getProperty('router') !== undefined;
  }

  private isProcedure(type: ts.Type): boolean {
    const def = type.getProperty('_def');
    return def !== undefined && this.checker.getTypeOfSymbol(def).getProperty('procedure') !== undefined;
  }

  /** A router as the client reads it: the root config without the server's context, and the record. */
  private router(type: ts.Type): string {
    const def = this.property(type, '_def');
    const root = this.property(this.property(def, '_config'), '$types');
    const errorShape = this.named(this.property(root, 'errorShape'), 'ErrorShape');
    const meta = this.write(this.property(root, 'meta'));
    const transformer = this.write(this.property(root, 'transformer'));
    const rootTypes = this.declare(this.freeName('RootTypes'), `{\n  ctx: object;\n  meta: ${meta};\n  errorShape: ${errorShape};\n  transformer: ${transformer};\n}`);
    return `TRPCBuiltRouter<${rootTypes}, ${this.record(this.property(def, 'record'), '')}>`;
  }

  /** Procedures and sub-routers by name, as a type literal (a router record must be one, not an interface). */
  private record(type: ts.Type, indent: string): string {
    const inner = `${indent}  `;
    const members = this.checker.getPropertiesOfType(type).map((symbol) => {
      this.path.push(symbol.name);
      const value = this.checker.getTypeOfSymbol(symbol);
      const text = this.isProcedure(value) ? this.procedure(value) : this.isRouter(value) ? this.record(this.property(this.property(value, '_def'), 'record'), inner) : this.record(value, inner);
      this.path.pop();
      return `${docsOf(symbol, this.checker)(inner)}${inner}${propertyName(symbol.name)}: ${text};`;
    });
    return `{\n${members.join('\n')}\n${indent}}`;
  }

  private procedure(type: ts.Type): string {
    const def = this.property(type, '_def');
    const kind = this.property(def, 'type');
    const name = kind.isStringLiteral() ? PROCEDURE_TYPES[kind.value] : undefined;
    if (!name) this.fail('a procedure of an unknown kind');
    const types = this.property(def, '$types');
    const fields = (['input', 'output', 'errorShape'] as const).map((field) => `${field}: ${this.write(this.property(types, field))}`);
    fields.splice(2, 0, `meta: ${this.write(this.property(type, 'meta'))}`);
    return `${name}<{ ${fields.join('; ')} }>`;
  }

  /** `type` under `name` (or a free variant of it), declared once. */
  private named(type: ts.Type, name: string): string {
    const known = this.nameOf(type);
    if (known) return known;
    const free = this.freeName(name);
    this.names.set(type, free);
    this.declare(free, this.write(type, { byName: false }), type);
    return free;
  }

  private declare(name: string, text: string, type?: ts.Type): string {
    this.taken.add(name);
    const asInterface = type !== undefined && text.startsWith('{') && !type.isUnion() && !type.isIntersection();
    this.written.set(name, asInterface ? `interface ${name} ${text}\n` : `type ${name} = ${text};\n`);
    return name;
  }

  private freeName(wanted: string): string {
    const base = IDENTIFIER.test(wanted) ? wanted : 'Type';
    let name = base;
    for (let n = 2; this.taken.has(name); n++) name = `${base}${n}`;
    this.taken.add(name);
    return name;
  }

  private nameOf(type: ts.Type): string | undefined {
    return this.names.get(type) ?? (type.isUnion() ? this.unionNames.get(this.unionKey(type)) : undefined);
  }

  private unionKey(type: ts.UnionType): string {
    return type.types.map((member) => this.idOf(member)).join(',');
  }

  private idOf(type: ts.Type): number {
    let id = this.ids.get(type);
    if (id === undefined) this.ids.set(type, (id = this.ids.size + 1));
    return id;
  }

  private write(type: ts.Type, { byName = true } = {}): string {
    if (byName) {
      const known = this.nameOf(type);
      if (known) return known;
    }
    const flags = type.flags;
    if (flags & ts.TypeFlags.Boolean) return 'boolean';
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown | ts.TypeFlags.String | ts.TypeFlags.Number | ts.TypeFlags.BigInt | ts.TypeFlags.Void | ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Never | ts.TypeFlags.ESSymbol | ts.TypeFlags.NonPrimitive)) {
      return this.checker.typeToString(type);
    }
    if (type.isStringLiteral()) return JSON.stringify(type.value);
    if (type.isNumberLiteral()) return String(type.value);
    if (flags & (ts.TypeFlags.BooleanLiteral | ts.TypeFlags.BigIntLiteral)) return this.checker.typeToString(type);
    if (flags & ts.TypeFlags.TemplateLiteral) {
      const template = type as ts.TemplateLiteralType;
      return `\`${template.texts.map((text, i) => escapeTemplate(text) + (i < template.types.length ? `\${${this.write(template.types[i]!)}}` : '')).join('')}\``;
    }
    if (type.isUnion()) return this.union(type);
    if (type.isIntersection()) {
      if (type.types.every((member) => member.flags & ts.TypeFlags.Object)) return this.object(type, byName);
      return type.types.map((member) => this.operand(member)).join(' & ');
    }
    if (flags & ts.TypeFlags.Object) return this.object(type as ts.ObjectType, byName);
    return this.fail(`a type TypeScript calls ${this.checker.typeToString(type)} (flags ${flags})`);
  }

  private union(type: ts.UnionType): string {
    let members = type.types.map((member) => this.operand(member));
    // Inside a union, `boolean` is its two literals.
    if (members.includes('false') && members.includes('true')) members = [...new Set(members.map((m) => (m === 'false' || m === 'true' ? 'boolean' : m)))];
    // `string | null | undefined` as people write it, not in TypeScript's order of creation.
    const last = ['null', 'undefined'];
    return [...members.filter((m) => !last.includes(m)), ...last.filter((m) => members.includes(m))].join(' | ');
  }

  /** A member of a union or an intersection, in parentheses where it would bind the wrong way. */
  private operand(type: ts.Type): string {
    const text = this.write(type);
    return type.isUnion() || type.isIntersection() ? (this.nameOf(type) ? text : `(${text})`) : text;
  }

  private object(type: ts.Type, byName: boolean): string {
    const checker = this.checker;
    if (checker.isArrayType(type) || checker.isTupleType(type)) return this.arrayLike(type as ts.TypeReference);
    const library = this.libraryName(type);
    if (library) return library;
    if (checker.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0 || checker.getSignaturesOfType(type, ts.SignatureKind.Construct).length > 0) {
      this.fail(`a function (${checker.typeToString(type)}); inputs and outputs travel as JSON`);
    }
    const wanted = byName ? this.declaredName(type) : undefined;
    if (this.inProgress.has(type)) {
      // Recursion through an anonymous type: it gets a name of its own.
      return this.nameOf(type) ?? this.reserveName(type, 'Recursive');
    }
    if (wanted) this.reserveName(type, wanted);
    this.inProgress.add(type);
    const body = this.members(type);
    this.inProgress.delete(type);
    const name = this.nameOf(type);
    // An exported type is declared by its export; any other name (recursion included) by its own declaration.
    if (name && !this.exportedNames.has(name)) this.declare(name, body, type);
    return name && byName ? name : body;
  }

  private reserveName(type: ts.Type, wanted: string): string {
    const name = this.freeName(wanted);
    this.names.set(type, name);
    return name;
  }

  /** The name of an interface, or of a type alias without type arguments; undefined for anonymous types. */
  private declaredName(type: ts.Type): string | undefined {
    if (type.aliasSymbol && !type.aliasTypeArguments?.length) return type.aliasSymbol.name;
    const symbol = type.getSymbol();
    const generic = (type as ts.TypeReference).typeArguments?.length;
    if (symbol && symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class) && !generic) return symbol.name;
    return undefined;
  }

  /** A type of the standard library (Date, Map…) by its name: every program has it. */
  private libraryName(type: ts.Type): string | undefined {
    const symbol = type.getSymbol();
    const declarations = symbol?.getDeclarations() ?? [];
    if (!symbol || declarations.length === 0 || symbol.flags & ts.SymbolFlags.TypeLiteral) return undefined;
    if (!declarations.some((d) => this.program.isSourceFileDefaultLibrary(d.getSourceFile()))) return undefined;
    const args = (type as ts.TypeReference).typeArguments ?? [];
    return args.length ? `${symbol.name}<${args.map((arg) => this.write(arg)).join(', ')}>` : symbol.name;
  }

  private arrayLike(type: ts.TypeReference): string {
    const checker = this.checker;
    const args = checker.getTypeArguments(type);
    if (checker.isArrayType(type)) {
      const readonly = type.target.getSymbol()?.name === 'ReadonlyArray' ? 'readonly ' : '';
      return `${readonly}${this.postfixed(args[0]!)}[]`;
    }
    const tuple = type.target as ts.TupleType;
    const elements = args.map((arg, i) => {
      const flag = tuple.elementFlags[i]!;
      if (flag & ts.ElementFlags.Variable) return `...${this.postfixed(arg)}[]`;
      return flag & ts.ElementFlags.Optional ? `${this.postfixed(arg)}?` : this.write(arg);
    });
    return `${tuple.readonly ? 'readonly ' : ''}[${elements.join(', ')}]`;
  }

  /** A type before `[]` or `?`: a union or intersection written out goes in parentheses. */
  private postfixed(type: ts.Type): string {
    const text = this.write(type);
    return (type.isUnion() || type.isIntersection()) && !this.nameOf(type) ? `(${text})` : text;
  }

  private members(type: ts.Type): string {
    const checker = this.checker;
    const lines: string[] = [];
    for (const info of checker.getIndexInfosOfType(type)) {
      lines.push(`  ${info.isReadonly ? 'readonly ' : ''}[key: ${this.write(info.keyType)}]: ${this.write(info.type)};`);
    }
    for (const symbol of checker.getPropertiesOfType(type)) {
      // A unique-symbol key (a zod brand, say) has no name to write; a client never sends or reads it.
      if (symbol.name.startsWith('__@')) continue;
      this.path.push(symbol.name);
      const optional = symbol.flags & ts.SymbolFlags.Optional ? '?' : '';
      const text = this.write(checker.getTypeOfSymbol(symbol));
      this.path.pop();
      lines.push(`${docsOf(symbol, checker)('  ')}  ${propertyName(symbol.name)}${optional}: ${text};`);
    }
    return lines.length ? `{\n${lines.join('\n')}\n}` : '{}';
  }
}

function propertyName(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

/** Indents by braces: the writer nests type literals without knowing how deep they end up. */
function reindent(text: string): string {
  let depth = 0;
  return text
    .split('\n')
    .map((line) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('}')) depth = Math.max(0, depth - 1);
      const extra = trimmed.startsWith('*') ? ' ' : trimmed.startsWith('| ') ? '  ' : '';
      const out = trimmed ? `${'  '.repeat(depth)}${extra}${trimmed}` : '';
      if (trimmed.endsWith('{')) depth++;
      return out;
    })
    .join('\n');
}

function escapeTemplate(text: string): string {
  return text.replace(/[`\\]|\$\{/g, (m) => `\\${m}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = buildClient();
  console.log(`@palisade/client: ${result.files.join(', ')} in ${result.outDir} (${result.ms} ms)`);
}

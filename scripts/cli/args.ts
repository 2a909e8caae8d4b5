/** Parsing one command's flags (node:util parseArgs, strict) into typed accessors. */
import { parseArgs } from 'node:util';
import { InputError, UsageError } from './errors.js';

/** One flag of a command: how it parses, and how --help shows it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Shown in --help after the flag, e.g. `<email>`. */
  placeholder?: string;
  description: string;
}

/** What parsing needs of a command (command.ts's `Command` has these). */
export interface ArgsSpec {
  options?: Record<string, OptionSpec>;
  /** Positional arguments, e.g. `['<slug|id>']`; all required. */
  positionals?: string[];
}

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean', description: 'machine-readable JSON on stdout' },
  help: { type: 'boolean', description: 'show this help' },
} as const;

export class Args {
  constructor(
    private readonly values: Record<string, string | boolean | undefined>,
    readonly positionals: string[],
  ) {}

  get json(): boolean {
    return this.values.json === true;
  }

  /** A string flag, or undefined when absent. */
  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** A flag the command cannot run without: its absence is a usage error. */
  required(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`missing --${name}`);
    return value;
  }

  /** An integer flag; a value that is not a number is bad input (the service checks the range). */
  integer(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value.trim())) throw new InputError(`--${name}: expected a whole number, got "${value}"`);
    return Number(value);
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  positional(index: number): string {
    const value = this.positionals[index];
    if (value === undefined) throw new UsageError(`missing argument ${index + 1}`);
    return value;
  }
}

/** Parses `argv` (everything after the command's name) against the command's options. */
export function parseCommandArgs(command: ArgsSpec, argv: string[]): Args {
  const options = Object.fromEntries(
    Object.entries({ ...COMMON_OPTIONS, ...command.options }).map(([name, spec]) => [name, { type: spec.type }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Keep node's first sentence ("Unknown option '--nme'"); the rest is advice about `--`.
    const text = error instanceof Error ? error.message : String(error);
    throw new UsageError(text.split(/\.\s|\n/)[0]!.replace(/\.$/, ''));
  }
  const args = new Args(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  if (args.flag('help')) return args;
  const expected = command.positionals ?? [];
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`missing ${expected.slice(parsed.positionals.length).join(' ')}`);
  }
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`unexpected argument "${parsed.positionals[expected.length]}"`);
  }
  return args;
}

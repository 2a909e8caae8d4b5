/**
 * What one CLI command is: its synopsis and options (for parsing and --help) and a function from
 * parsed arguments to output. The dispatcher (scripts/cli.ts) does everything else: parsing,
 * --help, --json, opening the database, and turning failures into one line and an exit code.
 */
import type { CliContext } from './context.js';
import type { Args, ArgsSpec } from './args.js';

export interface Output {
  /** What `--json` prints (as JSON on stdout). */
  json: unknown;
  /** What is printed otherwise: tables and labelled values, ending with a newline. */
  text: string;
}

export interface Command extends ArgsSpec {
  /** `tenant create` */
  name: string;
  summary: string;
  /** Arguments after the name for the usage line: `--name <name> [--slug <slug>]`. */
  synopsis: string;
  examples?: string[];
  /**
   * How a field of a validation error is named to the operator: the API's input field `keyId`
   * is the positional `<keyId>` here, `gracePeriodDays` is `--grace-days`. Default: `--kebab-case`.
   */
  fields?: Record<string, string>;
  run(ctx: CliContext, args: Args): Promise<Output>;
}

export interface CommandGroup {
  name: string;
  summary: string;
  commands: Command[];
}

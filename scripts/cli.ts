/**
 * `palisade <tenant|key|user|admin-key> <action> [options]` and `palisade seed [options]`: the
 * operator CLI (scripts/palisade.mjs sends `palisade audit` to scripts/audit.ts and everything
 * else here).
 *
 * Each command parses its flags, validates them with the API's own zod inputs and calls the same
 * service functions the server does, as the database owner. Output is an aligned table or labelled
 * values, or JSON with --json. A failure is one line on stderr, `palisade: <reason>`, and exit 1
 * (refused or invalid) or 2 (usage, database unreachable).
 */
import { COMMON_OPTIONS, parseCommandArgs } from './cli/args.js';
import type { Command, CommandGroup } from './cli/command.js';
import { openContext } from './cli/context.js';
import { describeFailure, UsageError } from './cli/errors.js';
import { adminKeyCommands } from './cli/admin-key-commands.js';
import { citusCommands } from './cli/citus-commands.js';
import { keyCommands } from './cli/key-commands.js';
import { seedCommands } from './cli/seed-commands.js';
import { tenantCommands } from './cli/tenant-commands.js';
import { userCommands } from './cli/user-commands.js';

const GROUPS: CommandGroup[] = [tenantCommands, keyCommands, userCommands, adminKeyCommands, seedCommands, citusCommands];
const SYNOPSIS = `palisade <${[...GROUPS.map((g) => g.name), 'audit'].join('|')}> <action> [options]`;

function mainHelp(): string {
  const lines = GROUPS.flatMap((g) => g.commands.map((c) => `  ${c.name.padEnd(20)} ${c.summary}`));
  return [
    `usage: ${SYNOPSIS}`,
    '',
    'Commands:',
    ...lines,
    `  ${'audit'.padEnd(20)} audit the database's isolation (palisade audit --help)`,
    '',
    'Every command takes --json (machine-readable output) and --help.',
    'Connects as the database owner: DATABASE_URL, or the embedded Postgres under PALISADE_DATA_DIR.',
    'Exit codes: 0 done, 1 refused or invalid input, 2 usage error or database unreachable.',
    '',
  ].join('\n');
}

/** A group that is one command named like the group (`palisade seed --tenants …`) takes no action word. */
const soleCommand = (group: CommandGroup): Command | undefined =>
  group.commands.length === 1 && group.commands[0]!.name === group.name ? group.commands[0] : undefined;

function groupHelp(group: CommandGroup): string {
  const lines = group.commands.map((c) => `  palisade ${c.name} ${c.synopsis}`.trimEnd() + `\n      ${c.summary}`);
  return [`usage: palisade ${group.name} <${group.commands.map((c) => c.name.split(' ')[1]).join('|')}> [options]`, '', ...lines, ''].join('\n');
}

function commandHelp(command: Command): string {
  const options = Object.entries({ ...command.options, ...COMMON_OPTIONS }).map(([name, spec]) => {
    const flag = `--${name}${'placeholder' in spec && spec.placeholder ? ` ${spec.placeholder}` : ''}`;
    return `  ${flag.padEnd(28)} ${spec.description}`;
  });
  const examples = command.examples?.length ? ['', 'Examples:', ...command.examples.map((e) => `  ${e}`)] : [];
  return [`usage: palisade ${command.name} ${command.synopsis}`.trimEnd(), '', command.summary, '', 'Options:', ...options, ...examples, ''].join('\n');
}

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';

/** Runs one command line; returns the exit code. Everything printed goes through `out`/`err`. */
async function run(argv: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let command: Command | undefined;
  try {
    const [groupName, action, ...rest] = argv;
    if (groupName === undefined || isHelp(groupName)) {
      out(mainHelp());
      return 0;
    }
    const group = GROUPS.find((g) => g.name === groupName);
    if (!group) throw new UsageError(`unknown command "${groupName}"; usage: ${SYNOPSIS} (palisade --help lists the commands)`);
    const sole = soleCommand(group);
    if (!sole && isHelp(action)) {
      out(groupHelp(group));
      return 0;
    }
    command = sole ?? group.commands.find((c) => c.name === `${group.name} ${action}`);
    if (!command) {
      const actions = group.commands.map((c) => c.name.split(' ')[1]).join('|');
      throw new UsageError(`${action === undefined ? 'missing action' : `unknown action "${action}"`}; usage: palisade ${group.name} <${actions}> (palisade ${group.name} --help)`);
    }
    const args = parseCommandArgs(command, sole ? argv.slice(1) : rest);
    if (args.flag('help')) {
      out(commandHelp(command));
      return 0;
    }
    const { ctx, close } = await openContext();
    try {
      const output = await command.run(ctx, args);
      out(args.json ? `${JSON.stringify(output.json, null, 2)}\n` : output.text);
      return 0;
    } finally {
      await close();
    }
  } catch (error) {
    const failure = describeFailure(error, command?.fields);
    const hint = error instanceof UsageError && command ? ` (usage: palisade ${command.name} ${command.synopsis})` : '';
    err(`${failure.line}${hint}\n`);
    return failure.exitCode;
  }
}

const code = await run(
  process.argv.slice(2),
  (text) => process.stdout.write(text),
  (text) => process.stderr.write(text),
);
// Wait for stdout to drain (a piped export can be large) before exiting.
process.stdout.write('', () => process.exit(code));

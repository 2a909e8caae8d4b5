#!/usr/bin/env node
// The `palisade` command (package.json "bin"): `palisade audit [--json] [--app-role <role>]`.
// Plain JS so it runs without a build; it loads the TypeScript commands through tsx.
import { register } from 'tsx/esm/api';

const commands = { audit: './audit.ts' };
const [command] = process.argv.splice(2, 1);
if (!command || !(command in commands)) {
  process.stderr.write(`usage: palisade <${Object.keys(commands).join('|')}> [options]\n`);
  process.exit(command ? 2 : 0);
}
register();
await import(commands[command]);

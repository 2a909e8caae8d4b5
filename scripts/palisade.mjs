#!/usr/bin/env node
// The `palisade` command (package.json "bin", `npm run palisade -- …`): `palisade audit …` runs the
// isolation audit (scripts/audit.ts); every other command (tenant, key, user, admin-key, help) is
// scripts/cli.ts. Plain JS so it runs without a build; it loads the TypeScript through tsx.
import { register } from 'tsx/esm/api';

register();
if (process.argv[2] === 'audit') {
  process.argv.splice(2, 1);
  await import('./audit.ts');
} else {
  await import('./cli.ts');
}

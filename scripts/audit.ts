/**
 * `npm run audit [-- --json] [--app-role <role>] [--no-probes] [--replica <url>]`
 *
 * Audits the database at DATABASE_URL (owner or superuser credentials), or, without it, the
 * embedded one under PALISADE_DATA_DIR (started, and migrated if new). With `--replica <url>` (the
 * owner or a superuser on a read replica) it audits the replica instead: catalog rules and policy
 * drift (the migrations' policies replayed on DATABASE_URL, the primary), the probes skipped with
 * a warning (a replica accepts no writes). Prints the findings and exits 1 when any is an error,
 * 0 otherwise (2 when the audit itself could not run).
 */
import { parseArgs } from 'node:util';
import { openPool } from '../db/client.js';
import { APP_ROLE } from '../db/roles.js';
import { formatFindings, hasErrors } from '../src/audit/findings.js';
import { runAudit } from '../src/audit/run-audit.js';
import { loadConfig } from '../src/config.js';
import { prepareDatabase, type PreparedDatabase } from '../src/database.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'app-role': { type: 'string', default: APP_ROLE },
    'no-probes': { type: 'boolean', default: false },
    replica: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: npm run audit -- [--json] [--app-role <role>] [--no-probes] [--replica <url>]\n');
  process.exit(0);
}

async function main(): Promise<number> {
  const config = loadConfig();
  // An operator's database is audited as it is; only the embedded one is started (and migrated).
  const embedded: PreparedDatabase | undefined = config.databaseUrl ? undefined : await prepareDatabase(config);
  const sql = openPool(config.databaseUrl ?? embedded!.ownerUrl, { max: 2, applicationName: 'palisade-audit' });
  const replica = values.replica ? openPool(values.replica, { max: 2, applicationName: 'palisade-audit' }) : undefined;
  try {
    const options = { appRole: values['app-role'], probes: !values['no-probes'] };
    const findings = replica ? await runAudit(replica, { ...options, scratch: sql }) : await runAudit(sql, options);
    process.stdout.write(values.json ? `${JSON.stringify({ findings }, null, 2)}\n` : formatFindings(findings));
    return hasErrors(findings) ? 1 : 0;
  } finally {
    await replica?.end();
    await sql.end();
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`audit could not run: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);

/**
 * The bench's database on a Citus cluster (`--citus <url>`, the coordinator's superuser URL):
 * prepared as the Citus suites prepare theirs (test/citus-database.ts: owner, migrations, logins,
 * `palisade citus distribute`; the same role passwords, so suites on the same cluster keep their
 * logins), plus the BYPASSRLS role that runs the limit. The URL's own database is used: the seed's
 * tenants sit next to whatever else is there, counted apart.
 */
import { openPool } from '../../db/client.js';
import { withLogin } from '../../src/database.js';
import { prepareCitusDatabase } from '../../test/citus-database.js';
import { BYPASS_ROLE, createBypassRole, disableBypassLogin, loadSecrets, type BenchDatabase } from './prepare.js';

export async function prepareCitusBenchDatabase(superuserUrl: string, dataDir: string, log: (line: string) => void): Promise<BenchDatabase> {
  log(`preparing the Citus database at ${new URL(superuserUrl).host}${new URL(superuserUrl).pathname}…`);
  const { ownerUrl, appUrl, platformUrl } = await prepareCitusDatabase(superuserUrl);
  const { bypassPassword } = loadSecrets(dataDir);
  // Roles, their attributes and grants propagate to the workers.
  const su = openPool(superuserUrl, { max: 1, applicationName: 'palisade-bench' });
  try {
    await createBypassRole(su, bypassPassword);
  } finally {
    await su.end();
  }
  return {
    kind: 'citus',
    superuserUrl,
    ownerUrl,
    appUrl,
    platformUrl,
    bypassUrl: withLogin(ownerUrl, BYPASS_ROLE, bypassPassword),
    stop: () => disableBypassLogin(superuserUrl),
  };
}

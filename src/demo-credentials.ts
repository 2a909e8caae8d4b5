/**
 * The demo's credentials file, `<PALISADE_DATA_DIR>/credentials.json` (mode 0600): written on the
 * first run (the only time the keys exist in clear), refreshed with the current URLs afterwards.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openPool } from '../db/client.js';
import { seedDemo, type DemoCredentials } from './modules/demo/demo-seed.js';

export interface CredentialsFile extends DemoCredentials {
  url: string;
  databaseUrl: string;
  appDatabaseUrl: string;
}

export function credentialsPath(dataDir: string): string {
  return path.join(dataDir, 'credentials.json');
}

/**
 * Seeds the demo when the database has no tenant yet. Returns the credentials to print, or
 * undefined when the database was seeded before and its keys are no longer known.
 */
export async function ensureDemo(
  dataDir: string,
  urls: { url: string; databaseUrl: string; appDatabaseUrl: string },
): Promise<CredentialsFile | undefined> {
  const file = credentialsPath(dataDir);
  const owner = openPool(urls.databaseUrl, { max: 2 });
  let demo: DemoCredentials | undefined;
  try {
    const [row] = await owner<{ n: number }[]>`select count(*)::int as n from tenants`;
    if (row?.n === 0) demo = await seedDemo(owner);
  } finally {
    await owner.end();
  }
  if (!demo) {
    try {
      demo = JSON.parse(fs.readFileSync(file, 'utf8')) as CredentialsFile;
    } catch {
      return undefined;
    }
  }
  const credentials: CredentialsFile = { ...urls, tenants: demo.tenants, adminKey: demo.adminKey };
  fs.writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return credentials;
}

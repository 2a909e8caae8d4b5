/**
 * `npx drizzle-kit migrate` (what operators run) and the server's own migrator (what `npm start`
 * runs) must build the same schema, and the committed migrations must match db/schema.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaFingerprint } from '../db/catalog.js';
import { openPool, type Sql } from '../db/client.js';
import { MIGRATIONS_FOLDER, runMigrations } from '../db/migrate.js';
import { OWNER_ROLE } from '../db/roles.js';
import { pg } from './harness.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const drizzleKit = path.join(root, 'node_modules', '.bin', 'drizzle-kit');

let maintenance: Sql;
const databases = [`${pg.database}_kit`, `${pg.database}_srv`];
const ownerUrlFor = (database: string) => {
  const u = new URL(pg.ownerUrl);
  u.pathname = `/${database}`;
  return u.toString();
};

beforeAll(async () => {
  maintenance = openPool(pg.maintenanceUrl, { max: 1 });
  for (const db of databases) await maintenance.unsafe(`create database ${db} owner ${OWNER_ROLE}`);
});
afterAll(async () => {
  for (const db of databases) await maintenance.unsafe(`drop database if exists ${db} with (force)`);
  await maintenance.end();
});

describe('migrations', () => {
  it('drizzle-kit migrate and the server migrator build identical schemas', async () => {
    const [kitDb, srvDb] = databases as [string, string];
    await run(drizzleKit, ['migrate'], { cwd: root, env: { ...process.env, DATABASE_URL: ownerUrlFor(kitDb) } });
    await runMigrations(ownerUrlFor(srvDb));
    const fingerprint = async (db: string) => {
      const sql = openPool(ownerUrlFor(db), { max: 1 });
      try {
        const journal = await sql`select hash, created_at from drizzle.__drizzle_migrations order by id`;
        return { ...(await schemaFingerprint(sql)), journal: journal.map((r) => ({ ...r })) };
      } finally {
        await sql.end();
      }
    };
    const [kit, srv] = [await fingerprint(kitDb), await fingerprint(srvDb)];
    expect(kit.policies.length).toBeGreaterThan(0);
    expect(kit.journal.length).toBe(fs.readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).length);
    expect(srv).toEqual(kit);
  });

  it('are in sync with db/schema (drizzle-kit generate finds nothing to add)', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-generate-'));
    try {
      fs.cpSync(MIGRATIONS_FOLDER, out, { recursive: true });
      const config = path.join(root, `.drizzle-check-${process.pid}.config.ts`);
      fs.writeFileSync(
        config,
        `export default { dialect: 'postgresql', casing: 'snake_case', schema: './db/schema/index.ts', out: ${JSON.stringify(path.relative(root, out))} };\n`,
      );
      try {
        // drizzle-kit exits 0 even on errors, so the message is what tells.
        const { stdout, stderr } = await run(drizzleKit, ['generate', `--config=${config}`], { cwd: root });
        expect(stdout + stderr).toContain('No schema changes');
      } finally {
        fs.rmSync(config, { force: true });
      }
      expect(fs.readdirSync(out).sort()).toEqual(fs.readdirSync(MIGRATIONS_FOLDER).sort());
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

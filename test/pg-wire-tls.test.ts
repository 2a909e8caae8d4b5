/**
 * The reader's wire connection over TLS (db/pg-wire.ts), as managed Postgres services require:
 * a Postgres of its own (embedded, with a self-signed certificate made by openssl) so the test
 * does not depend on how the shared test server is configured. `sslmode` means what it means to
 * libpq and postgres.js: require encrypts, disable does not, verify-full refuses a certificate it
 * cannot verify instead of falling back.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool } from '../db/client.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.js';
import { bind, execute, MSG, parse, readDataRow, sync, WireConnection, Writer } from '../db/pg-wire.js';

let dir: string;
let server: EmbeddedPostgres;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-tls-'));
  server = await startEmbeddedPostgres(dir);
  const pgdata = path.join(dir, 'pg');
  const { uid, gid } = fs.statSync(pgdata);
  const key = path.join(pgdata, 'server.key');
  const crt = path.join(pgdata, 'server.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', crt], { stdio: 'ignore' });
  for (const file of [key, crt]) fs.chownSync(file, uid, gid);
  fs.chmodSync(key, 0o600);
  const su = openPool(server.superuserUrl('postgres'), { max: 1 });
  try {
    await su`alter system set ssl = on`;
    await su`select pg_reload_conf()`;
  } finally {
    await su.end();
  }
}, 120_000);

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Whether this connection's own backend is encrypted, asked over the wire connection itself. */
async function encrypted(sslmode: string): Promise<boolean> {
  const url = new URL(server.superuserUrl('postgres'));
  url.searchParams.set('sslmode', sslmode);
  const conn = new WireConnection(url.toString(), { applicationName: 'palisade-test-tls' });
  try {
    const w = new Writer();
    execute(bind(parse(w, '', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', []), '', []));
    let value: string | null | undefined;
    await conn.request(sync(w).bytes(), (type, body) => {
      if (type === MSG.dataRow) value = readDataRow(body)[0];
    });
    return value === 't';
  } finally {
    await conn.end();
  }
}

describe('wire connection over TLS', () => {
  it('encrypts with sslmode=require (and prefer), not with disable', async () => {
    expect(await encrypted('require')).toBe(true);
    expect(await encrypted('prefer')).toBe(true);
    expect(await encrypted('disable')).toBe(false);
  });

  it('refuses a certificate it cannot verify with verify-full, rather than connecting anyway', async () => {
    await expect(encrypted('verify-full')).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', message: expect.stringMatching(/self.signed|certificate/i) });
  });
});

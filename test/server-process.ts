/**
 * The server as users run it, in a child process: `npm start`'s node flags and compiled entry
 * point (build it first with `buildServer`). Shared by the process tests on Postgres and on Citus.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { startNodeArgs } from '../scripts/start-command.js';
import type { CredentialsFile } from '../src/demo-credentials.js';

export const root = path.resolve(import.meta.dirname, '..');
// The command line `npm start` ends in: its node flags and compiled entry point.
const { flags, entry } = startNodeArgs();

/** What `npm start` does before it runs the entry point. */
export function buildServer(): void {
  execFileSync('npm', ['run', 'build:server', '--silent'], { cwd: root, stdio: 'inherit' });
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startServerProcess(env: Record<string, string>): Running {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'APP_DATABASE_URL', 'PLATFORM_DATABASE_URL', 'PORT', 'SEED_DEMO'].includes(k)),
  );
  const child = spawn(process.execPath, [...flags, entry], { cwd: root, env: { ...base, PORT: '0', ...env } });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The URL the server printed, once its banner is complete. */
export async function listening(server: Running, timeoutMs = 60_000): Promise<string> {
  const started = Date.now();
  for (;;) {
    const match = /Palisade is listening on (http:\/\/\S+)/.exec(server.stdout());
    if (match?.[1] && server.stdout().includes('\n\n', match.index)) return match[1];
    if (server.child.exitCode !== null) throw new Error(`server exited early:\n${server.stderr()}`);
    if (Date.now() - started > timeoutMs) throw new Error(`server did not start:\n${server.stdout()}\n${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stop(server: Running): Promise<number | null> {
  server.child.kill('SIGTERM');
  return server.exited;
}

/** The must-show: each demo tenant's key lists its own orders, and only those. Orders per slug. */
export async function ordersSeenByEachDemoTenant(url: string, credentials: CredentialsFile): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const t of credentials.tenants) {
    const res = await fetch(`${url}/trpc/orders.list?input=${encodeURIComponent('{"limit":500}')}`, {
      headers: { authorization: `Bearer ${t.apiKey}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: { items: { tenantId: string }[] } } };
    expect(body.result.data.items.length).toBeGreaterThan(0);
    expect(new Set(body.result.data.items.map((i) => i.tenantId))).toEqual(new Set([t.id]));
    counts.set(t.slug, body.result.data.items.length);
  }
  return counts;
}

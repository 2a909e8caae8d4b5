/**
 * The dashboard's files at `/` (src/http/web-assets.ts): served from the build with an SPA
 * fallback for HTML navigations, never in place of an API route, and a clear page when the build
 * is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/deps.js';
import { appPool, appReader, platformPool, TEST_CONFIG } from './harness.js';

const pool = appPool(1);
const reader = appReader(1);
const platform = platformPool(1);
const built = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-web-'));
fs.mkdirSync(path.join(built, 'assets'));
fs.writeFileSync(path.join(built, 'index.html'), '<!doctype html><title>Palisade dashboard</title><div id="app"></div>');
fs.writeFileSync(path.join(built, 'assets', 'app.js'), 'console.log("dashboard")');

afterAll(async () => {
  fs.rmSync(built, { recursive: true, force: true });
  await Promise.all([pool.end(), reader.end(), platform.end()]);
});

const appWith = (webRoot: string | false) => createApp(buildDeps(TEST_CONFIG, { pool, platformPool: platform }, { reader, webRoot }).deps);
const html = { accept: 'text/html,application/xhtml+xml' };

describe('dashboard assets', () => {
  const app = appWith(built);

  it('serves index.html at / and the built files by path', async () => {
    const index = await app.request('/', { headers: html });
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('Palisade dashboard');
    const script = await app.request('/assets/app.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  });

  it('answers the dashboard’s own paths with index.html when the browser asks for HTML', async () => {
    for (const p of ['/keys', '/explore', '/admin']) {
      const res = await app.request(p, { headers: html });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toContain('<div id="app">');
    }
    // A missing file that is not a navigation stays a 404.
    expect((await app.request('/assets/missing.js')).status).toBe(404);
  });

  it('never shadows an API path: the REST 404 envelope and the probes are unchanged', async () => {
    for (const p of ['/metrics/x', '/healthz/x', '/readyz/x']) {
      const res = await app.request(p, { headers: html });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; reason: string } };
      expect(body.error).toMatchObject({ code: 'NOT_FOUND', reason: 'ROUTE_NOT_FOUND' });
    }
    // /v1 and /trpc answer for themselves (here: no credential), in JSON, never with the page.
    for (const p of ['/v1/nope', '/trpc/nope']) {
      const res = await app.request(p, { headers: html });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('content-type')).toMatch(/json/);
    }
    expect(await (await app.request('/healthz', { headers: html })).json()).toEqual({ status: 'ok' });
    expect((await app.request('/trpc/auth.whoami', { headers: html })).status).toBe(401);
  });

  it('says how to build the dashboard when it has not been built', async () => {
    const res = await appWith(path.join(built, 'not-there')).request('/', { headers: html });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:web');
    // API clients asking for JSON keep getting the JSON envelope.
    expect((await appWith(path.join(built, 'not-there')).request('/anything')).status).toBe(404);
  });

  it('can be turned off', async () => {
    expect((await appWith(false).request('/', { headers: html })).status).toBe(404);
  });
});

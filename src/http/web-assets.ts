/**
 * The dashboard's built files (dist/web, made by `npm run build:web`, which `npm install` runs)
 * at `/`. API paths are never served from here: they fall through to the REST 404 envelope. An
 * unknown non-API GET that accepts HTML gets index.html, so the dashboard's own paths (/keys, …)
 * survive a reload. Without a build, such a request gets a page saying how to make one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import type { MiddlewareHandler } from 'hono';

const API_PREFIXES = ['/trpc', '/v1', '/odata', '/metrics', '/healthz', '/readyz'];

export function isApiPath(p: string): boolean {
  return API_PREFIXES.some((prefix) => p === prefix || p.startsWith(`${prefix}/`));
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Palisade</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">
<h1>The dashboard is not built</h1>
<p>Run <code>npm run build:web</code> (or <code>npm install</code>, which builds it), then reload this page.
The API itself is up: <code>/trpc</code>, <code>/v1</code>, <code>/healthz</code>.</p></body></html>`;

export function webAssets(root: string): MiddlewareHandler {
  const index = path.join(root, 'index.html');
  // Created on first use, once the build exists: serveStatic complains about a missing root.
  let files: MiddlewareHandler | undefined;
  return async (c, next) => {
    if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || isApiPath(c.req.path)) return next();
    const built = fs.existsSync(index);
    if (built) {
      files ??= serveStatic({ root });
      const response = await files(c, async () => undefined);
      if (response) return response;
    }
    if (!(c.req.header('accept') ?? '').includes('text/html')) return next();
    if (!built) return c.html(NOT_BUILT, 503);
    c.header('Cache-Control', 'no-cache');
    return c.html(await fs.promises.readFile(index, 'utf8'));
  };
}

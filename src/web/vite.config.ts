/**
 * The dashboard's build: root src/web, output dist/web (served by the API server at `/`).
 * Preact through oxc's automatic JSX runtime; no plugin needed.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export const WEB_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const WEB_OUT_DIR = fileURLToPath(new URL('../../dist/web', import.meta.url));

export default defineConfig({
  root: WEB_ROOT,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: WEB_OUT_DIR, emptyOutDir: true, target: 'es2022', reportCompressedSize: true },
  // `vite --config src/web/vite.config.ts`: hot reload against a running server (PALISADE_URL).
  server: {
    proxy: Object.fromEntries(['/trpc', '/v1'].map((path) => [path, process.env.PALISADE_URL ?? 'http://localhost:3000'])),
  },
});

/**
 * What the browser suites share: the built dashboard (built with Vite's JS API when dist/web is
 * missing or older than src/web), Chromium driven by playwright-core, and screenshots under
 * test/artifacts/screenshots/. The browser is the one shipped inside the `@sparticuz/chromium` npm
 * package (unpacked to /tmp on first use), so `npm test` needs nothing from the system's packages;
 * CHROMIUM_PATH points the suite at another Chromium.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = path.join(root, 'test', 'artifacts', 'screenshots');
const WEB_SRC = path.join(root, 'src', 'web');
const WEB_INDEX = path.join(root, 'dist', 'web', 'index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/web unless it is there and newer than every file of src/web. */
export async function ensureWebBuild(): Promise<void> {
  if (fs.existsSync(WEB_INDEX) && fs.statSync(WEB_INDEX).mtimeMs >= newestMtime(WEB_SRC)) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(WEB_SRC, 'vite.config.ts'), logLevel: 'warn' });
}

/** Flags for a headless Chromium on a machine with no network beyond loopback and no GPU. */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** CHROMIUM_PATH when set (a missing file is a failure with the fix, never a skip), else the npm package's binary. */
async function chromiumExecutable(): Promise<string> {
  const override = process.env.CHROMIUM_PATH;
  if (override) {
    if (!fs.existsSync(override)) throw new Error(`No Chromium at CHROMIUM_PATH=${override}: point it at a Chromium binary, or unset it to use the one from @sparticuz/chromium.`);
    return override;
  }
  const { default: packaged } = await import('@sparticuz/chromium');
  return packaged.executablePath();
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumExecutable(), headless: true, args: ARGS });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * What the browser suites share: the built dashboard (built with Vite's JS API when dist/web is
 * missing or older than src/web), Debian's Chromium driven by playwright-core, and screenshots
 * under test/artifacts/screenshots/.
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

/** Chromium from CHROMIUM_PATH or Debian's package; missing is a failure with the fix, never a skip. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`No Chromium at ${executablePath}: install Chromium (apt-get install -y chromium), or set CHROMIUM_PATH to a Chromium binary.`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

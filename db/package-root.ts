/**
 * Files that ship beside the code (migrations, catalog.yaml, the built dashboard) are found from
 * the package root, not from the module's own path: the same module runs from source (tsx,
 * tests) and from the build under dist/server/, one level deeper.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the package, e.g. `fromPackageRoot('db', 'migrations')`. */
export function fromPackageRoot(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}

/**
 * The node command line `npm start` runs the server with, read from package.json's `start` script,
 * so the bench and the server-process test start the server exactly as users do (the V8 heap
 * flags there bound RSS under load: README, performance) rather than keeping a second copy.
 */
import fs from 'node:fs';
import { fromPackageRoot } from '../db/package-root.js';

const START = /(?:^|&&)\s*node((?:\s+--[\w-]+(?:=\S+)?)*)\s+(dist\/\S+\.js)\s*$/;

/** `npm start`'s arguments to node: its flags, then the compiled entry point as an absolute path. */
export function startNodeArgs(start = readStartScript()): { flags: string[]; entry: string } {
  const match = START.exec(start);
  if (!match) throw new Error(`package.json's start script does not end in "node [--flags] dist/….js": ${start}`);
  return { flags: match[1]!.trim().split(/\s+/).filter(Boolean), entry: fromPackageRoot(...match[2]!.split('/')) };
}

function readStartScript(): string {
  const pkg = JSON.parse(fs.readFileSync(fromPackageRoot('package.json'), 'utf8')) as { scripts?: { start?: string } };
  if (!pkg.scripts?.start) throw new Error('package.json has no start script');
  return pkg.scripts.start;
}

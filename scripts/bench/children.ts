/**
 * Child processes the bench started, so every exit path (done, error, Ctrl-C) stops exactly those.
 * The server under test runs as `npm start` runs it, compiled (dist/server, no loader thread);
 * the load generator runs its TypeScript through tsx. Either way the pid we hold is the process
 * doing the work (its RSS is the server's), not a wrapper.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fromPackageRoot } from '../../db/package-root.js';
import { startNodeArgs } from '../start-command.js';

const running = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

const TSX = ['--import', 'tsx'];

/** A compiled script (dist/server) in a child process with `npm start`'s node flags; stdout piped, stderr inherited. */
export function spawnCompiled(file: string, env: NodeJS.ProcessEnv): ChildProcess {
  return track(spawn(process.execPath, [...startNodeArgs().flags, file], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
}

/** `npm run build:server`: compiles src, db and scripts into dist/server (incremental, ~2 s when current). */
export function buildServer(): void {
  execFileSync(process.execPath, [fromPackageRoot('node_modules', 'typescript', 'bin', 'tsc'), '-p', fromPackageRoot('tsconfig.build.json')], { stdio: 'inherit' });
}

/** A TypeScript script with an IPC channel. */
export function forkScript(file: string): ChildProcess {
  return track(fork(file, [], { execArgv: TSX, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
}

/** SIGTERM, then SIGKILL if it has not gone within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
}

/** Synchronous last resort for process 'exit'. */
export function killAllChildrenNow(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Resident set size of `pid` in MB (Linux), or undefined where /proc is not available. */
export function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

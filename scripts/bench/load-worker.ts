/**
 * The load generator, in its own process so it does not share an event loop with the server or
 * the bench: forked with IPC, it runs autocannon jobs one at a time and answers each with the
 * latency of every response (the bench computes percentiles itself, as for the DB layer).
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  path: string;
  headers?: Record<string, string>;
}

export interface LoadJob {
  id: number;
  url: string;
  connections: number;
  durationSec: number;
  /** Sent in turn, one per request, from a random starting point. */
  requests: LoadRequest[];
}

export interface LoadResult {
  id: number;
  latenciesMs: number[];
  elapsedMs: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** A few distinct non-2xx statuses, for the log. */
  statuses: Record<string, number>;
  error?: string;
}

function run(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve) => {
    const latenciesMs: number[] = [];
    const statuses: Record<string, number> = {};
    const started = performance.now();
    // In turn, not at random: every run of a target then sends the same mix (the skewed data's
    // few large tenants are a fixed share of each run, not a coin toss that moves req/s by ±15%).
    let turn = Math.floor(Math.random() * job.requests.length);
    const pick = () => job.requests[turn++ % job.requests.length]!;
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.durationSec,
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => {
              const next = pick();
              return { ...req, path: next.path, headers: { ...next.headers } };
            },
          },
        ],
      },
      (error, result) => {
        const elapsedMs = performance.now() - started;
        if (error) return resolve({ id: job.id, latenciesMs, elapsedMs, non2xx: 0, errors: 0, statuses, error: String(error) });
        resolve({ id: job.id, latenciesMs, elapsedMs, non2xx: result.non2xx, errors: result.errors + result.timeouts, statuses });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latenciesMs.push(responseTime);
      if (statusCode < 200 || statusCode > 299) statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
}

process.on('message', (job: LoadJob) => {
  void run(job).then((result) => process.send?.(result));
});
process.on('disconnect', () => process.exit(0));

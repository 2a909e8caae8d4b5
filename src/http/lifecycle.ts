/**
 * Shutting down without resetting anyone's connection.
 *
 * A client on a keep-alive connection may send its next request at any moment; if the server
 * closes that connection as the request arrives, the client sees a reset and cannot know whether
 * the request ran (a POST cannot be retried blindly). So on SIGTERM (index.ts):
 *
 *   1. `lifecycle.draining` turns true: /readyz answers 503 SHUTTING_DOWN, and every response from
 *      then on, including those of requests already in flight, carries `Connection: close`, so
 *      Node closes each connection right after its response and the client opens a new one for
 *      its next request (which the closed listener refuses: nothing was sent, safe to retry
 *      elsewhere).
 *   2. `drainServer`: the listener closes at once; connections that stay idle are closed after
 *      `idleGraceMs` (a client busy on its connection has sent its next request by then, and is
 *      answered with `Connection: close`); requests in flight finish; whatever is still open
 *      after `timeoutMs` is cut.
 */
import type { Server } from 'node:http';
import net from 'node:net';
import type { MiddlewareHandler } from 'hono';

/** The server's state as the app sees it; index.ts flips `draining` on SIGTERM/SIGINT. */
export interface Lifecycle {
  draining: boolean;
}

/** Every response given while draining asks the client to close the connection after it. */
export function closeConnectionsWhenDraining(lifecycle: Lifecycle): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (lifecycle.draining) c.header('Connection', 'close');
  };
}

export interface DrainOptions {
  /** How long a connection with no request in progress is left open before it is closed. */
  idleGraceMs: number;
  /** When to cut every connection still open, requests in flight or not. */
  timeoutMs: number;
}

/**
 * Stops `server` accepting connections and resolves once every connection has closed: idle ones
 * after `idleGraceMs`, busy ones after their response (sent with `Connection: close` by the
 * middleware above), all of them at `timeoutMs`.
 */
export function drainServer(server: Server, { idleGraceMs, timeoutMs }: DrainOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let sweeper: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      server.closeIdleConnections();
      // A connection turns idle when its last response has gone out without `Connection: close`
      // (one accepted just before the listener closed, still to send its request): sweep again.
      sweeper = setInterval(() => server.closeIdleConnections(), 100);
    }, idleGraceMs);
    const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs);
    // net.Server's close, not http.Server's: since Node 19 the latter also closes idle keep-alive
    // connections at once, racing the requests their clients are sending on them right now.
    net.Server.prototype.close.call(server, () => {
      clearTimeout(grace);
      clearInterval(sweeper);
      clearTimeout(deadline);
      resolve();
    });
  });
}

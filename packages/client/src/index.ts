/**
 * @palisade/client: a typed tRPC client for a Palisade server, for a frontend or script outside
 * this repository. `createPalisadeClient({ url, token })` calls `<url>/trpc` with the token as a
 * Bearer credential; `reasonOf(error)` reads the machine-readable reason of a failed call.
 *
 * One request per call (`httpLink`), as the dashboard (src/web/api.ts): the server answers a
 * single GET of a query on its direct path (src/trpc/trpc-route.ts), which a batched request skips.
 */
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter, Reason } from './server-types.js';

export type { AppRouter, Reason };
/** Every procedure's input, by path: `RouterInputs['query']`, `RouterInputs['orders']['list']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's output as the client receives it (JSON: dates as ISO strings), by path. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type PalisadeClient = TRPCClient<AppRouter>;

export interface PalisadeClientOptions {
  /** The server's base URL, such as `https://palisade.example.com`; the client calls `<url>/trpc`. */
  url: string;
  /** A tenant API key, a session token or a platform-admin key: sent as `Authorization: Bearer <token>`. */
  token: string;
  /** The fetch to use instead of the global one (a test double, a proxy, retries). */
  fetch?: typeof globalThis.fetch;
  /** More headers for every request. An `authorization` header here is ignored: `token` is the credential. */
  headers?: Record<string, string>;
}

export function createPalisadeClient(options: PalisadeClientOptions): PalisadeClient {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (name.toLowerCase() !== 'authorization') headers[name] = value;
  }
  headers.authorization = `Bearer ${options.token}`;
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${options.url.replace(/\/+$/, '')}/trpc`,
        headers,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    ],
  });
}

/**
 * The server's reason for a failed call (`KEY_REVOKED`, `UNKNOWN_DATASET`, …), or undefined when
 * the error is not the server's answer (a network failure, a bug in the caller). The server puts
 * it in the tRPC error's `data.reason` (its error formatter, src/trpc/init.ts). A server newer
 * than this package may send a reason the `Reason` union does not list yet: keep a default branch.
 */
export function reasonOf(error: unknown): Reason | undefined {
  // By its name rather than `instanceof`: the error may come from another copy of @trpc/client
  // (the application's own, at another version), whose TRPCClientError is another class.
  if (!(error instanceof Error) || error.name !== 'TRPCClientError') return undefined;
  const data: unknown = (error as { data?: unknown }).data;
  const reason = typeof data === 'object' && data !== null ? (data as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' ? (reason as Reason) : undefined;
}

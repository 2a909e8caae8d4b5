/**
 * The credential forms BI tools can send, as the Bearer header the access layer reads:
 * - HTTP Basic with the key as the password (any user name): what Power BI, Excel and Tableau
 *   offer for an OData feed, and the only one that survives Power BI's scheduled refresh;
 * - `Authorization: Bearer <key>`, as everywhere else;
 * - an `api_key` query parameter, for Power BI's "Web API" credential. Keys in URLs reach proxy
 *   and browser logs; the server itself never logs query strings (see redactedUrl).
 */
import type { RequestHeaders } from '../access/request.js';
import { AppError } from '../lib/errors.js';

export const KEY_PARAMETER = 'api_key';

function fromBasic(encoded: string): string {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon === -1 ? '' : decoded.slice(colon + 1);
  if (password === '') throw new AppError('KEY_MALFORMED', 'Basic authentication: put the API key in the password (any user name).');
  return password;
}

/** `headers` with `authorization` rewritten to `Bearer <key>` from whichever form the request used. */
export function odataCredential(headers: RequestHeaders, url: URL): RequestHeaders {
  const authorization = headers.get('authorization');
  let bearer: string | null = authorization;
  const basic = authorization === null ? null : /^Basic +(\S+) *$/i.exec(authorization);
  if (basic) bearer = `Bearer ${fromBasic(basic[1]!)}`;
  else if (authorization === null) {
    const key = url.searchParams.get(KEY_PARAMETER);
    if (key !== null && key !== '') bearer = `Bearer ${key}`;
  }
  if (bearer === null) {
    throw new AppError('KEY_MISSING', `Send an API key: HTTP Basic with the key as the password (any user name), "Authorization: Bearer <key>", or the ${KEY_PARAMETER} query parameter.`);
  }
  return { get: (name) => (name.toLowerCase() === 'authorization' ? bearer : headers.get(name)) };
}

/** The URL as it may be logged: the key parameter's value replaced. */
export function redactedUrl(url: URL): string {
  if (!url.searchParams.has(KEY_PARAMETER)) return `${url.pathname}${url.search}`;
  const copy = new URL(url);
  copy.searchParams.set(KEY_PARAMETER, 'REDACTED');
  return `${copy.pathname}${copy.search}`;
}

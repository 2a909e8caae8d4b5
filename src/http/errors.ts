import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, HTTP_STATUS } from '../lib/errors.js';

/**
 * The REST error envelope: `{ error: { code, reason, message, requestId } }`, with `Retry-After`
 * when the error says when to try again (the database's 503s).
 */
export function renderError(c: Context, error: AppError, requestId: string) {
  if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
  return c.json(
    { error: { code: error.code, reason: error.reason, message: error.message, requestId } },
    HTTP_STATUS[error.code] as ContentfulStatusCode,
  );
}

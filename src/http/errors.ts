import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, HTTP_STATUS } from '../lib/errors.js';

/** The REST error envelope: `{ error: { code, reason, message, requestId } }`. */
export function renderError(c: Context, error: AppError, requestId: string) {
  return c.json(
    { error: { code: error.code, reason: error.reason, message: error.message, requestId } },
    HTTP_STATUS[error.code] as ContentfulStatusCode,
  );
}

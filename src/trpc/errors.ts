import { TRPCError } from '@trpc/server';
import type { AppError } from '../lib/errors.js';

export function toTRPCError(error: AppError): TRPCError {
  const code = error.code === 'SERVICE_UNAVAILABLE' ? 'INTERNAL_SERVER_ERROR' : error.code;
  return new TRPCError({ code, message: error.message, cause: error });
}
